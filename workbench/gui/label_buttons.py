"""One button per label, showing its shortcut, colour and count; guidelines as tooltips."""
from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QPushButton, QSizePolicy, QWidget

from workbench.core.project import Label
from workbench.gui.record_view import contrast_color

__all__ = ["LabelButtons", "guidelines_html", "shortcut_text"]

_COLUMNS = 5


def shortcut_text(shortcut: str | None) -> str:
    """How a label shortcut is printed on its button ("1", "Q")."""
    return shortcut.upper() if shortcut else ""


def _style(color: str) -> str:
    fg = contrast_color(color)
    return (
        "QPushButton { text-align: left; padding: 6px 10px; border-radius: 4px;"
        f" border: 1px solid palette(mid); border-left: 8px solid {color}; }}"
        f" QPushButton:checked {{ background: {color}; color: {fg}; font-weight: bold; }}"
    )


class LabelButtons(QWidget):
    """A grid of checkable label buttons; clicking one emits :attr:`label_clicked`."""

    label_clicked = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(6)
        self.buttons: dict[str, QPushButton] = {}
        self._labels: list[Label] = []

    def set_labels(self, labels: Sequence[Label], counts: Mapping[str, int] | None = None) -> None:
        """Rebuild the buttons for a label schema."""
        for button in self.buttons.values():
            self._grid.removeWidget(button)
            button.deleteLater()
        self.buttons = {}
        self._labels = list(labels)
        for i, label in enumerate(self._labels):
            button = QPushButton()
            button.setObjectName(f"label:{label.name}")
            button.setCheckable(True)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            # Ignored width: a changing count never moves the buttons (no relayout).
            button.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            button.setMinimumWidth(110)
            button.setStyleSheet(_style(label.color))
            tip = f"<b>{html.escape(label.name)}</b>"
            if label.shortcut:
                tip += f" (key {html.escape(shortcut_text(label.shortcut))})"
            if label.guideline:
                tip += "<br>" + html.escape(label.guideline).replace("\n", "<br>")
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


def guidelines_html(labels: Sequence[Label], keys: Sequence[tuple[str, str]] = ()) -> str:
    """The help pane: every label with its key, colour and guideline, then other keys."""
    parts = ["<h3>Labels</h3>"]
    if not labels:
        parts.append("<p>This project has no labels yet: add some in the label editor.</p>")
    for label in labels:
        key = shortcut_text(label.shortcut)
        swatch = f"<span style='background:{label.color}'>&nbsp;&nbsp;&nbsp;</span>"
        head = f"{swatch} <b>{html.escape(label.name)}</b>"
        if key:
            head += f" &nbsp;<code>{html.escape(key)}</code>"
        body = html.escape(label.guideline).replace("\n", "<br>") if label.guideline else (
            "<span style='color:gray'>No guideline yet.</span>"
        )
        parts.append(f"<p>{head}<br>{body}</p>")
    if keys:
        parts.append("<h3>Keys</h3><table>")
        for key, what in keys:
            parts.append(
                f"<tr><td><code>{html.escape(key)}</code>&nbsp;&nbsp;</td>"
                f"<td>{html.escape(what)}</td></tr>"
            )
        parts.append("</table>")
    return "".join(parts)
