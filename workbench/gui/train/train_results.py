"""Results of training runs: run history, metrics side by side, per-label table and a
clickable confusion matrix that opens the records behind each cell.
"""
from __future__ import annotations

import datetime as _dt
import logging
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.core.plain_words import FIGURE_HELP, epochs_summary
from workbench.core.training.confusion import cell_records
from workbench.core.training.evaluation_words import evaluated_records_title, evaluation_name
from workbench.core.training.models import describe_base_model
from workbench.gui.train.confusion_view import ConfusionMatrixView

__all__ = [
    "RunHistoryTable",
    "MetricsTable",
    "PerLabelTable",
    "ConfusionMatrixView",
    "cell_records",
    "run_duration_s",
    "titled",
    "results_layout",
    "EvaluationCaptions",
]

log = logging.getLogger(__name__)



# --------------------------------------------------------------------------- helpers
def _parse_time(text: Any) -> _dt.datetime | None:
    if not text:
        return None
    try:
        return _dt.datetime.fromisoformat(str(text))
    except ValueError:
        return None


def run_duration_s(run: dict[str, Any]) -> float | None:
    """Wall-clock seconds of a run, from its timings or its start and finish times."""
    timings = run.get("timings") or {}
    if isinstance(timings, dict):
        for key in ("total_s", "total", "wall_s"):
            if isinstance(timings.get(key), (int, float)):
                return float(timings[key])
    start, end = _parse_time(run.get("created_at")), _parse_time(run.get("finished_at"))
    if start and end:
        return max(0.0, (end - start).total_seconds())
    return None


def format_duration(seconds: float | None) -> str:
    """'42 s', '3 min 5 s', '1 h 02 min'."""
    if seconds is None:
        return "–"
    if seconds < 10:
        return f"{seconds:.1f} s"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if digits else f"{value:g}"
    return str(value)


def _item(text: str, *, align_right: bool = False, tooltip: str = "") -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemIsSelectable | Qt.ItemIsEnabled)
    if align_right:
        item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
    if tooltip:
        item.setToolTip(tooltip)
    return item


def _read_only_table(columns: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(columns)
    table.setEditTriggers(QAbstractItemView.NoEditTriggers)
    table.verticalHeader().setVisible(False)
    table.verticalHeader().setDefaultSectionSize(24)
    table.setAlternatingRowColors(True)
    return table


# --------------------------------------------------------------------------- run history
class RunHistoryTable(QTableWidget):
    """Every run of the project, newest first; select one run, or two to compare."""

    #: Selected run ids (one or two), in table order.
    selection_changed = Signal(list)

    COLUMNS = ["Run", "Started", "Status", "Base model", "Macro-F1", "Accuracy", "Duration"]

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(self.COLUMNS), parent)
        self.setHorizontalHeaderLabels(self.COLUMNS)
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.verticalHeader().setVisible(False)
        self.setAlternatingRowColors(True)
        self.verticalHeader().setDefaultSectionSize(24)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.horizontalHeader().setSectionResizeMode(3, QHeaderView.Stretch)
        self.setToolTip("Select a run to see its results; select two (Ctrl+click) to compare them.")
        self._runs: list[dict[str, Any]] = []
        self.itemSelectionChanged.connect(self._on_selection)

    def set_runs(self, runs: list[dict[str, Any]], select: list[int] | None = None) -> None:
        """Show ``runs`` (newest first) and select the given run ids (default: the newest)."""
        self._runs = list(runs)
        self.blockSignals(True)
        self.setRowCount(len(self._runs))
        for row, run in enumerate(self._runs):
            metrics = run.get("metrics") or {}
            started = _parse_time(run.get("created_at"))
            values = [
                (f"#{run['id']}", True),
                (started.astimezone().strftime("%Y-%m-%d %H:%M") if started else "–", False),
                (str(run.get("status", "")), False),
                (describe_base_model(run.get("base_model")), False),
                (_fmt(metrics.get("macro_f1")), True),
                (_fmt(metrics.get("accuracy")), True),
                (format_duration(run_duration_s(run)), True),
            ]
            for col, (text, right) in enumerate(values):
                item = _item(text, align_right=right)
                if col == 2 and run.get("error"):
                    item.setToolTip(str(run["error"]))
                self.setItem(row, col, item)
        self.blockSignals(False)
        wanted = select if select is not None else ([self._runs[0]["id"]] if self._runs else [])
        self.select_runs(wanted)

    def runs(self) -> list[dict[str, Any]]:
        return list(self._runs)

    def select_runs(self, run_ids: list[int]) -> None:
        """Select these runs (emits :attr:`selection_changed`)."""
        self.blockSignals(True)
        self.clearSelection()
        mode = self.selectionMode()
        self.setSelectionMode(QAbstractItemView.MultiSelection)
        for row, run in enumerate(self._runs):
            if run["id"] in run_ids:
                self.selectRow(row)
        self.setSelectionMode(mode)
        self.blockSignals(False)
        self._on_selection()

    def selected_run_ids(self) -> list[int]:
        rows = sorted({index.row() for index in self.selectionModel().selectedRows()})
        return [self._runs[r]["id"] for r in rows if r < len(self._runs)][:2]

    def _on_selection(self) -> None:
        self.selection_changed.emit(self.selected_run_ids())


