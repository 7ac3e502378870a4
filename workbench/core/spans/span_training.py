"""Training a token-classification (entity) model on a span project.

The same run machinery as classification (a run row, heartbeat, the model folder written
atomically, the job protocol with progress and cancel) and the same automatic settings:
learning rate by model size, max length from the 99th percentile of the record lengths
(as the window size), lower layers frozen on a CPU, device choice.
Where it differs: automatic epochs aim at about :data:`TARGET_WINDOWS` training windows in
all (3 to 10 epochs) instead of 300 optimizer steps, because every token of a window is a
training signal (a step teaches far more than one classification step, and costs far more
on a CPU); a record longer than the max length is not cut but split into
overlapping windows (a quarter of the window shared), so nothing past the limit is lost;
``balanced`` weighting raises the loss weight of rare entity types (up to 5x the most
frequent type; ``O`` keeps weight 1); the best model is the one with the best validation
entity micro-F1 (strict, seqeval), and early stopping watches that figure.

Methods (:mod:`.span_methods`): ``finetune`` trains every weight; ``lora`` trains peft
adapters and the full token-classification head with the classification LoRA helpers
(:mod:`workbench.core.training.methods.lora`), keeps and saves only those tensors
(:mod:`~workbench.core.training.methods.lora_folder`) and is merged into a plain token
classifier when loaded for evaluation or export; ``auto`` fine-tunes, with LoRA for base-
and large-sized models. Runs are tracked like classification runs
(:class:`~workbench.core.training.tracking.RunTracker`: the stored curves, TensorBoard and
MLflow when turned on).
"""
from __future__ import annotations

import json
import logging
import shutil
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.core.errors import Cancelled
from workbench.core.jobs import never_stop, no_progress
from workbench.core.spans.span_data import SpanData, prepare_span_data
from workbench.core.spans.span_methods import (
    check_span_method,
    choose_span_method,
    span_method_sentence,
)
from workbench.core.spans.span_metrics import entity_metrics, span_errors
from workbench.core.spans.token_align import non_overlapping, tag_names, window_targets
from workbench.core.store.project import Project
from workbench.core.training.config import TrainConfig, TrainEvent, TrainResult

__all__ = ["DEFAULT_ALIGNMENT", "is_span_project", "load_token_classifier", "train_spans"]

log = logging.getLogger(__name__)

#: Sub-token alignment used by default. Measured with benchmarks/ner.py (synthetic
#: clinical notes, MiniLM, same split and settings): labelling only the first sub-token of
#: each word gave 57.1 test entity F1 against 54.5 with every sub-token labelled, and
#: trained faster (fewer tokens in the loss; /work/notes/issue13_bench.txt).
DEFAULT_ALIGNMENT = "first"
HEARTBEAT_S = 60.0
#: Training windows the automatic epoch count aims for (see the module docstring).
TARGET_WINDOWS = 1500


