"""Metrics of a run on its test split or on an external labelled file."""
from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["evaluate_run"]


def evaluate_run(
    project_path: str | Path,
    run: str | int = "latest",
    input_file: str | Path | None = None,
    text_col: str | None = None,
    label_col: str | None = None,
) -> dict[str, Any]:
    """Accuracy, macro/micro/weighted F1, per-label figures and the confusion matrix."""
    raise NotImplementedError
