"""A training run with the ``auto``, ``linear`` or ``setfit`` method.

Called by the training loop once the run is recorded and the data prepared
(:func:`train_with_method`); returns ``None`` when the run is to be a fine-tuning run after
all (``auto`` on a large project), with the decision kept in ``job.method_info``.

Evaluation: below :data:`~.crossval.CV_MAX_RECORDS` labelled records the candidates are
compared, and the figures reported, by stratified k-fold cross-validation over every
labelled record, and the delivered model is trained on all of them; above it candidates
are trained on the stored training split, compared on validation and measured on test.
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from workbench.core.training.config import TrainEvent, TrainResult
from workbench.core.training.methods import choose, crossval
from workbench.core.training.methods.candidates import Workspace, work_seconds
from workbench.core.training.methods.modules import save_custom

#: A SetFit step's cost per text against a frozen forward pass of all layers, as
#: :func:`_setfit_estimate_s` assumes it: deliberately optimistic (measured 1.5x on generated
#: topics and 1.8x on generated reviews, 48 records, one thread). The estimate only decides
#: whether SetFit gets its first fold; further folds are decided on the measured fold time.
#: An honest 1.7 would leave no margin: a busy machine stretches the embedding pass it
#: scales (threads spinning while they wait count as processor time); with the test suite
#: running beside it even 0.5 put SetFit over the one-minute budget on reviews at 16
#: labels per class, where it was the best candidate (test macro-F1 0.85 against
#: TF-IDF's 0.76).
SETFIT_STEP_FACTOR = 0.5

__all__ = ["train_with_method", "method_sentence", "after_finetune"]


def method_sentence(info: dict[str, Any]) -> str:
    """One plain sentence: which method was used, why, and how it was measured."""
    name = choose.CANDIDATE_NAMES.get(info.get("chosen", ""), info.get("chosen", ""))
    scores = info.get("scores") or {}
    how = info.get("evaluation", "")
    if info.get("requested") == "auto" and len(scores) > 1:
        others = ", ".join(f"{choose.CANDIDATE_NAMES[k].split(' (')[0]} {v:.3f}" for k, v in scores.items()
                           if k != info.get("chosen"))
        tie = (f" - as good as {choose.CANDIDATE_NAMES[info['tied_with']].split(' (')[0]} on macro-F1 on the same "
               f"folds, not clearly better, but with clearly surer probabilities (lower log-loss)"
               if info.get("tied_with") else "")
        floor = (" It was not clearly better than TF-IDF + logistic regression on its folds, only not behind "
                 "it, and cleared that floor because the frozen encoder embeddings, which it tunes, beat "
                 "TF-IDF clearly." if info.get("floor_with") else "")
        if info.get("preferred_over"):
            rival = choose.CANDIDATE_NAMES[info["preferred_over"]].split(" (")[0]
            return (f"Automatic choice: {name}, preferred over {rival}, which scored higher on the same folds "
                    f"of {how} but not by enough to overrule it, as cross-validation understates SetFit "
                    f"({scores.get(info.get('chosen'), 0):.3f}; {others}); "
                    f"{info.get('reason', '')}.{floor}")
        return (f"Automatic choice: {name}, best macro-F1 on {how} "
                f"({scores.get(info.get('chosen'), 0):.3f}; {others}){tie}; {info.get('reason', '')}.{floor}")
    return f"Method: {name} ({info.get('reason', '')}); measured by {how}."


def _targets(examples: list[Any], labels: list[str], multi: bool) -> np.ndarray:
    index = {n: i for i, n in enumerate(labels)}
    if multi:
        y = np.zeros((len(examples), len(labels)), dtype=int)
        for i, ex in enumerate(examples):
            for n in ex.labels:
                y[i, index[n]] = 1
        return y
    return np.array([index[ex.labels[0]] for ex in examples], dtype=int)


class _Emitter:
    def __init__(self, job: Any) -> None:
        self.job = job

    def __call__(self, phase: str, done: int = 0, total: int = 0, message: str = "", **kw: Any) -> None:
        self.job.emit(TrainEvent(phase, done, total, message=message, **kw))


def train_with_method(job: Any, t0: float) -> TrainResult | None:
    """Run ``job.config.method`` (auto, linear, setfit); ``None`` means fine-tune."""
    from workbench.core.training.models import load_tokenizer

    cfg, data = job.config, job.data
    method = getattr(cfg, "method", "finetune")
    if method in ("finetune", "lora"):  # the training loop (lora: adapters, methods/lora.py)
        return None
    tokenizer = load_tokenizer(job.info.path)
    # Augmented rows (negative ids, training only) serve fine-tuning alone: these methods
    # cross-validate over records, and an augmented copy must never be scored.
    train = [ex for ex in data.train if ex.record_id > 0]
    everything = train + data.validation + data.test
    max_length = min(cfg.max_length, job.info.max_positions)
    lengths = [len(x) for x in tokenizer([ex.text for ex in everything], truncation=True,
                                         max_length=max_length)["input_ids"]]
    profile = choose.profile_data([ex.labels for ex in everything], lengths, max_length,
                                  data.multi_label, job.device.type)
    plan = choose.plan_methods(profile, method)
    job.method_info = {"requested": method, "profile": profile.to_dict(), "reason": plan.reason}
    if plan.finetune:
        from workbench.core.training.methods.lora import peft_available, prefer_lora

        big = prefer_lora(job.info.size_class)  # base/large models: LoRA (see lora.prefer_lora)
        if big and not peft_available():
            big = False
            job.method_info["reason"] = plan.reason + "; full fine-tuning because peft (LoRA) is not installed"
        if big:
            job.method_info["reason"] = plan.reason + f"; LoRA for a {job.info.size_class}-sized model"
        job.method_info.update(chosen="lora" if big else "finetune", evaluation="the validation split")
        job.compare_with = plan.candidates  # after_finetune: the linear rivals on validation
        return None
    emit = _Emitter(job)
    small = len(everything) < crossval.CV_MAX_RECORDS
    examples = everything if small else train + data.validation
    y = _targets(examples, data.labels, data.multi_label)
    ws = Workspace([ex.text for ex in examples], y, multi_label=data.multi_label, n_labels=len(data.labels),
                   tokenizer=tokenizer, base_path=job.info.path, max_length=max_length, seed=cfg.seed,
                   balanced=cfg.class_weighting == "balanced", should_stop=job.should_stop, emit=emit)
    job.max_length = max_length
    if small:
        folds = crossval.make_folds(y, data.multi_label, cfg.seed)
        evaluation = f"{len(folds)}-fold cross-validation over {len(examples)} labelled records"
    else:
        n_train = len(train)
        folds = [(np.arange(n_train), np.arange(n_train, len(examples)))]
        evaluation = f"the validation split ({len(examples) - n_train} records)"
    choice_folds = folds
    if not small and len(examples) <= crossval.CHOICE_CV_MAX_RECORDS and len(plan.candidates) > 1:
        # One validation split of a few dozen records per label picks the wrong candidate
        # too often; the linear candidates are cheap enough to compare on k folds of the
        # training and validation records (the test split stays out; the delivered model
        # and the reported figures keep the stored split).
        choice_folds = crossval.make_folds(y, data.multi_label, cfg.seed)
        evaluation = (f"{len(choice_folds)}-fold cross-validation over the {len(examples)} training and "
                      f"validation records")
    job.effective = {"method": method, "max_length": max_length, "evaluation": "cv" if small else "split",
                     "candidates": plan.candidates}
    comparison = _compare(ws, plan.candidates, choice_folds, emit, job, work_seconds())
    cancelled = comparison["cancelled"]
    winner = comparison["winner"]
    if comparison["skipped"]:
        job.method_info["skipped"] = comparison["skipped"]
    for key in ("tied_with", "preferred_over", "floor_with"):
        if comparison[key]:
            job.method_info[key] = comparison[key]
    job.method_info.update(chosen=winner, evaluation=evaluation, scores=comparison["scores"],
                           spread=comparison["spread"], candidates=comparison["table"])
    return _deliver(job, ws, winner, folds, small, comparison, cancelled, t0, examples)


def _compare(ws: Workspace, candidates: list[str], folds: list[Any], emit: Any, job: Any,
             w0: float) -> dict[str, Any]:
    """Score every candidate on the same folds (SetFit within the budget, in ``work_seconds``)."""
    per_fold: dict[str, list[float]] = {}
    per_loss: dict[str, list[float]] = {}
    oof: dict[str, np.ndarray] = {}
    seconds: dict[str, float] = {}
    cancelled = False
    skipped: dict[str, str] = {}
    budget = choose.time_budget_s(len(ws.texts))
    for name in candidates:
        if cancelled:
            break
        if name == "setfit" and len(candidates) > 1:
            estimate = _setfit_estimate_s(ws, folds)
            if estimate is not None and work_seconds() - w0 + estimate > budget:
                skipped[name] = (f"SetFit skipped: about {estimate:.0f} s for one fold and the final model "
                                 f"would exceed the {budget:.0f} s budget on this machine "
                                 f"(its processor time, whatever else is running)")
                emit("evaluate", message=skipped[name])
                continue
        per_fold[name], per_loss[name] = [], []
        shape = (len(ws.texts), ws.k)
        oof[name] = np.full(shape, np.nan, dtype=np.float32)
        t, w = time.perf_counter(), work_seconds()
        for f, (tr, held) in enumerate(folds):
            if name != "tfidf" and job.should_stop():
                cancelled = True
                break
            if name == "setfit" and f > 0:
                # One more fold, and still the delivered model (more pairs) within the budget.
                per_fold_s = (work_seconds() - w) / f
                final_s = per_fold_s * _delivered_steps_per_fold_step(ws, len(tr))
                if work_seconds() - w0 + per_fold_s + final_s > budget:
                    break  # compared on the folds done so far
            emit("evaluate", f, len(folds), f"Trying {choose.CANDIDATE_NAMES[name]}: fold {f + 1} of {len(folds)}")
            try:
                _model, probs = ws.fit_predict(name, tr, held)
            except Exception as exc:
                from workbench.core.errors import Cancelled

                if isinstance(exc, Cancelled):
                    cancelled = True
                    break
                raise
            oof[name][held] = probs
            per_fold[name].append(crossval.fold_macro_f1(ws.y[held], probs, ws.multi))
            per_loss[name].append(crossval.fold_log_loss(ws.y[held], probs, ws.multi))
        seconds[name] = time.perf_counter() - t
        if not per_fold[name]:
            del per_fold[name], per_loss[name]
    n_common = min(len(v) for v in per_fold.values())
    scores = {k: float(np.mean(v)) for k, v in per_fold.items()}
    winner = _winner(per_fold, len(folds), per_loss)
    m = len(per_fold[winner])
    tied = [k for k in choose.COST_ORDER[:choose.COST_ORDER.index(winner)] if k in per_fold
            and _surer(per_fold, per_loss, winner, k, m)
            and not choose.clearly_better(per_fold[winner], per_fold[k][:m])]
    preferred = (winner == "setfit" and "embeddings" in per_fold and not tied
                 and np.mean(per_fold["embeddings"][:m]) > np.mean(per_fold["setfit"]) + 1e-3)
    spread = {k: crossval.summary(v)["std"] for k, v in per_fold.items()}
    table = [{"candidate": k, "method": choose.CANDIDATE_METHOD[k], "macro_f1": round(scores[k], 4),
              "spread": round(spread[k], 4), "folds": len(per_fold[k]), "fold_f1": [round(v, 4) for v in per_fold[k]],
              "fold_log_loss": [round(v, 4) for v in per_loss[k]],
              "seconds": round(seconds.get(k, 0.0), 2)}
             for k in per_fold]
    for row in table:
        emit("evaluate", message=f"{choose.CANDIDATE_NAMES[row['candidate']]}: macro-F1 {row['macro_f1']:.3f} "
                                 f"± {row['spread']:.3f} ({row['folds']} fold(s), {row['seconds']:.1f} s)")
    return {"scores": scores, "spread": spread, "table": table, "oof": oof, "per_fold": per_fold,
            "cancelled": cancelled, "n_common": n_common, "skipped": skipped, "winner": winner,
            "tied_with": tied[0] if tied else None, "preferred_over": "embeddings" if preferred else None,
            "floor_with": "embeddings" if winner == "setfit" and _floor_with_embeddings(per_fold, per_loss) else None}


def _surer(per_fold: dict[str, list[float]], loss: dict[str, list[float]], name: str, rival: str, m: int) -> bool:
    """:func:`choose.surer_on_tie` of ``name`` against ``rival`` on their first ``m`` folds."""
    return (name in loss and rival in loss
            and choose.surer_on_tie(per_fold[name][:m], per_fold[rival][:m], loss[name][:m], loss[rival][:m]))


def _floor_with_embeddings(per_fold: dict[str, list[float]], per_loss: dict[str, list[float]]) -> bool:
    """Whether SetFit cleared the TF-IDF floor only with the embeddings (for the sentence)."""
    if "tfidf" not in per_fold or "setfit" not in per_fold:
        return False
    m = len(per_fold["setfit"])
    return (not choose.clearly_better(per_fold["setfit"], per_fold["tfidf"][:m])
            and not _surer(per_fold, per_loss, "setfit", "tfidf", m) and _with_embeddings(per_fold, "setfit"))


def _with_embeddings(per_fold: dict[str, list[float]], name: str) -> bool:
    """Whether ``name`` is SetFit clearing the floor: :func:`choose.setfit_clears_floor_with_embeddings`."""
    return (name == "setfit" and "embeddings" in per_fold and "tfidf" in per_fold
            and choose.setfit_clears_floor_with_embeddings(per_fold["setfit"], per_fold["embeddings"],
                                                           per_fold["tfidf"]))


def _winner(per_fold: dict[str, list[float]], n_folds: int,
            per_fold_loss: dict[str, list[float]] | None = None) -> str:
    """The best candidate over all folds, by ``choose``'s rules: a candidate on fewer folds
    (SetFit within the budget) must beat that winner and TF-IDF on its own folds; an
    encoder-based one must clear the TF-IDF floor (:func:`choose.clearly_better`, surer on a
    tie, or SetFit with the embeddings); SetFit wins over the embeddings unless overruled."""
    loss = per_fold_loss or {}

    def surer(name: str, rival: str, m: int) -> bool:
        return _surer(per_fold, loss, name, rival, m)

    if "tfidf" in per_fold and len(per_fold) > 1:
        floor = per_fold["tfidf"]
        per_fold = {k: v for k, v in per_fold.items()
                    if k == "tfidf" or choose.clearly_better(v, floor[:len(v)]) or surer(k, "tfidf", len(v))
                    or _with_embeddings(per_fold, k)}
    full = {k: float(np.mean(v)) for k, v in per_fold.items() if len(v) == n_folds}
    if not full:
        m = min(len(v) for v in per_fold.values())
        return choose.pick_winner({k: float(np.mean(v[:m])) for k, v in per_fold.items()})
    winner = choose.pick_winner(full)
    for name in choose.COST_ORDER:
        if name in full and name != winner and surer(name, winner, n_folds):
            winner = name

    def beats(name: str, rival: str, m: int) -> bool:
        if name == "setfit" and rival == "embeddings":
            return choose.setfit_over_embeddings(per_fold[name], per_fold[rival])
        return bool(np.mean(per_fold[name][:m]) > np.mean(per_fold[rival][:m]) + 1e-3) or surer(name, rival, m)

    if winner == "embeddings" and "setfit" in full and beats("setfit", "embeddings", n_folds):
        winner = "setfit"
    for name, scores in per_fold.items():
        if name in full:
            continue
        m = len(scores)
        rivals = {winner, "tfidf"} & set(per_fold)
        if all(beats(name, r, m) for r in rivals):
            winner = name
    return winner


def _setfit_estimate_s(ws: Workspace, folds: list[Any]) -> float | None:
    """Seconds SetFit would need for one fold plus the delivered model (an optimistic
    figure), from the frozen encoder's measured speed: a fold's step of 32 texts costs
    :data:`SETFIT_STEP_FACTOR` forward passes per text, the delivered model
    :func:`_delivered_steps_per_fold_step` fold steps per step."""
    from workbench.core.training.methods.setfit_method import plan_pairs

    seconds = ws.seconds.get("embeddings")
    if not seconds or not ws.texts or not folds:
        return None
    per_text = seconds / len(ws.texts)
    fold_steps = plan_pairs(len(folds[0][0]), ws.mean_tokens) / 16
    steps = fold_steps * (1.0 + _delivered_steps_per_fold_step(ws, len(folds[0][0])))
    return float(steps * 32 * per_text * SETFIT_STEP_FACTOR)


def _delivered_steps_per_fold_step(ws: Workspace, fold_records: int) -> float:
    """The delivered SetFit model's cost in units of a fold's (cached) steps: its pairs
    against a fold's, times the cost of a step through every layer where it trains them."""
    from workbench.core.training.methods import setfit_method as sm

    n = len(ws.texts)
    cost = sm.EVERY_LAYER_STEP_COST if sm.every_layer(n, True) else 1.0
    return cost * sm.plan_pairs(n, ws.mean_tokens, delivered=True) / sm.plan_pairs(fold_records, ws.mean_tokens)


