"""Fine-tuning BERT-family text classifiers on a project's labelled records.

Importing this package does not import torch or transformers; they are imported inside
the functions that need them, so the GUI and CLI start fast.

Typical use::

    from workbench.core.training import TrainConfig, train_project
    result = train_project("reviews.wbproj", TrainConfig(), progress=print)
"""
from __future__ import annotations

from workbench.core.training.config import DataSummary, TrainConfig, TrainEvent, TrainResult
from workbench.core.training.data import data_summary
from workbench.core.training.evaluate import evaluate_run
from workbench.core.training.loop import train_job, train_project
from workbench.core.training.models import BUNDLED, bundled_model_path, validate_base_model
from workbench.core.training.runs import get_run, list_runs

__all__ = [
    "BUNDLED",
    "DataSummary",
    "TrainConfig",
    "TrainEvent",
    "TrainResult",
    "bundled_model_path",
    "data_summary",
    "evaluate_run",
    "get_run",
    "list_runs",
    "train_job",
    "train_project",
    "validate_base_model",
]
