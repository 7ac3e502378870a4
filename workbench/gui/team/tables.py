"""Read-only figure tables of the Team tab (agreement between annotators)."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

__all__ = ["fill_table", "fmt_figure", "figure_table"]


def fmt_figure(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def figure_table(headers: list[str], stretch: tuple[int, ...] = (0,)) -> QTableWidget:
    """A read-only table: the name columns in ``stretch`` share the spare width, the
    figure columns are as wide as their contents."""
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setAlternatingRowColors(True)
    header = table.horizontalHeader()
    header.setStretchLastSection(False)
    header.setMinimumSectionSize(90)
    for column in range(len(headers)):
        mode = (QHeaderView.ResizeMode.Stretch if column in stretch
                else QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(column, mode)
    return table


def fill_table(table: QTableWidget, rows: list[list[str]]) -> None:
    """Put rows of text in a table; figures are right-aligned."""
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            item = QTableWidgetItem(text)
            number = text.rstrip("%").replace(".", "", 1).replace("-", "", 1).isdigit()
            if c > 0 and (number or text == "n/a"):
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            table.setItem(r, c, item)
