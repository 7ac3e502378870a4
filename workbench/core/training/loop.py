"""The trainer: a plain PyTorch loop with dynamic padding and length-grouped batches."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from workbench.core.training.config import TrainConfig, TrainEvent, TrainResult

__all__ = ["train_project"]


def train_project(
    project_path: str | Path,
    config: TrainConfig | None = None,
    progress: Callable[[TrainEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Fine-tune a classifier on the project's labelled records; returns the run's result."""
    raise NotImplementedError
