"""Run tracking: every run's curves stored with the run, optional TensorBoard event files
and an MLflow-compatible run folder, and the learning curve of a project's run history.

:class:`RunTracker` sits between the trainer and the caller's progress callback: it keeps
the loss points (phase ``train``) and validation macro-F1 points (phase ``evaluate``) it
sees, and when the run has ended it adds to the run's ``metrics``:

* ``curve``: ``{"loss": [[step, loss], ...], "validation": [[step, macro_f1], ...]}``
  (at most :data:`MAX_POINTS` loss points, evenly thinned), so the Train tab can redraw an
  earlier run's curves;
* ``n_labelled`` / ``n_train``: the labelled records the run used (the learning curve's
  x axis);
* ``tracking``: where TensorBoard / MLflow output went, or why it was not written.

Both exports are off unless the run's settings turn them on (``TrainConfig.tensorboard``,
``TrainConfig.mlflow``); they are written beside the project
(``<project>.models/tensorboard/run-N/`` and ``<project>.models/mlruns/``).

* TensorBoard event files need the ``tensorboard`` package (``torch.utils.tensorboard``;
  the optional extra ``workbench[tracking]``); without it the run says so in one line
  (:data:`TENSORBOARD_MISSING`, as a note when the run starts and in ``tracking``) and
  goes on. Scalars: ``train/loss`` and ``validation/macro_f1`` by optimizer step, and the
  final figures under ``final/`` at step 0.
* The MLflow run folder is written in MLflow's documented file-store layout
  (``mlruns/<experiment>/<run>/meta.yaml, params/, metrics/, tags/, artifacts/``) with
  plain file writes, so no MLflow installation is needed; ``mlflow ui
  --backend-store-uri <project>.models/mlruns`` shows the runs.

A run's TensorBoard folder and MLflow run folder are replaced whole when written, so
what a replaced project file's run of the same number left there never mixes in.
"""
from __future__ import annotations

import json
import logging
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.core.store.project import Project
    from workbench.core.training.config import TrainConfig, TrainEvent, TrainResult

__all__ = [
    "MAX_POINTS", "TENSORBOARD_MISSING", "FINAL_KEYS", "RunTracker", "tensorboard_missing", "run_curve", "LearningPoint", "learning_curve",
    "store_run_extras", "write_mlflow_run", "write_tensorboard", "thin",
]

log = logging.getLogger(__name__)

#: Loss points kept per run (a long run is thinned evenly; the last point is kept).
MAX_POINTS = 500
#: The one line a run shows when TensorBoard output is asked for and cannot be written.
TENSORBOARD_MISSING = ("TensorBoard event files were not written: the tensorboard package is not installed "
                       '(pip install "workbench[tracking]" or pip install tensorboard).')
#: Final figures written as ``final/<key>`` (classification, then entity runs).
FINAL_KEYS = ("accuracy", "macro_f1", "micro_f1", "weighted_f1", "entity_f1", "entity_macro_f1")
#: MLflow's RunStatus numbers in ``meta.yaml``.
_MLFLOW_STATUS = {"completed": 3, "failed": 4, "cancelled": 5}


def thin(points: list[list[float]], limit: int = MAX_POINTS) -> list[list[float]]:
    """At most ``limit`` points, evenly spaced, first and last kept."""
    if len(points) <= limit:
        return points
    step = (len(points) - 1) / (limit - 1)
    return [points[round(i * step)] for i in range(limit)]