def _deliver(job: Any, ws: Workspace, winner: str, folds: list[Any], small: bool, comparison: dict[str, Any],
             cancelled: bool, t0: float, examples: list[Any]) -> TrainResult:
    from workbench.core.errors import Cancelled
    from workbench.core.training.evaluate import compute_metrics, probs_to_predictions
    from workbench.core.training.finish import brief, prediction_rows

    data, emit = job.data, _Emitter(job)
    multi = data.multi_label
    thresholds = [0.5] * len(data.labels) if multi else None
    everyone = np.arange(len(examples))
    train_idx = everyone if small else folds[0][0]
    val_idx = None if small else folds[0][1]
    emit("train", message=f"Training the delivered model: {choose.CANDIDATE_NAMES[winner]} on "
                          f"{len(train_idx)} records")
    t = time.perf_counter()
    try:
        model, extra = ws.final_model(winner, train_idx, val_idx)
    except Cancelled:  # stopped while embedding: keep the cheapest model
        winner, cancelled = "tfidf", True
        model, extra = ws.final_model("tfidf", train_idx)
        job.method_info["chosen"] = "tfidf"
    cancelled = cancelled or bool(extra.get("stopped"))
    train_s = time.perf_counter() - t
    job.timings.update(train_s=train_s + sum(r["seconds"] for r in comparison["table"]),
                       final_fit_s=train_s, samples=ws.samples)
    if small:
        oof = comparison["oof"][winner]
        done = ~np.isnan(oof).any(axis=1)
        eval_y, eval_p = ws.y[done], oof[done]
        rows_of = [ex for ex, d in zip(examples, done, strict=True) if d]
        fold_scores = comparison["per_fold"][winner]
        stats = crossval.summary(fold_scores)
        split_name = "cross-validation"
    else:
        test = data.test or data.validation
        eval_y = _targets(test, data.labels, multi)
        eval_p = _probs_on(ws, winner, model, [ex.text for ex in test])
        rows_of, stats, split_name = test, None, "test" if data.test else "validation"
    pred = probs_to_predictions(eval_p, multi_label=multi, thresholds=thresholds)
    metrics = compute_metrics(eval_y, pred, data.labels, multi_label=multi)
    if stats is not None:
        metrics["macro_f1_folds"] = [round(s, 4) for s in comparison["per_fold"][winner]]
        metrics["macro_f1"] = stats["mean"]
        metrics["macro_f1_std"] = stats["std"]
    metrics["split"] = split_name
    metrics["validation"] = {"macro_f1": comparison["scores"][winner]}
    metrics["thresholds"] = thresholds
    job.method_info["sentence"] = method_sentence(job.method_info)
    metrics["method"] = {k: v for k, v in job.method_info.items() if k != "profile"} | {"profile": job.method_info["profile"]}
    metrics.update({k: v for k, v in extra.items() if k != "stopped"})
    eval_p = _calibrate(job, ws, winner, model, val_idx, eval_p, eval_y, metrics)
    status = "cancelled" if cancelled else "completed"
    final = _save(job, model, ws.tokenizer, winner)
    rows = prediction_rows(rows_of, eval_p, data.labels, multi, thresholds)
    _close(job, status, metrics, final, rows, t0)
    emit("done", message=f"Run {job.run_id} {status}: {job.method_info['sentence']} Macro-F1 "
                         f"{metrics['macro_f1']:.3f}" + (f" ± {metrics['macro_f1_std']:.3f}" if small else ""),
         val_metrics=brief(metrics))
    return TrainResult(job.run_id, status, metrics, final)


