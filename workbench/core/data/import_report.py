"""What an import reports: its progress events and its final counts."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from workbench.core.jobs import ProgressEvent

__all__ = ["ImportProgress", "ImportReport"]


@dataclass
class ImportProgress(ProgressEvent):
    """Progress of an import: ``done`` rows read of about ``total`` (0: unknown), and,
    when the reader knows it, the fraction of the file read."""

    read_fraction: float | None = field(default=None, kw_only=True)

    @property
    def rows(self) -> int:
        """Rows read so far (``done``)."""
        return self.done

    @property
    def fraction(self) -> float | None:
        """The fraction of the file read, from the reader or else from the row estimate."""
        if self.read_fraction is not None:
            return self.read_fraction
        return min(0.99, self.done / self.total) if self.total > 0 else None


@dataclass
class ImportReport:
    """What an import did."""

    file: str
    added: int = 0
    duplicates: int = 0
    empty: int = 0
    labelled: int = 0
    batch_id: int | None = None
    new_labels: list[str] = field(default_factory=list)
    new_ids: list[int] = field(default_factory=list)
    rows: int = 0  #: data rows read from the file

    def summary(self) -> str:
        """One line for the user, e.g. ``"120 records added, 3 duplicates skipped"``."""
        parts = [f"{self.added} records added"]
        if self.labelled:
            parts.append(f"{self.labelled} with labels")
        if self.duplicates:
            parts.append(f"{self.duplicates} duplicates skipped")
        if self.empty:
            parts.append(f"{self.empty} empty texts skipped")
        if self.new_labels:
            parts.append(f"new labels: {', '.join(self.new_labels)}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """The counts as a JSON-friendly dict (without the list of new ids)."""
        return {
            "file": self.file,
            "rows": self.rows,
            "added": self.added,
            "duplicates": self.duplicates,
            "empty": self.empty,
            "labelled": self.labelled,
            "batch_id": self.batch_id,
            "new_labels": list(self.new_labels),
        }
