"""Auto-retrain: when to train again while the user labels, and the job that does it.

The rule (:class:`AutoRetrainPolicy`): in the default "auto" mode it is on once every
label has at least ``min_per_label`` (10) labelled records; it can also be switched on or
off for the project. When on, a new run starts after every ``every`` (50) records labelled
since the last training run started (manual runs count too), unless one is running.

:func:`retrain_and_refresh` is the background job: train with the settings of the last
run, export the model as int8 ONNX and refresh the stored predictions, reporting each
step as an :class:`~workbench.core.assist.suggestions.AssistEvent` whose ``message`` is meant for the
status bar.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.core.assist.project_predictions import predict_project
from workbench.core.assist.suggestions import AssistEvent
from workbench.core.errors import Cancelled, WorkbenchError
from workbench.core.store.project import Project

__all__ = [
    "MODES",
    "AutoRetrainPolicy",
    "RetrainState",
    "RetrainOutcome",
    "load_policy",
    "save_policy",
    "retrain_state",
    "retrain_and_refresh",
]

log = logging.getLogger(__name__)

MODES = ("auto", "on", "off")
META_MODE = "assist.auto_retrain"
META_EVERY = "assist.retrain_every"


@dataclass(frozen=True)
class RetrainState:
    """What the rule looks at: labelled counts per label and labels since the last run."""

    label_counts: dict[str, int] = field(default_factory=dict)
    new_labels: int = 0
    running: bool = False


@dataclass(frozen=True)
class AutoRetrainPolicy:
    """When a background retrain should start (see the module docstring)."""

    mode: str = "auto"
    every: int = 50
    min_per_label: int = 10

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise WorkbenchError(f"Auto-retrain mode must be one of {', '.join(MODES)}.")
        if self.every < 1:
            raise WorkbenchError("Auto-retrain needs a number of new labels of at least 1.")

    def enabled(self, state: RetrainState) -> bool:
        """Whether auto-retrain is on for this state (the mode, or "auto"'s label rule)."""
        if self.mode == "off":
            return False
        if self.mode == "on":
            return True
        counts = state.label_counts
        return bool(counts) and min(counts.values()) >= self.min_per_label

    def should_retrain(self, state: RetrainState) -> bool:
        """True when a new background run should start now."""
        return (
            not state.running
            and self.enabled(state)
            and len([n for n in state.label_counts.values() if n > 0]) >= 2
            and state.new_labels >= self.every
        )

    def labels_until_next(self, state: RetrainState) -> int | None:
        """New labels still needed before the next run (``None`` while auto-retrain is off)."""
        if not self.enabled(state):
            return None
        return max(0, self.every - state.new_labels)

    def describe(self, state: RetrainState) -> str:
        """One line for the status bar or a tooltip."""
        if state.running:
            return "Auto-retrain: a training run is in progress."
        if self.mode == "off":
            return "Auto-retrain is off."
        if not self.enabled(state):
            short = sorted(
                (name for name, n in state.label_counts.items() if n < self.min_per_label)
            )
            return (
                f"Auto-retrain starts once every label has {self.min_per_label} examples "
                f"(still short: {', '.join(short)})."
            )
        left = self.labels_until_next(state)
        if left == 0:
            return "Auto-retrain: ready to train on the new labels."
        return f"Auto-retrain after {left} more label{'s' if left != 1 else ''}."


def load_policy(project: Project) -> AutoRetrainPolicy:
    """The project's auto-retrain settings (defaults: mode "auto", every 50 labels)."""
    mode = project.get_meta(META_MODE, "auto") or "auto"
    try:
        every = int(project.get_meta(META_EVERY, "50") or 50)
    except ValueError:
        every = 50
    try:
        return AutoRetrainPolicy(mode=mode if mode in MODES else "auto", every=max(1, every))
    except WorkbenchError:
        return AutoRetrainPolicy()


def save_policy(project: Project, policy: AutoRetrainPolicy) -> None:
    """Store the auto-retrain mode and interval in the project."""
    project.set_meta(META_MODE, policy.mode)
    project.set_meta(META_EVERY, str(policy.every))


def retrain_state(project: Project, *, running: bool = False) -> RetrainState:
    """Counts for :meth:`AutoRetrainPolicy.should_retrain` from the project.

    New labels are records first labelled after the newest training run started (any
    status, so a failed run waits for another batch of labels instead of retrying at once).
    """
    counts = {name: 0 for name in project.label_names()}
    for name, n in project.db.execute(
        "SELECT l.name, count(DISTINCT a.record_id) FROM labels l "
        "JOIN annotation_labels al ON al.label_id = l.id "
        "JOIN annotations a ON a.id = al.annotation_id AND a.status = 'labelled' GROUP BY l.id"
    ):
        counts[name] = n
    row = project.db.execute(
        "SELECT created_at FROM runs WHERE kind = 'train' ORDER BY id DESC LIMIT 1"
    ).fetchone()
    if row is None:
        new = project.db.execute(
            "SELECT count(DISTINCT record_id) FROM annotations WHERE status = 'labelled'"
        ).fetchone()[0]
    else:
        new = project.db.execute(
            "SELECT count(DISTINCT a.record_id) FROM annotations a WHERE a.status = 'labelled' "
            "AND a.created_at > ? AND NOT EXISTS (SELECT 1 FROM annotations b WHERE "
            "b.record_id = a.record_id AND b.status = 'labelled' AND b.created_at <= ?)",
            [row[0], row[0]],
        ).fetchone()[0]
    return RetrainState(label_counts=counts, new_labels=int(new), running=running)


@dataclass
class RetrainOutcome:
    """What :func:`retrain_and_refresh` did."""

    run_id: int
    metrics: dict[str, Any]
    n_predicted: int
    message: str


def _last_config(project: Project) -> Any:
    from workbench.core.training import TrainConfig

    row = project.db.execute(
        "SELECT config FROM runs WHERE kind = 'train' AND model_path IS NOT NULL "
        "ORDER BY id DESC LIMIT 1"
    ).fetchone()
    if row is None or not row[0]:
        return TrainConfig()
    try:
        stored = json.loads(row[0])
    except ValueError:
        return TrainConfig()
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    try:
        return TrainConfig.from_dict({k: v for k, v in stored.items() if k in known})
    except WorkbenchError:
        return TrainConfig()


def retrain_and_refresh(
    project_path: str | Path,
    progress: Callable[[AssistEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    *,
    config: Any = None,
) -> RetrainOutcome:
    """Train a new run, export it as int8 ONNX and refresh the stored predictions.

    Uses ``config`` or the settings of the last training run. Raises :class:`Cancelled`
    when stopped and :class:`WorkbenchError` when training fails. Opens its own project
    connections (run it in a worker thread).
    """
    from workbench.core.training import train_job

    progress = progress or (lambda _e: None)
    should_stop = should_stop or (lambda: False)
    if config is None:
        with Project.open(project_path) as project:
            config = _last_config(project)

    def _train_event(event: Any) -> None:
        total = int(getattr(event, "total_steps", 0) or 0)
        step = int(getattr(event, "step", 0) or 0)
        if event.phase == "train" and total:
            text = f"Auto-retrain: training ({100 * step // total}%)…"
        else:
            text = f"Auto-retrain: {getattr(event, 'message', '') or event.phase}"
        progress(AssistEvent("train", step, total, text))

    progress(AssistEvent("train", 0, 0, "Auto-retrain: training a new model on the labels so far…"))
    try:
        result = train_job(project_path, config, progress=_train_event, should_stop=should_stop)
    except Cancelled as exc:
        raise Cancelled("Auto-retrain cancelled.", result=exc.result) from None
    if should_stop():
        raise Cancelled("Auto-retrain cancelled.", result=result)
    if result.status != "completed" or result.model_path is None:
        raise WorkbenchError(
            f"Auto-retrain: training run {result.run_id} failed"
            + (f": {result.error}" if getattr(result, "error", None) else ".")
        )
    report = predict_project(
        project_path, run=result.run_id, progress=progress, should_stop=should_stop
    )
    f1 = result.metrics.get("macro_f1")
    score = f" (macro-F1 {f1:.2f})" if isinstance(f1, (int, float)) else ""
    message = (
        f"Auto-retrain done: suggestions now come from run {result.run_id}{score}, "
        f"{report.n_predicted} records predicted."
    )
    progress(AssistEvent("done", report.n_predicted, report.n_predicted, message))
    log.info("%s", message)
    return RetrainOutcome(result.run_id, dict(result.metrics), report.n_predicted, message)
