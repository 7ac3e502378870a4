"""Which evaluation a run's figures come from, in words (the Train tab's Results say it).

Fine-tuning reports the stored test split (or the validation split when a project has no
test records); small projects trained with the few-label methods report stratified k-fold
cross-validation, whose figures come from the out-of-fold predictions of every labelled
record (see ``core/training/methods/crossval.py``).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["evaluation_name", "evaluated_records_title"]


def evaluation_name(metrics: Mapping[str, Any] | None) -> str:
    """'test split', 'validation split' or '5-fold cross-validation (out-of-fold predictions)'."""
    metrics = metrics or {}
    split = metrics.get("split")
    if split == "cross-validation":
        folds = metrics.get("macro_f1_folds")
        k = f"{len(folds)}-fold " if isinstance(folds, (list, tuple)) and folds else ""
        return f"{k}cross-validation (out-of-fold predictions)"
    if split == "validation":
        return "validation split"
    return "test split"


def evaluated_records_title(all_metrics: list[Mapping[str, Any] | None]) -> str:
    """Title of the row counting the records the figures come from, for runs shown side by side."""
    names = {evaluation_name(m) for m in all_metrics}
    if names == {"test split"}:
        return "Test records"
    if names == {"validation split"}:
        return "Validation records"
    if all("cross-validation" in n for n in names):
        return "Records (out-of-fold)"
    return "Records evaluated"