def tensorboard_missing() -> str | None:
    """:data:`TENSORBOARD_MISSING` when TensorBoard event files cannot be written here,
    else ``None`` (imports ``torch.utils.tensorboard``: about a second, once)."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        return TENSORBOARD_MISSING
    return None


class RunTracker:
    """Progress callback wrapper that records a run's curves (see the module docstring).
    Given the run's ``config``, the first event is preceded by a note when TensorBoard
    output is turned on and cannot be written."""

    def __init__(self, progress: Callable[[TrainEvent], None], config: TrainConfig | None = None) -> None:
        self.progress = progress
        self.config = config
        self.loss: list[list[float]] = []
        self.validation: list[list[float]] = []
        self.messages: list[str] = []
        self.started = False

    def __call__(self, event: TrainEvent) -> None:
        if not self.started:
            self.started = True
            self._note_missing(event)
        if event.phase == "train" and event.loss is not None:
            self.loss.append([float(event.done), float(event.loss)])
        elif event.phase == "evaluate" and event.val_metrics and event.val_metrics.get("macro_f1") is not None:
            self.validation.append([float(event.done), float(event.val_metrics["macro_f1"])])
        self.progress(event)

    def _note_missing(self, first: TrainEvent) -> None:
        if not getattr(self.config, "tensorboard", False):
            return
        missing = tensorboard_missing()
        if missing:
            self.messages.append(missing)
            self.progress(type(first)("prepare", message=f"Note: {missing}"))

    def curve(self) -> dict[str, list[list[float]]]:
        return {"loss": thin(self.loss), "validation": thin(self.validation)}

    def finish(self, job: Any, result: TrainResult) -> TrainResult:
        """Store the curve and counts with the run, write the exports the settings ask for.
        A problem here is logged and never fails the run."""
        dist = getattr(job, "dist", None)
        if not result.run_id or (dist is not None and not dist.is_main):
            return result
        try:
            self._finish(job, result)
        except Exception:  # tracking is a convenience
            log.exception("Run tracking failed for run %s", result.run_id)
        return result

    def _finish(self, job: Any, result: TrainResult) -> None:
        from workbench.core.store.project import Project
        from workbench.core.training.runs import get_run

        data = getattr(job, "data", None)
        extras: dict[str, Any] = {"curve": self.curve()}
        if data is not None:
            extras["n_train"] = len(data.train)
            extras["n_labelled"] = len(data.train) + len(data.validation) + len(data.test)
        config: TrainConfig = job.config
        tracking: dict[str, str] = {}
        with Project.open(job.path) as project:
            models = project.models_dir
            name = project.get_meta("name") or project.path.stem
            if getattr(config, "tensorboard", False):
                tracking["tensorboard"] = write_tensorboard(models / "tensorboard" / f"run-{result.run_id}",
                                                            extras["curve"], result.metrics or {})
            if getattr(config, "mlflow", False):
                run = {**get_run(project, result.run_id), "metrics": {**(result.metrics or {}), **extras}}
                tracking["mlflow"] = str(write_mlflow_run(models / "mlruns", name, run))
            if tracking:
                extras["tracking"] = tracking
            store_run_extras(project, result.run_id, extras)
        # The curve stays in the project only (not in the result, e.g. ``train --json``).
        result.metrics = {**(result.metrics or {}), **{k: v for k, v in extras.items() if k != "curve"}}
        for key, where in tracking.items():
            log.info("Run %s: %s -> %s", result.run_id, key, where)


def store_run_extras(project: Project, run_id: int, extras: dict[str, Any]) -> None:
    """Merge ``extras`` into a run's stored metrics (JSON merge patch, one transaction)."""
    with project.db.atomic():
        project.db.execute(
            "UPDATE runs SET metrics = json_patch(CASE WHEN json_valid(metrics) THEN metrics "
            "ELSE '{}' END, ?) WHERE id = ?",
            [json.dumps(extras), int(run_id)],
        )


def run_curve(run: dict[str, Any]) -> dict[str, list[list[float]]]:
    """The stored curve of a run row (``list_runs``/``get_run``); empty lists if none."""
    curve = (run.get("metrics") or {}).get("curve") or {}
    return {"loss": list(curve.get("loss") or []), "validation": list(curve.get("validation") or [])}


@dataclass(frozen=True)
class LearningPoint:
    """One finished run on the learning curve."""

    n_labelled: int
    macro_f1: float
    run_id: int
    method: str


def learning_curve(runs: list[dict[str, Any]]) -> list[LearningPoint]:
    """Macro-F1 against the number of labelled records, one point per finished run that
    recorded both (runs from before run tracking have no count), fewest labels first."""
    points = []
    for run in runs:
        metrics = run.get("metrics") or {}
        n, f1 = metrics.get("n_labelled"), metrics.get("macro_f1")
        if run.get("status") != "completed" or n is None or f1 is None:
            continue
        method = (metrics.get("method") or {}).get("chosen") or (run.get("config") or {}).get("method") or ""
        points.append(LearningPoint(int(n), float(f1), int(run["id"]), str(method)))
    return sorted(points, key=lambda p: (p.n_labelled, p.run_id))


