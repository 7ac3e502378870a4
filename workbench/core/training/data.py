"""Training data: the label snapshot, the stored split and the data summary."""
from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.core.training.config import DataSummary

if TYPE_CHECKING:
    from workbench.core.project import Project

__all__ = ["data_summary"]


def data_summary(project: Project) -> DataSummary:
    """Counts per label and split, resolved ties and warnings, for the Train panel."""
    raise NotImplementedError
