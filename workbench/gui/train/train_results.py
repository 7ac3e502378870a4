"""Results of training runs: run history, metrics side by side, per-label table and a
clickable confusion matrix that opens the records behind each cell.
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
from collections import defaultdict
from typing import TYPE_CHECKING, Any

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

from workbench.core.training.models import describe_base_model
from workbench.gui.train.train_charts import RotatedHeader

if TYPE_CHECKING:
    from workbench.core.store.project import Project

__all__ = [
    "RunHistoryTable",
    "MetricsTable",
    "PerLabelTable",
    "ConfusionMatrixView",
    "cell_records",
    "run_duration_s",
    "titled",
    "results_layout",
]

log = logging.getLogger(__name__)

_CORRECT = QColor("#0072B2")
_WRONG = QColor("#D55E00")


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


def _parse_predicted(raw: Any, multi_label: bool) -> list[str]:
    """The predicted label(s) stored in the ``predictions`` table ('a|b' when multi-label)."""
    if raw is None or raw == "":
        return []
    text = str(raw)
    if text.startswith("["):
        try:
            return [str(x) for x in json.loads(text)]
        except ValueError:
            pass
    return text.split("|") if multi_label else [text]


def cell_records(project: Project, run_id: int) -> dict[tuple[str, str], list[int]]:
    """Record ids behind each confusion-matrix cell of a run's test predictions.

    Single-label: key ``(true label, predicted label)``. Multi-label: key
    ``(label, kind)`` with kind ``"correct"``, ``"missed"`` or ``"false alarm"``.
    The true labels are the project's final labels (see ``workbench.core.store.snapshot``).
    """
    from workbench.core.store import snapshot

    rows = project.db.execute(
        "SELECT record_id, label FROM predictions WHERE run_id = ? ORDER BY record_id",
        [run_id],
    ).fetchall()
    if not rows:
        return {}
    if hasattr(snapshot, "resolve_label_map"):  # labels only, no texts: cheap on big projects
        truth = snapshot.resolve_label_map(project)
    else:
        truth = {rid: labels for rid, _t, labels, _s in snapshot.resolve_labels(project).examples}
    cells: dict[tuple[str, str], list[int]] = defaultdict(list)
    multi = project.multi_label
    for rid, raw in rows:
        if rid not in truth:
            continue  # unlabelled since the run, or now a tie
        true, predicted = set(truth[rid]), set(_parse_predicted(raw, multi))
        if not multi:
            if true and predicted:
                cells[(next(iter(true)), next(iter(predicted)))].append(rid)
            continue
        for name in true | predicted:
            kind = "correct" if name in true and name in predicted else (
                "missed" if name in true else "false alarm"
            )
            cells[(name, kind)].append(rid)
    return dict(cells)


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
            if any(v is not None for v in values):
                rows.append((title, values, False))
        rows.append(("Device", [r.get("device") for r in runs], False))
        rows.append(("Test records", [m.get("n") for m in metrics], False))
        rows.append(("Duration", [format_duration(run_duration_s(r)) for r in runs], False))

        compare = len(runs) == 2
        headers = [f"Run #{r['id']}" for r in runs]
        if compare:
            headers.append(f"#{runs[0]['id']} − #{runs[1]['id']}")
        self.setColumnCount(len(headers))
        self.setHorizontalHeaderLabels(headers)
        self.setRowCount(len(rows))
        self.setVerticalHeaderLabels([title for title, _, _ in rows])
        for row, (_title, values, is_metric) in enumerate(rows):
            for col, value in enumerate(values):
                text = _fmt(value, 3 if is_metric else 0)
                self.setItem(row, col, _item(text, align_right=is_metric))
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


# --------------------------------------------------------------------------- confusion matrix
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
    ) -> None:
        """Draw the matrix from the records behind each cell (or the stored counts)."""
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
                "One row per label on the test split. Click a cell to open its records "
                "in the Label panel."
            )
        else:
            self.caption.setText(
                "Rows: the label given by annotators · Columns: the model's prediction, on the "
                "test split. Off-diagonal cells are mistakes: click one to open those records "
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


def titled(title: str, widget: QWidget) -> QWidget:
    """``widget`` under a bold caption."""
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 4, 0, 0)
    layout.addWidget(QLabel(f"<b>{title}</b>"))
    layout.addWidget(widget)
    return box


def results_layout(
    history: RunHistoryTable,
    metrics: MetricsTable,
    per_label: PerLabelTable,
    confusion: ConfusionMatrixView,
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
    right_layout.addWidget(titled("Confusion matrix (test split)", confusion))
    right_layout.addWidget(titled("Per label (test split)", per_label), 1)
    lower = QSplitter(Qt.Horizontal)
    lower.addWidget(titled("Metrics", metrics))
    lower.addWidget(right)
    lower.setSizes([380, 480])
    outer = QSplitter(Qt.Vertical)
    outer.addWidget(top)
    outer.addWidget(lower)
    outer.setSizes([150, 600])
    page = QWidget()
    QVBoxLayout(page).addWidget(outer)
    return page
