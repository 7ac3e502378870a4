"""The Train tab's learning curve: test macro-F1 against the number of labelled records,
one point per finished run of the project's history
(:func:`workbench.core.training.tracking.learning_curve`).

It answers "would more labels help?": a curve still rising at the right end says yes.
pyqtgraph is imported, and the plot built, only when the view is first shown.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from workbench.core.training.tracking import LearningPoint, learning_curve

if TYPE_CHECKING:
    import pyqtgraph as pg

__all__ = ["LearningCurveView"]

_COLOUR = "#009E73"
EMPTY_TEXT = ("Each finished run adds a point: macro-F1 against the number of labelled "
              "records it used. Train again after labelling more to see whether more labels help.")


class LearningCurveView(QWidget):
    """A plot of the run history's learning curve with a one-line reading under it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.points: list[LearningPoint] = []
        self.plot: pg.PlotWidget | None = None
        self.curve: Any = None
        self._layout = QVBoxLayout(self)
        self.caption = QLabel(EMPTY_TEXT)
        self.caption.setWordWrap(True)
        self.caption.setStyleSheet("color: #555555;")
        self._layout.addWidget(self.caption)

    def ensure_plot(self) -> None:
        if self.plot is not None:
            return
        import pyqtgraph as pg

        self.plot = pg.PlotWidget(background="w")
        item = self.plot.getPlotItem()
        item.setTitle("Learning curve", color="#333333", size="10pt")
        item.setLabel("bottom", "labelled records used by the run")
        item.setLabel("left", "macro-F1")
        item.showGrid(x=True, y=True, alpha=0.25)
        item.setMenuEnabled(False)
        item.setYRange(0.0, 1.0, padding=0.02)
        self.curve = self.plot.plot([], [], pen=pg.mkPen(_COLOUR, width=2), symbol="o",
                                    symbolSize=8, symbolBrush=_COLOUR, symbolPen=None)
        self._layout.insertWidget(0, self.plot, 1)
        self._draw()

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        self.ensure_plot()
        super().showEvent(event)

    def show_runs(self, runs: list[dict[str, Any]]) -> None:
        """Redraw from the run history (``list_runs`` rows)."""
        self.points = learning_curve(runs)
        self._draw()

    def drawn_points(self) -> list[tuple[float, float]]:
        """The (x, y) points on the plot (for checks)."""
        if self.curve is None:
            return []
        xs, ys = self.curve.getData()
        return [] if xs is None else [(float(x), float(y)) for x, y in zip(xs, ys, strict=True)]

    def _draw(self) -> None:
        pts = self.points
        if self.curve is not None:
            # Several runs on the same number of labels: their mean, so the line reads left to right.
            by_n: dict[int, list[float]] = {}
            for p in pts:
                by_n.setdefault(p.n_labelled, []).append(p.macro_f1)
            xs = sorted(by_n)
            self.curve.setData(xs, [sum(by_n[x]) / len(by_n[x]) for x in xs])
        if not pts:
            self.caption.setText(EMPTY_TEXT)
        elif len(pts) == 1:
            self.caption.setText(f"One run so far: macro-F1 {pts[0].macro_f1:.3f} with "
                                 f"{pts[0].n_labelled} labelled records. " + EMPTY_TEXT.split(". ", 1)[1])
        else:
            first, last = pts[0], pts[-1]
            self.caption.setText(
                f"{len(pts)} runs: macro-F1 {first.macro_f1:.3f} with {first.n_labelled} labelled "
                f"records, {last.macro_f1:.3f} with {last.n_labelled}. A curve still rising at the "
                "right says more labels would help.")
