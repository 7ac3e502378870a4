"""Live training curves (loss and validation macro-F1) drawn with pyqtgraph, and a
table header with rotated titles for the confusion matrix.

Points arrive as often as the trainer reports them; the plots are redrawn by a timer
at most ten times a second, so a fast trainer cannot flood the GUI thread.

pyqtgraph is imported, and the plots are built, only when the curves are first shown
or a run starts: the main window opens without paying for it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QRect, QSize, Qt, QTimer
from PySide6.QtGui import QFont, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import QHBoxLayout, QHeaderView, QStyle, QStyleOptionHeader, QWidget

from workbench.core.plain_words import FIGURE_HELP

if TYPE_CHECKING:
    import pyqtgraph as pg

__all__ = ["RotatedHeader", "TrainingCurves", "loss_axis_range"]

#: Redraw interval in milliseconds (100 ms = at most 10 redraws per second).
REDRAW_MS = 100

_LOSS_COLOUR = "#0072B2"
_F1_COLOUR = "#D55E00"


def _make_plot(title: str, y_label: str) -> pg.PlotWidget:
    import pyqtgraph as pg

    plot = pg.PlotWidget(background="w")
    item = plot.getPlotItem()
    item.setTitle(title, color="#333333", size="10pt")
    item.setLabel("bottom", "training step")
    item.setLabel("left", y_label)
    item.showGrid(x=True, y=True, alpha=0.25)
    item.setMenuEnabled(False)
    for axis in ("left", "bottom"):
        item.getAxis(axis).setTextPen("#333333")
        item.getAxis(axis).setPen("#888888")
    plot.setMinimumHeight(160)
    return plot


def loss_axis_range(values: list[float]) -> tuple[float, float]:
    """The loss axis from 0 to a little above the largest loss: noise between 1.78 and
    1.80 then looks like the flat line it is, and the axis always has numbers."""
    top = max(max(values), 0.0)
    return 0.0, top * 1.1 if top > 0 else 1.0


class TrainingCurves(QWidget):
    """Two side-by-side plots: training loss and validation macro-F1 against the step."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._loss_x: list[float] = []
        self._loss_y: list[float] = []
        self._f1_x: list[float] = []
        self._f1_y: list[float] = []
        self._dirty = False
        self.loss_plot: pg.PlotWidget | None = None
        self.f1_plot: pg.PlotWidget | None = None
        self.loss_curve: Any = None
        self.f1_curve: Any = None

        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.setMinimumHeight(160)

        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self._redraw)

    # ------------------------------------------------------------------ lazy plots
    @property
    def is_built(self) -> bool:
        """Whether the plots exist yet (they are built on first show or run)."""
        return self.loss_plot is not None

    def ensure_plots(self) -> None:
        """Build the two plots (and import pyqtgraph) once."""
        if self.loss_plot is not None:
            return
        import pyqtgraph as pg

        self.loss_plot = _make_plot("Training loss", "loss")
        self.loss_plot.setToolTip(FIGURE_HELP["loss"])
        self.f1_plot = _make_plot("Validation macro-F1", "macro-F1")
        self.f1_plot.setToolTip(FIGURE_HELP["macro_f1"] + " Measured on the validation texts "
                                "after each epoch.")
        self.f1_plot.getPlotItem().setYRange(0.0, 1.0, padding=0.02)
        self.f1_plot.setXLink(self.loss_plot)  # same steps under each other
        self.loss_curve = self.loss_plot.plot([], [], pen=pg.mkPen(_LOSS_COLOUR, width=2))
        self.f1_curve = self.f1_plot.plot(
            [],
            [],
            pen=pg.mkPen(_F1_COLOUR, width=2),
            symbol="o",
            symbolSize=7,
            symbolBrush=_F1_COLOUR,
            symbolPen=None,
        )
        self._layout.addWidget(self.loss_plot)
        self._layout.addWidget(self.f1_plot)
        self._dirty = True
        self._redraw()

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        """The plots are built the first time the curves are on screen."""
        self.ensure_plots()
        super().showEvent(event)

    # ------------------------------------------------------------------ data
    def clear(self) -> None:
        """Forget every point (a new run starts)."""
        self._loss_x.clear()
        self._loss_y.clear()
        self._f1_x.clear()
        self._f1_y.clear()
        self._dirty = True
        self._redraw()

    def add_loss(self, step: float, loss: float) -> None:
        """Queue a loss point; drawn on the next timer tick."""
        self._loss_x.append(float(step))
        self._loss_y.append(float(loss))
        self._dirty = True

    def add_validation(self, step: float, macro_f1: float) -> None:
        """Queue a validation macro-F1 point; drawn on the next timer tick."""
        self._f1_x.append(float(step))
        self._f1_y.append(float(macro_f1))
        self._dirty = True

    def show_curve(self, curve: dict[str, list[list[float]]]) -> None:
        """Draw a finished run's stored curve (``{"loss": [[step, loss]...],
        "validation": [[step, macro_f1]...]}``) in place of the current points."""
        self._loss_x[:] = [float(s) for s, _v in curve.get("loss", [])]
        self._loss_y[:] = [float(v) for _s, v in curve.get("loss", [])]
        self._f1_x[:] = [float(s) for s, _v in curve.get("validation", [])]
        self._f1_y[:] = [float(v) for _s, v in curve.get("validation", [])]
        self._dirty = True
        self._redraw()

    def start_live(self) -> None:
        """Begin periodic redraws (while a run is going)."""
        self.ensure_plots()
        self._timer.start()

    def stop_live(self) -> None:
        """Stop periodic redraws and draw whatever is still pending."""
        self._timer.stop()
        self._redraw()

    def point_counts(self) -> tuple[int, int]:
        """Points currently drawn: (loss points, validation points)."""
        if not self.is_built:
            return (0, 0)
        lx, _ = self.loss_curve.getData()
        fx, _ = self.f1_curve.getData()
        return (0 if lx is None else len(lx), 0 if fx is None else len(fx))

    # ------------------------------------------------------------------ drawing
    def _redraw(self) -> None:
        if not self._dirty or not self.is_built:
            return
        self._dirty = False
        # Dots make a short run readable; a long one is clearer as a plain line.
        few = len(self._loss_x) <= 60
        self.loss_curve.setData(
            self._loss_x,
            self._loss_y,
            symbol="o" if few else None,
            symbolSize=5,
            symbolBrush=_LOSS_COLOUR,
            symbolPen=None,
        )
        self.f1_curve.setData(self._f1_x, self._f1_y)
        if self._loss_y:
            self.loss_plot.getPlotItem().setYRange(*loss_axis_range(self._loss_y), padding=0)


