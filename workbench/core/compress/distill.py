"""The distillation job: a smaller student run trained from a finished run (the teacher)."""
from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from workbench.core.compress.common import (
    CompressEvent,
    CompressResult,
    Parent,
    check_method_supported,
    load_parent,
    publish_run,
    staging_folder,
)
from workbench.core.compress.student import DEFAULT_STUDENT
from workbench.core.errors import Cancelled, WorkbenchError
from workbench.core.settings import Settings, setting

__all__ = ["DistillConfig", "distill_job", "gather_soft_data", "save_student"]

log = logging.getLogger(__name__)


@dataclass
class DistillConfig(Settings):
    """How to distil a run into a smaller student (the config of :func:`distill_job`)."""

    SETTINGS_NAME: ClassVar[str] = "distillation"

    run: str | int = setting("latest", "The teacher: a run number, or the newest run that saved a model.")
    student: str = setting(
        DEFAULT_STUDENT,
        "The student's shape: layers=half|N|0,2,4; hidden=H; ffn=F (separated by ';'). "
        "Built from the teacher's own weights, nothing is downloaded.",
        label="Student",
    )
    temperature: float = setting(2.0, "Softening of the teacher's probabilities.", min=0.5, max=20.0)
    soft_weight: float = setting(
        0.7, "Weight of the teacher's soft targets (the rest goes to the hard labels).", min=0.0, max=1.0,
        label="Soft-target weight",
    )
    use_unlabelled: bool = setting(True, "Also learn from the teacher's predictions on the project's unlabelled records.",
                                   label="Use unlabelled records")
    max_unlabelled: int = setting(20000, "Use at most this many unlabelled records.", min=0, max=10_000_000)
    epochs: int = setting(4, "Passes over the training texts.", min=1, max=100)
    learning_rate: float = setting(1e-4, "Peak learning rate.", min=1e-7, max=1.0, decimals=6)
    batch_size: int = setting(32, "Texts per step.", min=1, max=1024)
    max_steps: int = setting(0, "Stop after this many steps (0: no limit).", min=0, max=10_000_000, advanced=True)
    seed: int = setting(42, "Random seed.", min=0, max=2**31 - 1, advanced=True)
    threads: int = setting(0, "CPU threads (0: one per spare core).", min=0, max=256, advanced=True)


def gather_soft_data(project_path: Any, parent: Parent, *, use_unlabelled: bool, max_unlabelled: int) -> Any:
    """The teacher run's splits as :class:`SoftData`, plus unlabelled texts for training."""
    from workbench.core.compress.soft_training import SoftData
    from workbench.core.deploy.project_data import unlabelled_records
    from workbench.core.store.project import Project
    from workbench.core.training.data import prepare_data
    from workbench.core.training.runs import get_run

    with Project.open(project_path) as project:
        cfg = get_run(project, parent.run_id).get("config") or {}
        data = prepare_data(
            project, validation_fraction=float(cfg.get("validation_fraction", 0.15)),
            test_fraction=float(cfg.get("test_fraction", 0.15)), seed=int(cfg.get("seed", 42)),
        )
        unlabelled = unlabelled_records(project)[:max_unlabelled] if use_unlabelled else []
    index = {name: i for i, name in enumerate(parent.labels)}

    def targets(examples: list[Any]) -> tuple[list[str], list[tuple[int, ...]], list[int]]:
        kept = [ex for ex in examples if ex.labels and all(n in index for n in ex.labels)]
        return ([ex.text for ex in kept], [tuple(index[n] for n in ex.labels) for ex in kept],
                [ex.record_id for ex in kept])

    train_texts, train_targets, _ = targets(data.train)
    val_texts, val_targets, _ = targets(data.validation or data.train)
    test_texts, test_targets, test_ids = targets(data.test or data.validation)
    all_train: list[Any] = list(train_targets)
    train_texts = train_texts + [t for _r, t in unlabelled]
    all_train += [None] * len(unlabelled)
    return SoftData(parent.labels, parent.multi_label, train_texts, all_train, val_texts, val_targets,
                    test_texts, test_targets, test_ids, int(parent.info.get("max_length") or 128)), data.snapshot_hash


def save_student(folder: Path, model: Any, tokenizer: Any, parent: Parent, data: Any,
                 thresholds: list[float] | None) -> None:
    """Write a student (or pruned) model folder like a training run's."""
    model.config.problem_type = "multi_label_classification" if data.multi_label else "single_label_classification"
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.model_max_length = data.max_length
    tokenizer.save_pretrained(folder)
    info = {"run_id": None, "labels": list(data.labels), "multi_label": data.multi_label,
            "thresholds": thresholds if data.multi_label else None, "max_length": data.max_length,
            "base_model": parent.info.get("base_model")}
    (folder / "workbench_run.json").write_text(json.dumps(info, indent=2), encoding="utf-8")