# --------------------------------------------------------------------------- metrics
_METRIC_ROWS = [
    ("accuracy", "Accuracy"),
    ("macro_f1", "Macro-F1"),
    ("micro_f1", "Micro-F1"),
    ("weighted_f1", "Weighted F1"),
    ("subset_accuracy", "Subset accuracy"),
]
_CONFIG_ROWS = [
    ("epochs", "Epochs"),
    ("learning_rate", "Learning rate"),
    ("batch_size", "Batch size"),
    ("max_length", "Max length"),
    ("class_weighting", "Class weighting"),
    ("seed", "Seed"),
]


_HELP_KEYS = {title: key for key, title in _METRIC_ROWS + _CONFIG_ROWS if key in FIGURE_HELP}
_HELP_KEYS["Duration"] = "duration"


class MetricsTable(QTableWidget):
    """Overall metrics and settings of one run, or of two runs side by side with the change."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 1, parent)
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.verticalHeader().setDefaultSectionSize(22)

    def show_runs(self, runs: list[dict[str, Any]]) -> None:
        """Fill the table for one or two runs (an empty list clears it)."""
        self.clear()
        if not runs:
            self.setRowCount(0)
            self.setColumnCount(1)
            self.setHorizontalHeaderLabels(["No run selected"])
            return
        metrics = [r.get("metrics") or {} for r in runs]
        configs = [r.get("config") or {} for r in runs]
        rows: list[tuple[str, list[Any], bool]] = [("Status", [r.get("status") for r in runs], False)]
        for key, title in _METRIC_ROWS:
            values = [m.get(key) for m in metrics]
            if any(v is not None for v in values):
                rows.append((title, values, True))
        rows.append(("Base model", [describe_base_model(r.get("base_model")) for r in runs], False))
        for key, title in _CONFIG_ROWS:
            values = [_effective(m, c, key) for m, c in zip(metrics, configs, strict=True)]
            if key == "epochs":  # the epochs really run, and whether it stopped early
                values = [epochs_summary(m, v) if m.get("history") else v
                          for m, v in zip(metrics, values, strict=True)]
            if any(v is not None for v in values):
                rows.append((title, values, False))
        rows.append(("Device", [r.get("device") for r in runs], False))
        rows.append(("Evaluated on", [evaluation_name(m) for m in metrics], False))
        rows.append((evaluated_records_title(metrics), [m.get("n") for m in metrics], False))
        rows.append(("Duration", [format_duration(run_duration_s(r)) for r in runs], False))

        compare = len(runs) == 2
        headers = [f"Run #{r['id']}" for r in runs]
        if compare:
            headers.append(f"#{runs[0]['id']} − #{runs[1]['id']}")
        self.setColumnCount(len(headers))
        self.setHorizontalHeaderLabels(headers)
        self.setRowCount(len(rows))
        self.setVerticalHeaderLabels([title for title, _, _ in rows])
        for row, (title, _values, _m) in enumerate(rows):
            key = _HELP_KEYS.get(title)
            if key and self.verticalHeaderItem(row) is not None:
                self.verticalHeaderItem(row).setToolTip(FIGURE_HELP[key])
        for row, (_title, values, is_metric) in enumerate(rows):
            for col, value in enumerate(values):
                text = _fmt(value, 3 if is_metric else 0)
                self.setItem(row, col, _item(text, align_right=is_metric, tooltip="" if is_metric else text))
            if compare and is_metric and all(isinstance(v, (int, float)) for v in values):
                delta = float(values[0]) - float(values[1])
                item = _item(f"{delta:+.3f}", align_right=True)
                if abs(delta) >= 0.0005:
                    item.setForeground(QBrush(QColor("#1a7f37" if delta > 0 else "#b42318")))
                self.setItem(row, len(values), item)

    def value(self, row_title: str, column: int = 0) -> str | None:
        """Text of a cell by its row title (for tests and accessibility)."""
        for row in range(self.rowCount()):
            header = self.verticalHeaderItem(row)
            if header is not None and header.text() == row_title:
                item = self.item(row, column)
                return item.text() if item else None
        return None


def _effective(metrics: dict[str, Any], config: dict[str, Any], key: str) -> Any:
    """The value actually used (the trainer records automatic choices under 'effective')."""
    effective = config.get("effective")
    if isinstance(effective, dict) and effective.get(key) not in (None, 0, 0.0):
        return effective[key]
    value = config.get(key)
    if key in ("epochs", "learning_rate") and value in (0, 0.0):
        return "automatic"
    return value


class PerLabelTable(QTableWidget):
    """Precision, recall, F1 and support per label; with a second run, its F1 and the change."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 5, parent)
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(24)
        self.setAlternatingRowColors(True)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)

    def show_runs(self, runs: list[dict[str, Any]]) -> None:
        self.clear()
        headers = ["Label", "Precision", "Recall", "F1", "Support"]
        per = [(r.get("metrics") or {}).get("per_label") or {} for r in runs]
        if len(runs) == 2:
            headers += [f"F1 (#{runs[1]['id']})", "Change"]
        self.setColumnCount(len(headers))
        self.setHorizontalHeaderLabels(headers)
        if not runs:
            self.setRowCount(0)
            return
        names = list(per[0]) + [n for n in (per[1] if len(per) > 1 else {}) if n not in per[0]]
        self.setRowCount(len(names))
        for row, name in enumerate(names):
            stats = per[0].get(name) or {}
            values = [stats.get("precision"), stats.get("recall"), stats.get("f1"), stats.get("support")]
            self.setItem(row, 0, _item(name))
            for col, value in enumerate(values, start=1):
                self.setItem(row, col, _item(_fmt(value), align_right=True))
            if len(runs) == 2:
                other = (per[1].get(name) or {}).get("f1")
                self.setItem(row, 5, _item(_fmt(other), align_right=True))
                mine = stats.get("f1")
                if isinstance(mine, (int, float)) and isinstance(other, (int, float)):
                    delta = float(mine) - float(other)
                    item = _item(f"{delta:+.3f}", align_right=True)
                    if abs(delta) >= 0.0005:
                        item.setForeground(QBrush(QColor("#1a7f37" if delta > 0 else "#b42318")))
                    self.setItem(row, 6, item)


