"""The Inference tab's view of a spans (entity) bundle: a colour key, the entities
highlighted in the typed text, a table of spans (start, end, label, text, score), and
below it the words behind the selected entity (each word masked in turn, span_explain.py)."""
from __future__ import annotations

import html
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
from workbench.gui.widgets.highlight import highlighted_html
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
        self.why = QLabel()
        self.why.setObjectName("spanWhy")
        self.why.setTextFormat(Qt.TextFormat.RichText)
        self.why.setWordWrap(True)
        self.why.setToolTip("Each word was masked in turn: green words made the selected entity more "
                            "likely, red words less likely; the stronger the colour, the bigger the effect.")
        layout.addWidget(self.why)
        self.colors: dict[str, str] = {}
        self.spans: list[dict[str, Any]] = []
        self.text = ""
        #: per row of the table: the words behind that entity ([] until explained)
        self.explanations: list[list[dict[str, Any]]] = []
        self.table.currentCellChanged.connect(lambda row, *_: self._show_why(row))

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
        self.text = editor.toPlainText() if result else ""
        self.explanations = [list(s.get("explanation") or []) for s in self.spans]
        self.why.setText("")
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

    def show_explanations(self, text: str, explained: Sequence[Mapping[str, Any]]) -> None:
        """Take the words behind each entity (``explained``: spans with ``"explanation"``, as
        from ``span_explain.explain_spans``) for the shown ``text``; the selected entity's (the
        first if none is) are tinted below the table. An answer for another text is dropped."""
        if text != self.text:
            return
        why = {(s["start"], s["end"], s["label"]): list(s["explanation"]) for s in explained}
        self.explanations = [why.get((s["start"], s["end"], s["label"]), []) for s in self.spans]
        row = self.table.currentRow()
        if row < 0 and self.spans:
            self.table.setCurrentCell(0, 0)  # shows it (currentCellChanged)
        else:
            self._show_why(row)

    def _show_why(self, row: int) -> None:
        if not 0 <= row < len(self.spans) or not self.explanations[row]:
            self.why.setText("")
            return
        span = self.spans[row]
        self.why.setText(f"<i>Why {html.escape(str(span['label']))} “{html.escape(str(span.get('text', '')))}”:</i> "
                         f"{highlighted_html(self.text, self.explanations[row])}")

    def rows(self) -> list[tuple[str, ...]]:
        """The table's cells as text (for tests and copying)."""
        return [tuple(self.table.item(r, c).text() for c in range(self.table.columnCount()))
                for r in range(self.table.rowCount())]
