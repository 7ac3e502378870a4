"""Results of a spans (entity) run: figures per entity type and the spans it got wrong.

The error list holds the test split's missed, spurious and wrongly-typed spans; activating
a row (double click or Enter) opens its record in the Label panel through the window's
``open_records`` signal.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.core.errors import STORE_ERRORS

if TYPE_CHECKING:
    from workbench.core.store.project import Project

__all__ = ["ERROR_KINDS", "EntityResults", "has_span_metrics"]

log = logging.getLogger(__name__)

#: How each kind of error is named in the list.
ERROR_KINDS = {"missed": "Missed", "spurious": "Spurious", "wrong_type": "Wrong type"}
#: Errors listed at most (the rest are counted).
MAX_ERRORS = 2000
_CONTEXT = 30


def has_span_metrics(metrics: Mapping[str, Any] | None) -> bool:
    """Whether a run's metrics are those of a spans run."""
    return bool(metrics) and (metrics.get("task") == "spans" or "per_type" in metrics)


def _item(text: str, right: bool = False, data: Any = None) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled)
    if right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    if data is not None:
        item.setData(Qt.ItemDataRole.UserRole, data)
    return item


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "–" if value is None else str(value)


def _table(columns: Sequence[str]) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(list(columns))
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.verticalHeader().setVisible(False)
    table.verticalHeader().setDefaultSectionSize(22)
    table.setAlternatingRowColors(True)
    return table


class EntityResults(QWidget):
    """Per-type precision / recall / F1 / support, and the list of wrong spans."""

    #: Record ids to open in the Label panel.
    open_records = Signal(list)

    TYPE_COLUMNS = ("Entity type", "Precision", "Recall", "F1", "Support")
    ERROR_COLUMNS = ("Record", "Kind", "Label", "Predicted", "Start", "End", "Text")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary = QLabel()
        self.summary.setObjectName("entitySummary")
        self.summary.setWordWrap(True)
        self.per_type = _table(self.TYPE_COLUMNS)
        self.per_type.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.kind_combo = QComboBox()
        self.kind_combo.addItem("Every error", "")
        for key, name in ERROR_KINDS.items():
            self.kind_combo.addItem(name, key)
        self.kind_combo.activated.connect(self._fill_errors)
        self.errors = _table(self.ERROR_COLUMNS)
        self.errors.setObjectName("spanErrors")
        header = self.errors.horizontalHeader()
        for col in range(len(self.ERROR_COLUMNS) - 1):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(self.ERROR_COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.errors.setToolTip("Double-click (or Enter) opens the record in the Label panel")
        self.errors.activated.connect(self._on_activated)
        self.error_note = QLabel()
        self.error_note.setStyleSheet("color: #666666;")

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.summary)
        top_layout.addWidget(QLabel("<b>Per entity type (test split, strict match)</b>"))
        top_layout.addWidget(self.per_type)
        bottom = QWidget()
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("<b>Spans the model got wrong</b> — double-click opens the record"),
                      1)
        row.addWidget(self.kind_combo)
        bottom_layout.addLayout(row)
        bottom_layout.addWidget(self.errors, 1)
        bottom_layout.addWidget(self.error_note)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(bottom)
        splitter.setSizes([220, 420])
        QVBoxLayout(self).addWidget(splitter)
        self._errors: list[dict[str, Any]] = []
        self._texts: dict[int, str] = {}

    def show_run(self, run: Mapping[str, Any] | None, project: Project | None) -> None:
        """Show a spans run's figures and errors (``None`` or another kind of run: empty)."""
        metrics = (run or {}).get("metrics") or {}
        if not has_span_metrics(metrics):
            self.summary.setText("Select a spans run to see its entity results.")
            self.per_type.setRowCount(0)
            self._errors, self._texts = [], {}
            self._fill_errors()
            return
        figures = dict(metrics)
        partial = metrics.get("partial")
        if isinstance(partial, Mapping):
            figures["partial_f1"] = partial.get("f1")
        parts = [f"{title} {_fmt(figures.get(key))}" for key, title in (
            ("entity_f1", "Entity micro-F1"), ("entity_macro_f1", "macro-F1"),
            ("entity_precision", "precision"), ("entity_recall", "recall"),
            ("partial_f1", "partial-overlap F1")) if figures.get(key) is not None]
        counts = metrics.get("counts")
        if isinstance(counts, Mapping):
            parts.append(f"{counts.get('correct', 0):,} of {counts.get('gold', 0):,} annotated "
                         f"spans found, {counts.get('predicted', 0):,} predicted")
        self.summary.setText(f"Run #{run['id']}: " + (" · ".join(parts) or "no figures"))
        per = metrics.get("per_type") or {}
        self.per_type.setRowCount(len(per))
        for row, (name, stats) in enumerate(per.items()):
            stats = stats or {}
            self.per_type.setItem(row, 0, _item(str(name)))
            for col, key in enumerate(("precision", "recall", "f1", "support"), start=1):
                self.per_type.setItem(row, col, _item(_fmt(stats.get(key)), right=True))
        self._errors = list(metrics.get("errors") or [])
        self._texts = {}
        if project is not None and self._errors:
            ids = sorted({int(e["record_id"]) for e in self._errors[:MAX_ERRORS]})
            try:
                self._texts = {r.id: r.text for r in project.get_records(ids)}
            except STORE_ERRORS as exc:
                log.warning("Cannot read the records of run %s: %s", run.get("id"), exc)
        self._fill_errors()

    def _fill_errors(self, *_args: object) -> None:
        kind = self.kind_combo.currentData() or ""
        chosen = [e for e in self._errors if not kind or e.get("kind") == kind]
        shown = chosen[:MAX_ERRORS]
        self.errors.setRowCount(len(shown))
        for row, err in enumerate(shown):
            rid, start, end = int(err["record_id"]), int(err["start"]), int(err["end"])
            text = self._texts.get(rid, "")
            snippet = text[start:end]
            if text:
                before = text[max(0, start - _CONTEXT):start].split("\n")[-1]
                after = text[end:end + _CONTEXT].split("\n")[0]
                snippet = f"…{before}[{snippet}]{after}…"
            kind = str(err.get("kind"))
            # A spurious span has no annotated label: the model's is under "Predicted".
            annotated = "–" if kind == "spurious" else str(err.get("label") or "–")
            predicted = err.get("predicted") or (err.get("label") if kind == "spurious" else None)
            values = [str(rid), ERROR_KINDS.get(kind, kind), annotated, str(predicted or "–"),
                      str(start), str(end), snippet]
            for col, value in enumerate(values):
                item = _item(value, right=col in (0, 4, 5), data=rid)
                item.setToolTip(snippet)
                self.errors.setItem(row, col, item)
        hidden = len(chosen) - len(shown)
        self.error_note.setText(f"{len(chosen):,} error(s)"
                                + (f"; the first {len(shown):,} are listed" if hidden else ""))

    def _on_activated(self, index: Any) -> None:
        if index.isValid():
            item = self.errors.item(index.row(), 0)
            if item is not None:
                self.open_records.emit([int(item.data(Qt.ItemDataRole.UserRole))])

    def rows(self) -> list[tuple[str, ...]]:
        """The error list's cells as text (for tests)."""
        return [tuple(self.errors.item(r, c).text() for c in range(self.errors.columnCount()))
                for r in range(self.errors.rowCount())]