class RotatedHeader(QHeaderView):
    """A horizontal table header whose titles read bottom to top.

    Long label names then fit above narrow columns, as in a confusion matrix; a title
    longer than ``max_height`` pixels is elided (the item's tooltip keeps it whole).
    With :meth:`set_rotated` (False) it is an ordinary header.
    """

    PAD = 6

    def __init__(self, parent: QWidget | None = None, max_height: int = 130) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.rotated = True
        self.max_height = max_height
        self.setSectionsClickable(True)
        self.setHighlightSections(True)

    def set_rotated(self, rotated: bool) -> None:
        """Rotate the titles or draw them normally (set before the header labels)."""
        self.rotated = rotated
        self.updateGeometries()
        self.viewport().update()

    def _title(self, logical: int) -> str:
        model = self.model()
        if model is None:
            return ""
        value = model.headerData(logical, self.orientation(), Qt.ItemDataRole.DisplayRole)
        return "" if value is None else str(value)

    def _title_font(self) -> QFont:
        font = QFont(self.font())
        font.setBold(True)
        return font

    def sectionSizeFromContents(self, logical: int) -> QSize:  # noqa: N802 - Qt API
        if not self.rotated:
            return super().sectionSizeFromContents(logical)
        metrics = QFontMetrics(self._title_font())
        length = metrics.horizontalAdvance(self._title(logical)) + 2 * self.PAD + 2
        return QSize(metrics.height() + 2 * self.PAD, min(length, self.max_height))

    def paintSection(self, painter: QPainter, rect: QRect, logical: int) -> None:  # noqa: N802
        if not self.rotated:
            super().paintSection(painter, rect, logical)
            return
        option = QStyleOptionHeader()
        self.initStyleOption(option)
        option.rect = rect
        option.section = logical
        option.text = ""
        painter.save()
        self.style().drawControl(QStyle.ControlElement.CE_Header, option, painter, self)
        painter.restore()
        painter.save()
        painter.setFont(self._title_font())
        painter.setPen(self.palette().color(QPalette.ColorRole.ButtonText))
        painter.translate(rect.left(), rect.bottom())
        painter.rotate(-90)  # x now runs up the section, y across it
        area = QRect(self.PAD, 0, rect.height() - 2 * self.PAD, rect.width())
        text = painter.fontMetrics().elidedText(
            self._title(logical), Qt.TextElideMode.ElideRight, area.width())
        painter.drawText(area, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), text)
        painter.restore()