def prediction_rows_for(data: Any, outcome: Any) -> list[tuple[int, dict[str, float], str, float]]:
    from workbench.core.training.finish import prediction_rows

    class _Ex:
        def __init__(self, rid: int) -> None:
            self.record_id = rid

    return prediction_rows([_Ex(r) for r in data.test_ids], outcome.probs, data.labels, data.multi_label,
                           outcome.thresholds)


def distill_job(project_path: str | Path, config: DistillConfig, *, progress: Callable | None = None,
                should_stop: Callable[[], bool] | None = None) -> CompressResult:
    """Distil run ``config.run`` into a student; the student becomes a new run.

    Nothing is written until the student is trained and measured: a cancel raises
    :class:`Cancelled` and leaves no run and no run folder.
    """
    import torch

    from workbench.core.compress.soft_training import SoftSettings, train_on_soft_targets
    from workbench.core.compress.student import build_student, describe_student, parse_student_spec
    from workbench.core.deploy import convert
    from workbench.core.training.device import default_threads

    config.validate()
    emit = progress or (lambda _e: None)
    t0 = time.perf_counter()
    emit(CompressEvent("prepare", 0, 0, "Loading the teacher"))
    parent = load_parent(project_path, config.run)
    if parent.info.get("task") == "spans":
        from workbench.core.compress.span_distill import distill_spans

        return distill_spans(project_path, config, parent, progress=emit, should_stop=should_stop)
    teacher, tokenizer = convert.load_classifier(parent.model_dir)
    check_method_supported(teacher)
    plan = parse_student_spec(config.student, teacher.config)
    data, snapshot = gather_soft_data(project_path, parent, use_unlabelled=config.use_unlabelled,
                                      max_unlabelled=config.max_unlabelled)
    if not any(t is not None for t in data.train_targets):
        raise WorkbenchError("The teacher's training split has no labelled records left to distil from.")
    student = build_student(teacher, plan)
    emit(CompressEvent("prepare", 0, 0, f"Student: {describe_student(plan)}; "
                       f"{sum(t is not None for t in data.train_targets)} labelled and "
                       f"{sum(t is None for t in data.train_targets)} unlabelled training texts"))
    old_threads = torch.get_num_threads()
    torch.set_num_threads(config.threads or default_threads())
    try:
        outcome = train_on_soft_targets(
            teacher, student, tokenizer, data,
            SoftSettings(temperature=config.temperature, soft_weight=config.soft_weight, epochs=config.epochs,
                         learning_rate=config.learning_rate, batch_size=config.batch_size,
                         max_steps=config.max_steps, seed=config.seed),
            thresholds=parent.info.get("thresholds"), progress=emit, should_stop=should_stop)
    finally:
        torch.set_num_threads(old_threads)
    if should_stop is not None and should_stop():
        raise Cancelled("Distillation cancelled; nothing was written.")
    emit(CompressEvent("save", 0, 0, "Saving the student run"))
    details = {"student": config.student, "plan": plan, "temperature": config.temperature,
               "soft_weight": config.soft_weight,
               "labelled_texts": sum(t is not None for t in data.train_targets),
               "unlabelled_texts": sum(t is None for t in data.train_targets),
               "teacher_params": sum(p.numel() for p in teacher.parameters()),
               "student_params": sum(p.numel() for p in student.parameters()),
               "agreement_with_teacher": outcome.agreement, "teacher_macro_f1": outcome.teacher_f1,
               "seconds": round(time.perf_counter() - t0, 1)}
    metrics = {**outcome.metrics, "split": "test", "compression": details}
    staging = staging_folder(parent.models_dir)
    try:
        save_student(staging, student, tokenizer, parent, data, outcome.thresholds)
        run_config = {**config.to_dict(), "base_model": parent.row["base_model"], "compression": details}
        run_id, folder = publish_run(parent, staging, method="distill", base_model=parent.row["base_model"] or "",
                                     config=run_config, metrics=metrics,
                                     predictions=prediction_rows_for(data, outcome), snapshot_hash=snapshot)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    emit(CompressEvent("done", 1, 1, f"Run {run_id}: student of run {parent.run_id}, test macro-F1 "
                       f"{metrics.get('macro_f1', 0):.3f} (teacher {outcome.teacher_f1 or 0:.3f})"))
    return CompressResult(run_id, parent.run_id, "distill", folder, metrics, details)