# --------------------------------------------------------------------------- exports
def write_tensorboard(folder: Path, curve: dict[str, list[list[float]]], metrics: dict[str, Any]) -> str:
    """TensorBoard event files of the curve and the final figures (``folder`` replaced
    whole); the folder, or :data:`TENSORBOARD_MISSING` when the ``tensorboard`` package
    is missing."""
    if tensorboard_missing():
        return TENSORBOARD_MISSING
    from torch.utils.tensorboard import SummaryWriter

    shutil.rmtree(folder, ignore_errors=True)
    writer = SummaryWriter(log_dir=str(folder))
    try:
        for step, loss in curve["loss"]:
            writer.add_scalar("train/loss", loss, int(step))
        for step, f1 in curve["validation"]:
            writer.add_scalar("validation/macro_f1", f1, int(step))
        for key in FINAL_KEYS:
            if isinstance(metrics.get(key), (int, float)) and not isinstance(metrics.get(key), bool):
                writer.add_scalar(f"final/{key}", float(metrics[key]), 0)
    finally:
        writer.close()
    return str(folder)


def _yaml_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return json.dumps(str(value))  # a JSON string is a valid YAML scalar


def _write_yaml(path: Path, fields: dict[str, Any]) -> None:
    lines = [f"{k}: {'[]' if v == [] else _yaml_value(v)}" for k, v in fields.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _safe_key(key: str) -> str:
    return "".join(c if c.isalnum() or c in "_-./ " else "_" for c in key).strip("./") or "value"


def _ms(text: Any) -> int:
    import datetime as dt

    try:
        return int(dt.datetime.fromisoformat(str(text)).timestamp() * 1000)
    except (TypeError, ValueError):
        return int(time.time() * 1000)


def write_mlflow_run(root: Path, experiment_name: str, run: dict[str, Any]) -> Path:
    """One run in MLflow's file-store layout under ``root`` (experiment ``0``, named after
    the project); returns the run folder. Params: the run's settings; metrics: final
    figures and the curve (``train_loss``, ``val_macro_f1`` by step)."""
    root = Path(root)
    experiment = root / "0"
    experiment.mkdir(parents=True, exist_ok=True)
    now = int(time.time() * 1000)
    if not (experiment / "meta.yaml").is_file():
        _write_yaml(experiment / "meta.yaml", {
            "artifact_location": (experiment.resolve()).as_uri(), "creation_time": now,
            "experiment_id": "0", "last_update_time": now, "lifecycle_stage": "active",
            "name": experiment_name,
        })
    run_uuid = uuid.uuid5(uuid.NAMESPACE_URL, f"{root.resolve()}#{run['id']}").hex
    folder = experiment / run_uuid
    shutil.rmtree(folder, ignore_errors=True)  # a replaced project's run of the same number
    for sub in ("params", "metrics", "tags", "artifacts"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    start, end = _ms(run.get("created_at")), _ms(run.get("finished_at"))
    _write_yaml(folder / "meta.yaml", {
        "artifact_uri": (folder / "artifacts").resolve().as_uri(), "end_time": end,
        "entry_point_name": "", "experiment_id": "0", "lifecycle_stage": "active",
        "run_id": run_uuid, "run_name": f"run-{run['id']}", "run_uuid": run_uuid,
        "source_name": "", "source_type": 4, "source_version": "", "start_time": start,
        "status": _MLFLOW_STATUS.get(str(run.get("status")), 3), "tags": [], "user_id": "workbench",
    })
    for key, value in (run.get("config") or {}).items():
        if not isinstance(value, (dict, list)):
            (folder / "params" / _safe_key(key)).write_text(str(value), encoding="utf-8")
    metrics = run.get("metrics") or {}
    for key, value in metrics.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            (folder / "metrics" / _safe_key(key)).write_text(f"{end} {float(value)} 0\n", encoding="utf-8")
    curve = metrics.get("curve") or {}
    for key, name in (("loss", "train_loss"), ("validation", "val_macro_f1")):
        points = curve.get(key) or []
        if points:
            (folder / "metrics" / name).write_text(
                "".join(f"{end} {float(v)} {int(s)}\n" for s, v in points), encoding="utf-8")
    tags = {"mlflow.runName": f"run-{run['id']}", "mlflow.source.name": "workbench",
            "workbench.run_id": str(run["id"]), "workbench.base_model": str(run.get("base_model") or "")}
    for key, value in tags.items():
        (folder / "tags" / key).write_text(value, encoding="utf-8")
    (folder / "artifacts" / "workbench_run.json").write_text(
        json.dumps({k: run.get(k) for k in ("id", "status", "config", "metrics")}, indent=1, default=str),
        encoding="utf-8")
    return folder
