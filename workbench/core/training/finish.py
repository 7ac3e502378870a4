"""The end of a training run: final evaluation, the model folder and the run record."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from workbench.core.training.config import TrainEvent, TrainResult

__all__ = ["finish_run_output", "save_model", "brief", "prediction_rows"]


def finish_run_output(job: Any, model: Any, tokenizer: Any, best_state: Any, status: str, t0: float,
                      extra: dict[str, Any]) -> TrainResult:
    """Evaluate the best weights on the test split, save the model folder and close the run."""
    from workbench.core.store.project import Project
    from workbench.core.training.calibration import calibrate_job
    from workbench.core.training.runs import finish_run, store_predictions

    data = job.data
    config = {**job.config.to_dict(), "effective": job.effective}
    if best_state is None:
        job.timings["total_s"] = time.perf_counter() - t0
        with Project.open(job.path) as project:
            finish_run(project, job.run_id, status=status, metrics={**extra, "note": "no model saved: stopped before the first evaluation"},
                       timings=job.timings, config=config)
        job.emit(TrainEvent("done", message=f"Run {job.run_id} {status} before a model could be saved."))
        return TrainResult(job.run_id, status, {}, None)
    from workbench.core.training.methods import lora

    lora.restore_state(model, best_state)  # LoRA: adapters and head only
    job.thresholds = getattr(job, "best_thresholds", job.thresholds)
    t = time.perf_counter()
    job.emit(TrainEvent("evaluate", message="Evaluating the best model on the test split"))
    val_metrics, _p, _t = job.evaluate(model, tokenizer, data.validation, tune=False)
    test = data.test or data.validation
    metrics, probs, _t = job.evaluate(model, tokenizer, test, tune=False)
    metrics.update(extra)
    metrics["method"] = getattr(job, "method_info", None) or {
        "requested": job.config.method, "chosen": "lora" if job.config.method == "lora" else "finetune"}
    if lora.is_wrapped(model):  # the Train tab's and the model card's sentence
        metrics["method"].setdefault("sentence", lora.summary(job))
    metrics["split"] = "test" if data.test else "validation"
    metrics["validation"] = brief(val_metrics)
    metrics["thresholds"] = job.thresholds
    metrics["long_records"] = getattr(job, "long_records", None)  # windows or cut (long_records.py)
    probs = calibrate_job(job, _p, test, probs, metrics)  # temperature scaling (calibration.py)
    job.timings["final_eval_s"] = time.perf_counter() - t

    job.emit(TrainEvent("save", message="Saving the model"))
    t = time.perf_counter()
    final = save_model(job, model, tokenizer)
    job.timings["save_s"] = time.perf_counter() - t
    job.timings["total_s"] = time.perf_counter() - t0
    rows = prediction_rows(test, probs, data.labels, data.multi_label, job.thresholds)
    with Project.open(job.path) as project:
        store_predictions(project, job.run_id, rows)
        rel = final.relative_to(project.path.parent) if final.is_relative_to(project.path.parent) else final
        finish_run(project, job.run_id, status=status, metrics=metrics, model_path=str(rel),
                   timings=job.timings, config=config)
    job.emit(TrainEvent(
        "done", val_metrics=brief(metrics),
        message=f"Run {job.run_id} {status}: test accuracy {metrics.get('accuracy', 0):.3f}, "
                f"macro-F1 {metrics.get('macro_f1', 0):.3f}",
    ))
    return TrainResult(job.run_id, status, metrics, final)

def save_model(job: Any, model: Any, tokenizer: Any) -> Path:
    """Write the model folder atomically (a ``.partial`` folder renamed at the end)."""
    models_dir: Path = job.models_dir
    models_dir.mkdir(parents=True, exist_ok=True)
    final = models_dir / f"run-{job.run_id}"
    job.tmp_dir = models_dir / f".run-{job.run_id}.partial"
    shutil.rmtree(job.tmp_dir, ignore_errors=True)
    model.config.problem_type = (
        "multi_label_classification" if job.data.multi_label else "single_label_classification"
    )
    from workbench.core.training.methods import lora, lora_folder

    if lora.is_wrapped(model):  # LoRA: adapters and head only, merged when loaded
        lora_folder.save_adapter_folder(model, job.tmp_dir, base_model=job.config.base_model,
                                        base_path=job.info.path, settings=job.lora_info["settings"])
    else:
        model.save_pretrained(job.tmp_dir, safe_serialization=True)
    tokenizer.model_max_length = job.max_length
    tokenizer.save_pretrained(job.tmp_dir)
    info = {
        "run_id": job.run_id,
        "labels": list(job.data.labels),
        "multi_label": job.data.multi_label,
        "thresholds": job.thresholds,
        "max_length": job.max_length,
        "base_model": job.config.base_model,
        "temperature": getattr(job, "temperature", 1.0),
        "windows": getattr(job, "windows", None),  # long records (long_records.py)
    }
    if lora.is_wrapped(model):
        info.update(method="lora", method_summary=lora.summary(job))
    (job.tmp_dir / "workbench_run.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    if final.exists():  # left over from a project file that was replaced
        shutil.rmtree(final)
    job.tmp_dir.rename(final)
    job.tmp_dir = None
    return final


def brief(metrics: dict[str, Any]) -> dict[str, Any]:
    """The headline figures of a metrics dict (for progress events and the run record)."""
    keys = ("n", "accuracy", "macro_f1", "micro_f1", "weighted_f1", "subset_accuracy")
    return {k: metrics[k] for k in keys if k in metrics}


def prediction_rows(examples: list[Any], probs: Any, labels: list[str], multi: bool,
                     thresholds: list[float] | None) -> list[tuple[int, dict[str, float], str, float]]:
    rows = []
    for ex, p in zip(examples, probs, strict=True):
        dist = {name: round(float(v), 6) for name, v in zip(labels, p, strict=True)}
        if multi:
            chosen = [n for n, v, t in zip(labels, p, thresholds or [0.5] * len(labels), strict=True) if v >= t]
            rows.append((ex.record_id, dist, "|".join(chosen), float(max(p))))
        else:
            j = int(p.argmax())
            rows.append((ex.record_id, dist, labels[j], float(p[j])))
    return rows
