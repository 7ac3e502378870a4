"""The Review panel's queue list and its hints."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import QHBoxLayout, QListWidget, QWidget

__all__ = ["IDLE_HINT", "NOTHING_FOUND_HINT", "NO_PROJECT_HINT", "IssueList", "at_left"]

NO_PROJECT_HINT = "Open a project to review its labels."
IDLE_HINT = (
    "Press “Find likely label errors”: records whose label a quick cross-validated model "
    "confidently disagrees with, and near-duplicate texts with different labels, are listed "
    "here, most suspicious first."
)
NOTHING_FOUND_HINT = (
    "Nothing left to review: no likely label errors. Run the check again after more labelling."
)


def at_left(widget: QWidget) -> QWidget:
    """``widget`` at its natural width at the left of a form row (not stretched)."""
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(widget)
    layout.addStretch(1)
    return row


class IssueList(QListWidget):
    """The queue list; K keeps and F fixes the current item (instead of type-ahead search)."""

    keep_pressed = Signal()
    fix_pressed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._placeholder = NO_PROJECT_HINT

    def set_placeholder(self, text: str) -> None:
        """Grey text shown while the list is empty (what to do, or why it is empty)."""
        self._placeholder = text
        self.viewport().update()

    def placeholder(self) -> str:
        return self._placeholder

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        super().paintEvent(event)
        if self.count() or not self._placeholder:
            return
        painter = QPainter(self.viewport())
        painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
        rect = self.viewport().rect().adjusted(8, 8, -8, -8)
        painter.drawText(rect, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop
                                   | Qt.TextFlag.TextWordWrap), self._placeholder)
        painter.end()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        plain = event.modifiers() in (Qt.KeyboardModifier.NoModifier,
                                      Qt.KeyboardModifier.KeypadModifier)
        if plain and event.key() == Qt.Key.Key_K:
            self.keep_pressed.emit()
        elif plain and event.key() == Qt.Key.Key_F:
            self.fix_pressed.emit()
        else:
            super().keyPressEvent(event)
