"""Label buttons: one checkable, coloured button per label with its key, in a grid.

Shared by the Label panel and the adjudication view of the Team panel.
"""
from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence

from PySide6.QtCore import QRect, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QGridLayout, QPushButton, QSizePolicy, QWidget

from workbench.core.store.project import Label

__all__ = ["LabelButton", "LabelButtons", "contrast_color", "shortcut_text"]


def contrast_color(background: str) -> str:
    """Black or white, whichever reads better on ``background`` (``#rrggbb``)."""
    try:
        r, g, b = (int(background.lstrip("#")[i : i + 2], 16) for i in (0, 2, 4))
    except ValueError:
        return "#000000"
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return "#000000" if luminance > 150 else "#ffffff"


_COLUMNS = 5


def shortcut_text(shortcut: str | None) -> str:
    """How a label shortcut is printed on its button ("1", "Q")."""
    return shortcut.upper() if shortcut else ""


class LabelButton(QPushButton):
    """A checkable button with a colour stripe; filled with the colour when checked.

    Painted directly rather than with a style sheet, which is several times slower to
    paint, since the buttons repaint on every key press.
    """

    def __init__(self, color: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.color = QColor(color)
        self.text_color = QColor(contrast_color(color))
        self.setCheckable(True)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        # Ignored width: a changing count never moves the buttons (no relayout).
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setMinimumWidth(110)
        self.setMinimumHeight(self.fontMetrics().height() + 14)
        #: The model suggests this label for the shown record (drawn as a dashed outline).
        self.suggested = False

    def set_suggested(self, on: bool) -> None:
        """Mark (or unmark) the button as the model's suggestion."""
        if on != self.suggested:
            self.suggested = on
            self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        if not self.isChecked():
            super().paintEvent(event)
            painter = QPainter(self)
            painter.fillRect(QRect(3, 4, 6, self.height() - 8), self.color)
            if self.suggested:
                pen = QPen(self.color.darker(140))
                pen.setWidth(2)
                pen.setStyle(Qt.PenStyle.DashLine)
                painter.setRenderHint(QPainter.RenderHint.Antialiasing)
                painter.setPen(pen)
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawRoundedRect(self.rect().adjusted(1, 1, -2, -2), 4, 4)
            painter.end()
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = self.rect().adjusted(1, 1, -1, -1)
        painter.setPen(self.color.darker(130))
        painter.setBrush(self.color)
        painter.drawRoundedRect(rect, 4, 4)
        font = self.font()
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(self.text_color)
        text = painter.fontMetrics().elidedText(
            self.text(), Qt.TextElideMode.ElideRight, rect.width() - 12
        )
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
        painter.end()


class LabelButtons(QWidget):
    """A grid of checkable label buttons; clicking one emits :attr:`label_clicked`."""

    label_clicked = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(6)
        self.buttons: dict[str, LabelButton] = {}
        self._labels: list[Label] = []
        self._tips: dict[str, str] = {}
        self._suggested: tuple[set[str], str] = (set(), "")

    def set_labels(self, labels: Sequence[Label], counts: Mapping[str, int] | None = None) -> None:
        """Rebuild the buttons for a label schema."""
        for button in self.buttons.values():
            self._grid.removeWidget(button)
            button.deleteLater()
        self.buttons = {}
        self._tips = {}
        self._suggested = (set(), "")
        self._labels = list(labels)
        for i, label in enumerate(self._labels):
            button = LabelButton(label.color)
            button.setObjectName(f"label:{label.name}")
            tip = f"<b>{html.escape(label.name)}</b>"
            if label.shortcut:
                tip += f" (key {html.escape(shortcut_text(label.shortcut))})"
            if label.guideline:
                tip += "<br>" + html.escape(label.guideline).replace("\n", "<br>")
            self._tips[label.name] = tip
            button.setToolTip(tip)
            button.clicked.connect(self._on_clicked)
            self._grid.addWidget(button, i // _COLUMNS, i % _COLUMNS)
            self.buttons[label.name] = button
        for col in range(_COLUMNS):
            self._grid.setColumnStretch(col, 1)
        self.set_counts(counts or {})

    def _on_clicked(self) -> None:
        button = self.sender()
        for name, candidate in self.buttons.items():
            if candidate is button:
                # The panel decides the checked state from what was saved.
                candidate.setChecked(not candidate.isChecked())
                self.label_clicked.emit(name)
                return

    def set_counts(self, counts: Mapping[str, int]) -> None:
        """Show each label's count on its button."""
        for label in self._labels:
            button = self.buttons[label.name]
            key = shortcut_text(label.shortcut)
            prefix = f"[{key}]  " if key else ""
            button.setText(f"{prefix}{label.name}   · {counts.get(label.name, 0):,}")

    def set_checked(self, names: Iterable[str]) -> None:
        """Check exactly the buttons of ``names``."""
        wanted = set(names)
        for name, button in self.buttons.items():
            if button.isChecked() != (name in wanted):
                button.setChecked(name in wanted)


    def set_suggested(self, names: Iterable[str], note: str = "") -> None:
        """Outline the suggested labels' buttons; ``note`` is added to their tooltips."""
        wanted = set(names)
        if (wanted, note) == self._suggested:
            return
        before = self._suggested[0]
        self._suggested = (wanted, note)
        for name in before | wanted:
            button = self.buttons.get(name)
            if button is None:
                continue
            button.set_suggested(name in wanted)
            tip = self._tips.get(name, "")
            if name in wanted and note:
                tip += f"<br><i>{html.escape(note)}</i>"
            button.setToolTip(tip)

    def suggested(self) -> set[str]:
        """Names of the buttons marked as suggested."""
        return set(self._suggested[0])
