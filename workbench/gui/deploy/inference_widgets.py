"""Widgets of the Inference tab: the per-label probability bars and the file preview."""
from __future__ import annotations

from PySide6.QtWidgets import QGridLayout, QLabel, QProgressBar, QWidget

__all__ = ["LabelBars"]


class LabelBars(QWidget):
    """One row per label: name, a bar and, beside the bar (not on top of its fill), the
    probability in percent."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setColumnStretch(1, 1)
        self.bars: dict[str, QProgressBar] = {}
        self.names: dict[str, QLabel] = {}
        self.percents: dict[str, QLabel] = {}

    def set_labels(self, labels: list[str]) -> None:
        while self._grid.count():
            item = self._grid.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.bars, self.names, self.percents = {}, {}, {}
        for row, name in enumerate(labels):
            label = QLabel(name)
            bar = QProgressBar()
            bar.setRange(0, 1000)
            bar.setValue(0)
            bar.setTextVisible(False)
            bar.setMaximumHeight(14)
            percent = QLabel("")
            percent.setMinimumWidth(percent.fontMetrics().horizontalAdvance("100.0%") + 6)
            self._grid.addWidget(label, row, 0)
            self._grid.addWidget(bar, row, 1)
            self._grid.addWidget(percent, row, 2)
            self.names[name], self.bars[name], self.percents[name] = label, bar, percent

    def show_probs(self, probs: dict[str, float], chosen: set[str]) -> None:
        for name, bar in self.bars.items():
            p = float(probs.get(name, 0.0))
            bar.setValue(int(round(p * 1000)))
            self.percents[name].setText(f"{100 * p:.1f}%")
            font = self.names[name].font()
            font.setBold(name in chosen)
            self.names[name].setFont(font)

    def clear(self) -> None:
        for name, bar in self.bars.items():
            bar.setValue(0)
            self.percents[name].setText("")

    def values(self) -> dict[str, float]:
        """The shown probabilities (for tests and accessibility)."""
        return {name: bar.value() / 1000.0 for name, bar in self.bars.items()}
