"""The Inference tab's view of a spans (entity) bundle: a colour key, the entities
highlighted in the typed text, and a table of spans (start, end, label, text, score)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.core.store.spans import Span
from workbench.gui.widgets.span_highlight import OffsetMap, label_color, span_selections

__all__ = ["SpanResults", "is_span_bundle"]


def is_span_bundle(predictor: Any) -> bool:
    """Whether a loaded bundle predicts spans (entities) rather than record labels."""
    task = getattr(predictor, "task", None) or predictor.config.get("task")
    return task == "spans"


class SpanResults(QWidget):
    """Colour key and table of the spans found in the typed text."""

    COLUMNS = ("Start", "End", "Label", "Text", "Score")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.key = QLabel()
        self.key.setObjectName("spanKey")
        self.key.setTextFormat(Qt.TextFormat.RichText)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setObjectName("spanTable")
        self.table.setHorizontalHeaderLabels(list(self.COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.setMinimumHeight(140)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.key)
        layout.addWidget(self.table)
        self.colors: dict[str, str] = {}
        self.spans: list[dict[str, Any]] = []

    def set_labels(self, labels: Sequence[str], colors: Mapping[str, str]) -> None:
        """The bundle's labels with their colours (the project's where it has them)."""
        self.colors = {name: label_color(name, colors).name() for name in labels}
        self.key.setText("&nbsp;&nbsp;".join(
            f"<span style='background:{c}; color:white'>&nbsp;{name}&nbsp;</span>"
            for name, c in self.colors.items()))

    def show_result(self, editor: QPlainTextEdit, result: Mapping[str, Any] | None) -> None:
        """Highlight ``result["spans"]`` in ``editor`` (holding the predicted text) and list
        them; ``None`` clears both."""
        self.spans = list(result.get("spans") or []) if result else []
        self.table.setRowCount(len(self.spans))
        for row, span in enumerate(self.spans):
            values = [str(span["start"]), str(span["end"]), str(span["label"]),
                      str(span.get("text", "")), f"{float(span.get('score', 0.0)):.3f}"]
            for col, value in enumerate(values):
                item = QTableWidgetItem(value)
                if col in (0, 1, 4):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                if col == 2:
                    item.setBackground(label_color(value, self.colors))
                    item.setForeground(Qt.GlobalColor.white)
                self.table.setItem(row, col, item)
        text = editor.toPlainText() if result else ""
        shown = [Span(int(s["start"]), int(s["end"]), str(s["label"])) for s in self.spans]
        editor.setExtraSelections(
            span_selections(editor, shown, self.colors, OffsetMap(text), len(text), alpha=150)
            if shown else [])

    def rows(self) -> list[tuple[str, ...]]:
        """The table's cells as text (for tests and copying)."""
        return [tuple(self.table.item(r, c).text() for c in range(self.table.columnCount()))
                for r in range(self.table.rowCount())]