def _calibrate(job: Any, ws: Workspace, name: str, model: Any, val_idx: Any, eval_p: np.ndarray,
               eval_y: np.ndarray, metrics: dict[str, Any]) -> np.ndarray:
    """Temperature scaling (calibration.py): fitted on the validation split's predictions of
    the delivered model, or on the out-of-fold predictions of a cross-validated run."""
    from workbench.core.training.calibration import calibrate_delivered

    if val_idx is None:
        return calibrate_delivered(job, eval_p, eval_y, eval_p, eval_y, metrics,
                                   "the out-of-fold predictions of cross-validation")
    val_p = _probs_on(ws, name, model, [ws.texts[i] for i in val_idx])
    return calibrate_delivered(job, val_p, ws.y[val_idx], eval_p, eval_y, metrics, "validation")


def _probs_on(ws: Workspace, name: str, model: Any, texts: list[str]) -> np.ndarray:
    from workbench.core.training.evaluate import predict_proba

    return predict_proba(model, ws.tokenizer, texts, max_length=ws.max_length, multi_label=ws.multi)


def _save(job: Any, model: Any, tokenizer: Any, winner: str) -> Path:
    models_dir: Path = job.models_dir
    models_dir.mkdir(parents=True, exist_ok=True)
    final = models_dir / f"run-{job.run_id}"
    job.tmp_dir = models_dir / f".run-{job.run_id}.partial"
    shutil.rmtree(job.tmp_dir, ignore_errors=True)
    save_custom(model, job.tmp_dir, list(job.data.labels))
    tokenizer.model_max_length = job.max_length
    tokenizer.save_pretrained(job.tmp_dir)
    info = {
        "run_id": job.run_id, "labels": list(job.data.labels), "multi_label": job.data.multi_label,
        "thresholds": getattr(job, "calibrated_thresholds", None) or (
            [0.5] * len(job.data.labels) if job.data.multi_label else None),
        "max_length": job.max_length, "base_model": job.config.base_model,
        "temperature": getattr(job, "temperature", 1.0),
        "method": choose.CANDIDATE_METHOD.get(winner, winner), "candidate": winner,
        "method_summary": job.method_info.get("sentence", ""),
    }
    (job.tmp_dir / "workbench_run.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    if final.exists():
        shutil.rmtree(final)
    job.tmp_dir.rename(final)
    job.tmp_dir = None
    return final


def _close(job: Any, status: str, metrics: dict[str, Any], final: Path, rows: list[Any], t0: float) -> None:
    from workbench.core.store.project import Project
    from workbench.core.training.runs import finish_run, store_predictions

    job.timings["total_s"] = time.perf_counter() - t0
    config = {**job.config.to_dict(), "effective": job.effective}
    with Project.open(job.path) as project:
        store_predictions(project, job.run_id, rows)
        rel = final.relative_to(project.path.parent) if final.is_relative_to(project.path.parent) else final
        finish_run(project, job.run_id, status=status, metrics=metrics, model_path=str(rel),
                   timings=job.timings, config=config)


def after_finetune(job: Any, result: TrainResult) -> TrainResult:
    """``auto`` chose fine-tuning: compare the fine-tuned model on the validation split with
    the linear candidates of the plan (TF-IDF and embeddings + logistic regression, trained
    on the same training split) and deliver the best, ties going to the cheaper method
    (``auto`` is never worse on validation than TF-IDF). Other runs are returned unchanged."""
    from workbench.core.training.evaluate import compute_metrics, probs_to_predictions
    from workbench.core.training.finish import prediction_rows
    from workbench.core.training.models import load_tokenizer

    info = getattr(job, "method_info", None)
    data = job.data
    if (not info or info.get("requested") != "auto" or result.status != "completed"
            or result.model_path is None or not data.validation):
        return result
    train = [ex for ex in data.train if ex.record_id > 0]  # no augmented rows (see above)
    examples = train + data.validation
    y = _targets(examples, data.labels, data.multi_label)
    ws = Workspace([ex.text for ex in examples], y, multi_label=data.multi_label, n_labels=len(data.labels),
                   tokenizer=load_tokenizer(job.info.path), base_path=job.info.path, max_length=job.max_length,
                   seed=job.config.seed, balanced=job.config.class_weighting == "balanced",
                   should_stop=lambda: False, emit=_Emitter(job))
    tr, va = np.arange(len(train)), np.arange(len(train), len(examples))
    tuned = info.get("chosen") or "finetune"  # finetune or lora
    scores = {tuned: float((result.metrics.get("validation") or {}).get("macro_f1", 0.0))}
    val_probs: dict[str, np.ndarray] = {}
    for name in getattr(job, "compare_with", None) or ["tfidf"]:
        ws.emit("evaluate", message=f"Comparing with {choose.CANDIDATE_NAMES[name]} on validation")
        _model, val_probs[name] = ws.fit_predict(name, tr, va)
        scores[name] = crossval.fold_macro_f1(ws.y[va], val_probs[name], data.multi_label)
    winner = choose.pick_winner(scores)
    info.update(scores=scores, chosen=winner)
    info["sentence"] = method_sentence(info)
    metrics = dict(result.metrics)
    metrics["method"] = dict(info)
    if winner == tuned:
        from workbench.core.store.project import Project
        from workbench.core.training.runs import finish_run, get_run

        with Project.open(job.path) as project:
            row = get_run(project, job.run_id)
            finish_run(project, job.run_id, status=result.status, metrics=metrics, model_path=row["model_path"],
                       timings=row["timings"], config=row["config"])
        return TrainResult(result.run_id, result.status, metrics, result.model_path)
    # The linear model is delivered trained on the training and validation records (it has
    # no epochs to stop early); its temperature comes from its validation predictions above.
    model, _extra = ws.final_model(winner, np.arange(len(examples)))
    test = data.test or data.validation
    probs = _probs_on(ws, winner, model, [ex.text for ex in test])
    thresholds = [0.5] * len(data.labels) if data.multi_label else None
    pred = probs_to_predictions(probs, multi_label=data.multi_label, thresholds=thresholds)
    test_y = _targets(test, data.labels, data.multi_label)
    new = compute_metrics(test_y, pred, data.labels, multi_label=data.multi_label)
    new.update(split="test" if data.test else "validation", validation={"macro_f1": scores[winner]},
               thresholds=thresholds, method=metrics["method"])
    from workbench.core.training.calibration import calibrate_delivered

    probs = calibrate_delivered(job, val_probs[winner], ws.y[va], probs, test_y, new, "validation")
    final = _save(job, model, ws.tokenizer, winner)
    _close(job, result.status, new, final, prediction_rows(test, probs, data.labels, data.multi_label, thresholds),
           time.perf_counter() - float(job.timings.get("total_s", 0.0)))
    return TrainResult(result.run_id, result.status, new, final)