def span_auto_epochs(n_windows: int) -> int:
    """Epochs for about :data:`TARGET_WINDOWS` windows in all, at least 3 and at most 10."""
    return max(3, min(10, -(-TARGET_WINDOWS // max(1, n_windows))))


def is_span_project(project_path: str | Path) -> bool:
    with Project.open(project_path) as project:
        return project.is_spans


def load_token_classifier(info: Any, tags: list[str]) -> Any:
    """A token-classification model with a fresh head for ``tags``."""
    from transformers import AutoModelForTokenClassification
    from transformers.utils import logging as hf_logging

    from workbench.core.errors import ModelError

    verbosity = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        return AutoModelForTokenClassification.from_pretrained(
            str(info.path), num_labels=len(tags), id2label=dict(enumerate(tags)),
            label2id={t: i for i, t in enumerate(tags)}, trust_remote_code=False,
            ignore_mismatched_sizes=True, use_safetensors=info.safetensors,
        )
    except Exception as exc:
        raise ModelError(f"The model in {info.path} cannot be loaded: {exc}") from None
    finally:
        hf_logging.set_verbosity(verbosity)


def train_spans(project_path: str | Path, config: TrainConfig | None = None,
                progress: Callable[[TrainEvent], None] | None = None,
                should_stop: Callable[[], bool] | None = None, *,
                alignment: str | None = None) -> TrainResult:
    """Train an entity model on the span project's labelled records; returns the run's
    result (status "cancelled" keeps the best model so far when there was one)."""
    from workbench.core.training.tracking import RunTracker

    config = config or TrainConfig()
    config.validate()
    check_span_method(config.method)  # one line before anything is written
    tracker = RunTracker(progress or no_progress, config)
    job = _SpanJob(Path(project_path), config, tracker,
                   should_stop or never_stop, alignment or DEFAULT_ALIGNMENT)
    return tracker.finish(job, job.run())


class _SpanJob:
    def __init__(self, path: Path, config: TrainConfig, progress: Any, should_stop: Any,
                 alignment: str) -> None:
        self.path, self.config = path, config
        self.progress, self.should_stop = progress, should_stop
        self.alignment = alignment
        self.timings: dict[str, float] = {}
        self.run_id = 0
        self.tmp_dir: Path | None = None
        self.last_beat = time.monotonic()

    def emit(self, event: TrainEvent) -> None:
        now = time.monotonic()
        if self.run_id and now - self.last_beat > HEARTBEAT_S:
            self.last_beat = now
            from workbench.core.training.runs import touch_run

            try:
                with Project.open(self.path) as project:
                    touch_run(project, self.run_id)
            except Exception:
                log.warning("could not renew the heartbeat of run %s", self.run_id)
        try:
            self.progress(event)
        except Exception:
            log.exception("progress callback failed")

    def run(self) -> TrainResult:
        import torch

        from workbench.core.training.device import default_threads, pick_device
        from workbench.core.training.models import validate_base_model
        from workbench.core.training.runs import create_run

        t0 = time.perf_counter()
        self.emit(TrainEvent("prepare", message="Reading the labelled spans"))
        with Project.open(self.path) as project:
            self.data: SpanData = prepare_span_data(project, self.config)
            self.models_dir = project.models_dir
        self.emit(TrainEvent("prepare", message="Checking the base model"))
        self.info = validate_base_model(self.config.base_model)
        self.method_info = choose_span_method(self.config.method, self.info.size_class)
        self.device = pick_device(self.config.device)
        old_threads = torch.get_num_threads()
        if self.device.type == "cpu":
            torch.set_num_threads(self.config.threads or default_threads())
        try:
            with Project.open(self.path) as project:
                if self.data.changed_splits:
                    project.set_splits(self.data.changed_splits)
                self.run_id = create_run(project, base_model=self.config.base_model,
                                         config=self.config.to_dict(),
                                         snapshot_hash=self.data.snapshot_hash,
                                         device=str(self.device))
            for warning in self.data.warnings:
                self.emit(TrainEvent("prepare", message=f"Note: {warning}"))
            self.timings["prepare_s"] = time.perf_counter() - t0
            return self.train(t0)
        except BaseException as exc:
            self.fail(exc)
            raise
        finally:
            torch.set_num_threads(old_threads)

    def fail(self, exc: BaseException) -> None:
        if self.tmp_dir is not None:
            shutil.rmtree(self.tmp_dir, ignore_errors=True)
        if not self.run_id:
            return
        from workbench.core.training.runs import finish_run

        try:
            with Project.open(self.path) as project:
                finish_run(project, self.run_id, status="failed", timings=self.timings,
                           error=f"{type(exc).__name__}: {exc}")
        except Exception:
            log.exception("could not record the failure of run %s", self.run_id)

    # ------------------------------------------------------------------ data
    def encode(self, tokenizer: Any) -> None:
        from workbench.core.deploy.span_runtime import encode_windows, window_stride
        from workbench.core.training.batching import choose_max_length

        backend = tokenizer.backend_tokenizer
        texts = [r.text for r in self.data.train]
        saved_truncation, saved_padding = backend.truncation, backend.padding
        backend.no_truncation()
        backend.no_padding()
        try:
            lengths = [len(e.ids) for e in backend.encode_batch(texts)]
        finally:
            if saved_truncation:
                backend.enable_truncation(**saved_truncation)
            if saved_padding:
                backend.enable_padding(**saved_padding)
        self.max_length = choose_max_length(lengths, self.config.max_length,
                                            self.info.max_positions)
        self.stride = window_stride(self.max_length)
        self.tags = tag_names(self.data.types)
        self.tag_index = {t: i for i, t in enumerate(self.tags)}
        self.windows = encode_windows(backend, texts, self.max_length, self.stride)
        spans = [non_overlapping([s for s in r.spans if s.label in self.data.types])
                 for r in self.data.train]
        self.targets = [window_targets(w, spans[w.text_index], self.tag_index, self.alignment)
                        for w in self.windows]

    def loss_fn(self) -> Any:
        import torch

        weight = None
        if self.config.class_weighting == "balanced":
            per_type: Counter[str] = Counter()
            for tgt in self.targets:
                for t in tgt:
                    if t > 0:
                        per_type[self.tags[t][2:]] += 1
            top = max(per_type.values(), default=1)
            weight = torch.ones(len(self.tags))
            for i, tag in enumerate(self.tags[1:], start=1):
                weight[i] = min(5.0, max(1.0, (top / max(1, per_type[tag[2:]])) ** 0.5))
            weight = weight.to(self.device)
        return torch.nn.CrossEntropyLoss(weight=weight, ignore_index=-100)

    def evaluate(self, model: Any, tokenizer: Any, records: list[Any]
                 ) -> tuple[dict[str, Any], list[Any]]:
        from workbench.core.spans.span_predict import torch_spans

        texts = [r.text for r in records]
        pred = torch_spans(model, tokenizer, texts, self.tags, max_length=self.max_length,
                           stride=self.stride, alignment=self.alignment, device=self.device,
                           batch_size=max(32, self.config.batch_size * 2),
                           autocast_dtype=self.amp_dtype)
        gold = [[s for s in r.spans if s.label in self.data.types] for r in records]
        metrics = entity_metrics(texts, gold, [[s for s, _ in p] for p, _u in pred],
                                 self.data.types)
        return metrics, pred

    # ------------------------------------------------------------------ training
    def train(self, t0: float) -> TrainResult:
        import torch

        from workbench.core.training.batching import auto_learning_rate, length_grouped_batches
        from workbench.core.training.device import autocast_dtype
        from workbench.core.training.freezing import auto_freeze_layers, freeze_lower_layers
        from workbench.core.training.methods import lora
        from workbench.core.training.models import load_tokenizer

        cfg, data = self.config, self.data
        self.emit(TrainEvent("prepare", message="Loading the base model"))
        tokenizer = load_tokenizer(self.info.path)
        t = time.perf_counter()
        self.encode(tokenizer)
        self.timings["tokenize_s"] = time.perf_counter() - t
        torch.manual_seed(cfg.seed)
        model = load_token_classifier(self.info, self.tags).to(self.device)
        use_lora = lora.wanted(self)  # adapters + the full head instead of every weight
        if use_lora:
            model, frozen = lora.prepare(self, model)
        else:
            frozen = freeze_lower_layers(model, auto_freeze_layers(
                cfg.freeze_layers, self.info.num_layers, self.device.type))
        self.amp_dtype = autocast_dtype(self.device)
        loss_fn = self.loss_fn()
        lengths = [len(w.ids) for w in self.windows]
        lr = cfg.learning_rate or (lora.auto_learning_rate if use_lora else auto_learning_rate)(
            self.info.size_class)
        epochs = cfg.epochs or span_auto_epochs(len(self.windows))
        per_epoch = len(length_grouped_batches(lengths, cfg.batch_size, cfg.seed))
        total = per_epoch * epochs
        if cfg.max_steps:
            total = min(total, cfg.max_steps)
        warmup = int(total * cfg.warmup_ratio)
        trainable = [p for p in model.parameters() if p.requires_grad]
        decay = [p for n, p in model.named_parameters()
                 if p.requires_grad and p.ndim >= 2 and "norm" not in n.lower()]
        no_decay = [p for p in trainable if all(p is not q for q in decay)]
        groups = [{"params": decay, "weight_decay": cfg.weight_decay},
                  {"params": no_decay, "weight_decay": 0.0}]
        try:
            optimizer = torch.optim.AdamW(groups, lr=lr, fused=True)
        except (RuntimeError, TypeError, ValueError):
            optimizer = torch.optim.AdamW(groups, lr=lr)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: (s + 1) / max(1, warmup) if s < warmup
            else max(0.0, (total - s) / max(1, total - warmup)))
        val = data.validation or data.train
        self.effective = {"learning_rate": lr, "epochs": epochs, "max_length": self.max_length,
                          "stride": self.stride, "windows": len(self.windows),
                          "alignment": self.alignment, "total_steps": total,
                          "threads": torch.get_num_threads(), "freeze_layers": frozen,
                          "method": self.method_info["chosen"]}
        if use_lora:
            self.effective["lora"] = self.lora_info
        self.emit(TrainEvent(
            "train", 0, total, epoch=0.0, learning_rate=lr,
            message=f"Training on {len(data.train)} records ({len(self.windows)} windows of "
                    f"up to {self.max_length} tokens; {len(val)} validation) for up to "
                    f"{epochs} epoch(s), {total} steps, learning rate {lr:g}, on {self.device}"))
        pad = tokenizer.pad_token_id or 0
        best_f1, best_state, best_epoch, bad = -1.0, None, 0, 0
        history: list[dict[str, Any]] = []
        step = samples = 0
        train_s = eval_s = 0.0
        cancelled = False
        model.train()
        for epoch in range(epochs):
            t_epoch = time.perf_counter()
            batches = length_grouped_batches(lengths, cfg.batch_size, cfg.seed + epoch)
            for n_in_epoch, idx in enumerate(batches):
                if self.should_stop():
                    cancelled = True
                    break
                width = max(lengths[i] for i in idx)
                ids = torch.full((len(idx), width), pad, dtype=torch.long)
                mask = torch.zeros((len(idx), width), dtype=torch.long)
                y = torch.full((len(idx), width), -100, dtype=torch.long)
                for row, i in enumerate(idx):
                    n = lengths[i]
                    ids[row, :n] = torch.as_tensor(self.windows[i].ids)
                    mask[row, :n] = 1
                    y[row, :n] = torch.as_tensor(self.targets[i])
                with torch.autocast(self.device.type, dtype=self.amp_dtype,
                                    enabled=self.amp_dtype is not None):
                    logits = model(input_ids=ids.to(self.device),
                                   attention_mask=mask.to(self.device)).logits
                loss = loss_fn(logits.float().reshape(-1, len(self.tags)),
                               y.to(self.device).reshape(-1))
                loss.backward()
                torch.nn.utils.clip_grad_norm_(trainable, 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                samples += len(idx)
                elapsed = train_s + time.perf_counter() - t_epoch
                self.emit(TrainEvent(
                    "train", step, total, epoch=epoch + (n_in_epoch + 1) / max(1, len(batches)),
                    loss=float(loss.detach()), learning_rate=scheduler.get_last_lr()[0],
                    samples_per_s=samples / elapsed if elapsed > 0 else None,
                    eta_s=elapsed / step * (total - step)))
                if step >= total:
                    break
            train_s += time.perf_counter() - t_epoch
            if cancelled:
                break
            t_eval = time.perf_counter()
            self.emit(TrainEvent("evaluate", step, total, epoch=epoch + 1.0,
                                 message="Evaluating on validation"))
            metrics, _pred = self.evaluate(model, tokenizer, val)
            f1 = metrics["entity_f1"]
            history.append({"epoch": epoch + 1, "step": step, "entity_f1": f1,
                            "macro_f1": metrics["entity_macro_f1"]})
            if f1 > best_f1 + 1e-6:
                best_f1, best_epoch, bad = f1, epoch + 1, 0
                best_state = lora.snapshot_state(model)  # adapters + head for LoRA
            else:
                bad += 1
            patience = cfg.early_stopping_patience
            stop = bool(patience and (bad >= patience or best_f1 >= 1.0 - 1e-9))
            self.emit(TrainEvent(
                "evaluate", step, total, epoch=epoch + 1.0,
                val_metrics={"n": metrics["n"], "micro_f1": f1,
                             "macro_f1": metrics["entity_macro_f1"]},
                message=f"Epoch {epoch + 1}: validation entity F1 {f1:.3f} (best "
                        f"{best_f1:.3f})" + (", stopping early" if stop else "")))
            eval_s += time.perf_counter() - t_eval
            model.train()
            if stop or step >= total:
                break
        self.timings.update(train_s=train_s, eval_s=eval_s,
                            samples_per_s=samples / train_s if train_s > 0 else 0.0)
        status = "cancelled" if cancelled else "completed"
        extra = {"best_epoch": best_epoch, "history": history, "steps": step,
                 "samples": samples}
        return self.finish(model, tokenizer, best_state, status, t0, extra)

    def finish(self, model: Any, tokenizer: Any, best_state: Any, status: str, t0: float,
               extra: dict[str, Any]) -> TrainResult:
        from workbench.core.assist.span_suggestions import store_span_predictions
        from workbench.core.training.methods import lora
        from workbench.core.training.runs import finish_run

        config = {**self.config.to_dict(), "effective": self.effective, "task": "spans"}
        if best_state is None:
            self.timings["total_s"] = time.perf_counter() - t0
            with Project.open(self.path) as project:
                finish_run(project, self.run_id, status=status, timings=self.timings,
                           config=config, metrics={**extra, "note": "no model saved: "
                                                   "stopped before the first evaluation"})
            self.emit(TrainEvent("done", message=f"Run {self.run_id} {status} before a "
                                 "model could be saved."))
            return TrainResult(self.run_id, status, {}, None)
        lora.restore_state(model, best_state)
        t = time.perf_counter()
        self.emit(TrainEvent("evaluate", message="Evaluating the best model on the test split"))
        val_metrics, _ = self.evaluate(model, tokenizer, self.data.validation)
        test = self.data.test or self.data.validation
        metrics, pred = self.evaluate(model, tokenizer, test)
        gold = [[s for s in r.spans if s.label in self.data.types] for r in test]
        metrics["errors"] = span_errors([r.record_id for r in test], gold,
                                        [[s for s, _ in p] for p, _u in pred])
        metrics.update(extra)
        metrics["split"] = "test" if self.data.test else "validation"
        metrics["validation"] = {k: val_metrics[k] for k in
                                 ("n", "entity_f1", "entity_macro_f1", "micro_f1", "macro_f1")}
        metrics["alignment"] = self.alignment
        metrics["method"] = {**self.method_info, "sentence": (
            lora.summary(self) if lora.is_wrapped(model) else span_method_sentence(self.method_info))}
        self.timings["final_eval_s"] = time.perf_counter() - t
        self.emit(TrainEvent("save", message="Saving the model"))
        final = self.save(model, tokenizer)
        self.timings["total_s"] = time.perf_counter() - t0
        with Project.open(self.path) as project:
            store_span_predictions(project, self.run_id, [
                (r.record_id, p, u) for r, (p, u) in zip(test, pred, strict=True)])
            rel = (final.relative_to(project.path.parent)
                   if final.is_relative_to(project.path.parent) else final)
            finish_run(project, self.run_id, status=status, metrics=metrics,
                       model_path=str(rel), timings=self.timings, config=config)
        self.emit(TrainEvent(
            "done", val_metrics={"n": metrics["n"], "micro_f1": metrics["entity_f1"],
                                 "macro_f1": metrics["entity_macro_f1"]},
            message=f"Run {self.run_id} {status}: test entity F1 {metrics['entity_f1']:.3f} "
                    f"(macro {metrics['entity_macro_f1']:.3f})"))
        return TrainResult(self.run_id, status, metrics, final)

    def save(self, model: Any, tokenizer: Any) -> Path:
        from workbench.core.training.methods import lora, lora_folder

        self.models_dir.mkdir(parents=True, exist_ok=True)
        final = self.models_dir / f"run-{self.run_id}"
        self.tmp_dir = self.models_dir / f".run-{self.run_id}.partial"
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
        if lora.is_wrapped(model):  # adapters and head only, merged when loaded
            lora_folder.save_adapter_folder(model, self.tmp_dir, base_model=self.config.base_model,
                                            base_path=self.info.path, settings=self.lora_info["settings"])
        else:
            model.save_pretrained(self.tmp_dir, safe_serialization=True)
        tokenizer.model_max_length = self.max_length
        tokenizer.save_pretrained(self.tmp_dir)
        info = {"run_id": self.run_id, "task": "spans", "labels": list(self.data.types),
                "tags": list(self.tags), "multi_label": False, "thresholds": None,
                "max_length": self.max_length, "stride": self.stride,
                "alignment": self.alignment, "base_model": self.config.base_model}
        if lora.is_wrapped(model):
            info.update(method="lora", method_summary=lora.summary(self))
        (self.tmp_dir / "workbench_run.json").write_text(json.dumps(info, indent=2),
                                                         encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)
        self.tmp_dir.rename(final)
        self.tmp_dir = None
        return final


def span_train_job(project_path: str | Path, config: TrainConfig, *,
                   progress: Callable[[TrainEvent], None] | None = None,
                   should_stop: Callable[[], bool] | None = None) -> TrainResult:
    """:func:`train_spans` as a job: a cancelled run raises :class:`Cancelled` carrying
    the run's result."""
    result = train_spans(project_path, config, progress, should_stop)
    if result.status == "cancelled":
        kept = "the best model so far was kept" if result.model_path else "no model was saved"
        raise Cancelled(f"Run #{result.run_id} cancelled; {kept}.", result=result)
    return result