def titled(title: str, widget: QWidget) -> QWidget:
    """``widget`` under a bold caption."""
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 4, 0, 0)
    layout.addWidget(QLabel(f"<b>{title}</b>"))
    layout.addWidget(widget)
    return box


class EvaluationCaptions:
    """The captions above the confusion matrix and the per-label table, naming the
    evaluation the selected run's figures come from (test split, validation split or
    cross-validation)."""

    def __init__(self) -> None:
        self.confusion = QLabel()
        self.per_label = QLabel()
        self.show(None)

    def show(self, metrics: dict[str, Any] | None) -> str:
        """Caption the figures of a run with these metrics; returns the evaluation's name."""
        name = evaluation_name(metrics)
        self.confusion.setText(f"<b>Confusion matrix ({name})</b>")
        self.per_label.setText(f"<b>Per label ({name})</b>")
        return name


def _captioned(caption: QLabel, widget: QWidget) -> QWidget:
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 4, 0, 0)
    layout.addWidget(caption)
    layout.addWidget(widget)
    return box


def results_layout(
    history: RunHistoryTable,
    metrics: MetricsTable,
    per_label: PerLabelTable,
    confusion: ConfusionMatrixView,
    below_metrics: QWidget | None = None,
    captions: EvaluationCaptions | None = None,
) -> QWidget:
    """Run history on top; metrics on the left, confusion matrix and per-label on the right."""
    caption = QLabel(
        "<b>Run history</b> — select a run to see its results; Ctrl+click a second run to "
        "compare the two side by side."
    )
    history.setMinimumHeight(110)
    top = QWidget()
    top_layout = QVBoxLayout(top)
    top_layout.setContentsMargins(0, 0, 0, 0)
    top_layout.addWidget(caption)
    top_layout.addWidget(history)
    right = QWidget()
    right_layout = QVBoxLayout(right)
    right_layout.setContentsMargins(0, 0, 0, 0)
    captions = captions or EvaluationCaptions()
    right_layout.addWidget(_captioned(captions.confusion, confusion))
    right_layout.addWidget(_captioned(captions.per_label, per_label), 1)
    lower = QSplitter(Qt.Horizontal)
    left = titled("Metrics", metrics)
    if below_metrics is not None:  # the plain summary and the words behind each label
        left.layout().addWidget(below_metrics)
    lower.addWidget(left)
    lower.addWidget(right)
    lower.setSizes([380, 480])
    outer = QSplitter(Qt.Vertical)
    outer.addWidget(top)
    outer.addWidget(lower)
    outer.setSizes([150, 600])
    page = QWidget()
    QVBoxLayout(page).addWidget(outer)
    return page
