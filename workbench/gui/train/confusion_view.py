"""A clickable confusion matrix that opens the records behind each cell."""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.gui.train.train_charts import RotatedHeader

__all__ = ["ConfusionMatrixView"]

_CORRECT = QColor("#0072B2")
_WRONG = QColor("#D55E00")


def _blend(colour: QColor, share: float) -> QColor:
    share = max(0.0, min(1.0, share))
    return QColor(
        round(255 + (colour.red() - 255) * share),
        round(255 + (colour.green() - 255) * share),
        round(255 + (colour.blue() - 255) * share),
    )


class ConfusionMatrixView(QWidget):
    """A heat map of test predictions; clicking a cell emits the ids of its records.

    Single-label: rows are the true labels, columns the predicted ones, colour the share
    of the row (blue on the diagonal, orange for mistakes). Multi-label: one row per label
    with correct, missed and false-alarm counts.
    """

    #: Record ids behind the clicked cell.
    open_records = Signal(list)

    MULTI_KINDS = ["correct", "missed", "false alarm"]

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(0, 0)
        # Predicted-label titles read bottom to top, so long names fit narrow columns.
        self.table.setHorizontalHeader(RotatedHeader(self.table))
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.cellClicked.connect(self._on_cell_clicked)
        self.table.cellActivated.connect(self._on_cell_clicked)
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.caption.setStyleSheet("color: #555555;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addWidget(self.caption)
        layout.addStretch(1)
        self._ids: dict[tuple[int, int], list[int]] = {}
        self.show_matrix([], [], {})

    def show_matrix(
        self,
        labels: list[str],
        stored: list[list[int]] | None,
        cells: dict[tuple[str, str], list[int]],
        *,
        multi_label: bool = False,
        evaluation: str = "test split",
    ) -> None:
        """Draw the matrix from the records behind each cell (or the stored counts);
        ``evaluation`` names where the predictions come from."""
        self._ids = {}
        self.table.clear()
        if not labels:
            self.table.setRowCount(0)
            self.table.setColumnCount(0)
            self.caption.setText("No test predictions for this run.")
            self.table.setMaximumHeight(60)
            self.table.setMinimumHeight(0)
            return
        columns = self.MULTI_KINDS if multi_label else labels
        self.table.setRowCount(len(labels))
        self.table.setColumnCount(len(columns))
        header = self.table.horizontalHeader()
        if isinstance(header, RotatedHeader):
            header.set_rotated(not multi_label and max(len(c) for c in columns) > 5)
        if multi_label:
            self.table.setHorizontalHeaderLabels([c.capitalize() for c in columns])
        else:
            self.table.setHorizontalHeaderLabels(columns)
            for c, name in enumerate(columns):
                self.table.horizontalHeaderItem(c).setToolTip(f"Predicted as '{name}'")
        self.table.setVerticalHeaderLabels(labels)
        for r, name in enumerate(labels):
            self.table.verticalHeaderItem(r).setToolTip(f"Labelled '{name}' by annotators")
        counts = [[0] * len(columns) for _ in labels]
        for r, true in enumerate(labels):
            for c, col in enumerate(columns):
                ids = cells.get((true, col), [])
                if ids:
                    self._ids[(r, c)] = list(ids)
                    counts[r][c] = len(ids)
                elif not cells and stored and r < len(stored) and c < len(stored[r]):
                    counts[r][c] = int(stored[r][c])
        for r, true in enumerate(labels):
            row_total = sum(counts[r]) or 1
            for c, col in enumerate(columns):
                n = counts[r][c]
                correct = (col == "correct") if multi_label else (r == c)
                share = n / row_total
                item = QTableWidgetItem(str(n))
                item.setFlags(Qt.ItemIsSelectable | Qt.ItemIsEnabled)
                item.setTextAlignment(Qt.AlignCenter)
                background = _blend(_CORRECT if correct else _WRONG, share * 0.9 if n else 0.0)
                item.setBackground(QBrush(background))
                dark = background.lightnessF() < 0.55
                item.setForeground(QBrush(QColor("#ffffff" if dark else "#1f1f1f")))
                font = item.font()
                font.setBold(n > 0)
                item.setFont(font)
                item.setToolTip(self._tooltip(true, col, n, multi_label))
                self.table.setItem(r, c, item)
        if multi_label:
            self.caption.setText(
                f"One row per label, on the {evaluation}. Click a cell to open its records "
                "in the Label panel."
            )
        else:
            self.caption.setText(
                "Rows: the label given by annotators · Columns: the model's prediction, on the "
                f"{evaluation}. Off-diagonal cells are mistakes: click one to open those records "
                "in the Label panel."
            )
        if stored and not cells:
            self.caption.setText(self.caption.text() + " (Counts only: no stored predictions.)")
        self._fit_height()

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        """Row heights are only final once the table is polished: fit again when shown."""
        super().showEvent(event)
        if self.table.rowCount():
            self._fit_height()

    def _fit_height(self) -> None:
        """Make the table as tall as its rows (up to a limit), so no empty grid shows."""
        table = self.table
        table.resizeRowsToContents()  # the heights the rows will have once laid out
        height = table.horizontalHeader().sizeHint().height() + 2 * table.frameWidth() + 2
        height += sum(table.rowHeight(r) for r in range(table.rowCount()))
        if table.horizontalScrollBar().isVisible():
            height += table.horizontalScrollBar().sizeHint().height()
        table.setMaximumHeight(max(60, min(height, 440)))
        table.setMinimumHeight(max(60, min(height, 300)))  # small matrices show whole

    @staticmethod
    def _tooltip(true: str, col: str, n: int, multi_label: bool) -> str:
        noun = "record" if n == 1 else "records"
        if multi_label:
            what = {
                "correct": f"labelled '{true}' and predicted so",
                "missed": f"labelled '{true}' but not predicted",
                "false alarm": f"predicted '{true}' but not labelled so",
            }[col]
        elif true == col:
            what = f"labelled '{true}' and predicted correctly"
        else:
            what = f"labelled '{true}' but predicted '{col}'"
        hint = " — click to open them in the Label panel" if n else ""
        return f"{n} {noun} {what}{hint}"

    def record_ids(self, row: int, column: int) -> list[int]:
        """Ids behind one cell (empty when none or no predictions are stored)."""
        return list(self._ids.get((row, column), []))

    def _on_cell_clicked(self, row: int, column: int) -> None:
        ids = self.record_ids(row, column)
        if ids:
            self.open_records.emit(ids)
