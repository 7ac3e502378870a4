"""Predictions of a trained run for every unlabelled record, through its ONNX bundle.

The bundle is exported (int8) on first use and reused afterwards; the predictions are
stored in the project and then feed suggestions, active learning and review.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workbench.core.assist.suggestions import (
    COLDSTART_KIND,
    META_RUN,
    AssistEvent,
    describe_run,
    latest_trained_run,
    run_row,
    store_predictions,
    unlabelled_record_ids,
)
from workbench.core.errors import Cancelled, ModelError, WorkbenchError
from workbench.core.jobs import never_stop, no_progress
from workbench.core.store.project import Project

__all__ = ["PredictReport", "bundle_for_run", "predict_project"]


@dataclass
class PredictReport:
    """What :func:`predict_project` did."""

    run_id: int
    n_predicted: int
    bundle_dir: Path | None
    source: str



def predict_project(
    project_path: str | Path,
    run: int | str = "latest",
    *,
    progress: Callable[[AssistEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    batch_size: int = 32,
) -> PredictReport:
    """Predict every unlabelled record with a trained run's int8 ONNX export and store it.

    The export is made (int8) if the run has none yet. On success the run becomes the
    suggester. Opens its own connection, so it can run in a worker thread.
    """
    progress = progress or no_progress
    should_stop = should_stop or never_stop
    with Project.open(project_path) as project:
        if run == "latest":
            run_id = latest_trained_run(project)
            if run_id is None:
                raise ModelError("No completed training run yet: train a model first.")
        else:
            try:
                run_id = int(run)
            except (TypeError, ValueError):
                raise WorkbenchError(f"Run must be a number or 'latest', not {run!r}.") from None
            info = run_row(project, run_id)
            if info is None:
                raise ModelError(f"Run {run_id} does not exist in this project.")
            if info["kind"] == COLDSTART_KIND:
                raise ModelError(f"Run {run_id} is the cold-start model, not a trained run.")
            if not info["model_path"]:
                raise ModelError(f"Run {run_id} has no trained model (status: {info['status']}).")
    bundle = bundle_for_run(project_path, run_id, progress=progress, should_stop=should_stop)
    from workbench.core.deploy.inference import Predictor

    predictor = Predictor.load(bundle)
    if predictor.task == "spans":  # entity bundle: span suggestions (core/spans)
        from workbench.core.spans.span_assist import predict_span_records

        n = predict_span_records(project_path, run_id, predictor, batch_size=batch_size,
                                 progress=progress, should_stop=should_stop)
        with Project.open(project_path) as project:
            project.set_meta(META_RUN, str(run_id))
            source = describe_run(project, run_id)
        return PredictReport(run_id=run_id, n_predicted=n, bundle_dir=bundle, source=source)
    with Project.open(project_path) as project:
        targets = unlabelled_record_ids(project)
        total = len(targets)
        done = 0
        progress(AssistEvent("predict", 0, total, f"Predicting {total} unlabelled records…"))
        for start in range(0, total, 256):
            if should_stop():
                raise Cancelled("Prediction cancelled.")
            chunk = targets[start : start + 256]
            texts = [r.text for r in project.get_records(chunk)]
            parts = []
            for b in range(0, len(texts), batch_size):
                parts.append(np.asarray(predictor.predict_proba(texts[b : b + batch_size])))
                if should_stop():
                    raise Cancelled("Prediction cancelled.")
            probs = np.vstack(parts) if parts else np.zeros((0, len(predictor.labels)))
            thresholds = getattr(predictor, "thresholds", None)
            store_predictions(
                project, run_id, chunk, list(predictor.labels), probs,
                multi_label=bool(predictor.multi_label), thresholds=thresholds,
            )
            done += len(chunk)
            progress(AssistEvent("predict", done, total, f"Predicted {done}/{total} records"))
        project.set_meta(META_RUN, str(run_id))
        source = describe_run(project, run_id)
    progress(AssistEvent("done", total, total, f"Suggestions now from: {source}"))
    return PredictReport(run_id=run_id, n_predicted=total, bundle_dir=bundle, source=source)


def bundle_for_run(
    project_path: str | Path,
    run_id: int,
    *,
    progress: Callable[[AssistEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Path:
    """The run's ONNX bundle in the default export folder; exported there (int8) if missing."""
    from workbench.core.deploy.project_data import default_export_dir

    progress = progress or no_progress
    folder = default_export_dir(Path(project_path), run_id)
    config = folder / "bundle.json"
    if config.is_file() and (folder / "model.onnx").is_file():
        from workbench.core.deploy.bundle_config import load_bundle_config

        try:
            info = load_bundle_config(folder)
        except (OSError, ValueError, WorkbenchError):
            info = {}  # damaged or foreign: export afresh
        if info.get("run_id") == run_id:  # an existing export of this run (int8 by default)
            return folder
    from workbench.core.deploy.onnx_export import export_run

    def _relay(event: Any) -> None:
        progress(AssistEvent("export", getattr(event, "step", 0), getattr(event, "total", 0),
                             f"Exporting run {run_id}: {getattr(event, 'message', '')}"))

    progress(AssistEvent("export", 0, 0, f"Exporting run {run_id} as an int8 ONNX model…"))
    report = export_run(project_path, run=run_id, out_dir=folder, quantize=True,
                        progress=_relay, should_stop=should_stop)
    return Path(report.bundle_dir)
