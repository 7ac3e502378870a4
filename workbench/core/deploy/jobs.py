"""The deploy jobs: ONNX export, and predictions with an exported bundle.

Each has the signature of :mod:`workbench.core.jobs`:
``job(path, config, *, progress, should_stop) -> result``; the path is the project file,
except for :func:`predict_file_job`, which works on a bundle folder.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.core.deploy.onnx_export import ExportConfig, export_job
from workbench.core.jobs import ProgressEvent

__all__ = [
    "ExportConfig",
    "export_job",
    "PredictUnlabelledConfig",
    "predict_unlabelled_job",
    "PredictFileConfig",
    "predict_file_job",
]


@dataclass
class PredictUnlabelledConfig:
    """The bundle whose predictions are stored for the project's unlabelled records."""

    bundle_dir: str | Path


def predict_unlabelled_job(
    project_path: str | Path,
    config: PredictUnlabelledConfig,
    *,
    progress: Callable[[ProgressEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> int:
    """Predict the unlabelled records and store the results (nothing stored on cancel)."""
    from workbench.core.deploy.project_data import predict_unlabelled

    return predict_unlabelled(project_path, config.bundle_dir, progress=progress, should_stop=should_stop)


@dataclass
class PredictFileConfig:
    """A file of texts to classify, where to write the results and which column to read.

    ``predictor`` may hold an already loaded :class:`~workbench.core.deploy.inference.Predictor`
    of the bundle, to reuse it when the job runs in this process.
    """

    input_path: str | Path
    output_path: str | Path
    text_col: str | None = None
    batch_size: int = 32
    predictor: Any = None
    review_below: float | None = None  #: rows below this confidence say needs_review = yes


def predict_file_job(
    bundle_dir: str | Path,
    config: PredictFileConfig,
    *,
    progress: Callable[[ProgressEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> int:
    """Classify a file with the bundle; returns the rows written (no file on cancel)."""
    from workbench.core.deploy.inference import Predictor, predict_file

    predictor = config.predictor or Predictor.load(bundle_dir)
    return predict_file(
        predictor, config.input_path, config.output_path, text_col=config.text_col,
        batch_size=config.batch_size, review_below=config.review_below,
        progress=(lambda done, total: progress(ProgressEvent("predict", done, total))) if progress else None,
        should_stop=should_stop,
    )
