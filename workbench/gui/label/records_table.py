"""The records table: a windowed view over SQLite that stays fast on a million records.

:class:`RecordsTableModel` maps a row to a record id without loading rows: with no filter
and a gap-free id range the mapping is arithmetic (row ``r`` is id ``first + r``);
otherwise it keeps only the matching ids (8 bytes each, sorted). Row contents are fetched
a page at a time when the view asks for them and kept in a small LRU cache, so memory
stays flat while scrolling from top to bottom.

:class:`RecordsBrowser` adds the filters (label, status, annotator), full-text search,
and relabelling of the selected rows by key or context menu; the label panel connects
its signals to the same undo stack as the record view.
"""
from __future__ import annotations

import logging
from array import array
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from workbench.core.errors import DATABASE_ERRORS
from workbench.core.store.project import Label, Project
from workbench.core.store.record_queries import (
    ANYONE,
    RecordFilter,
    filtered_ids,
    record_id_range,
    table_rows,
)
from workbench.core.store.span_queries import span_counts
from workbench.gui.label.keys import label_shortcut_actions

__all__ = ["ANYONE", "RecordFilter", "RecordsTableModel", "RecordsBrowser", "STATUS_FILTERS"]

log = logging.getLogger(__name__)

PAGE_ROWS = 256
MAX_PAGES = 40
#: Characters of text kept per row; the view elides the rest.
TEXT_CHARS = 240
#: Status filter values and their captions.
STATUS_FILTERS = {
    "any": "Any status",
    "unannotated": "Not annotated",
    "annotated": "Annotated",
    "labelled": "Labelled",
    "skipped": "Skipped",
    "flagged": "Flagged",
}
_Index = QModelIndex | QPersistentModelIndex


def with_span_counts(project: Project, rows: list[tuple], ids: Sequence[int],
                     annotator: str) -> list[tuple]:
    """Rows whose label column says how many spans of each label the record has
    ("drug 2, dose 1"), in the label schema's order."""
    counts = span_counts(project, ids, annotator=annotator)
    order = {name: i for i, name in enumerate(project.label_names())}
    out = []
    for row in rows:
        found = counts.get(row[0], {})
        text = ", ".join(f"{name} {n}" for name, n in
                         sorted(found.items(), key=lambda kv: order.get(kv[0], len(order))))
        if not text and row[4] == "labelled":
            text = "(no entities)"
        out.append((row[0], row[1], text, *row[3:]))
    return out


class RecordsTableModel(QAbstractTableModel):
    """Records with the chosen annotator's annotation; rows fetched on demand."""

    COLUMNS = ("Text", "Label(s)", "Annotator", "Status", "Split", "Data")

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.project: Project | None = None
        self.filter = RecordFilter(annotator="")
        self._dense_first = 0  # > 0: row r is id _dense_first + r
        self.update_counts = 0
        self._ids = array("q")
        self._pages: OrderedDict[int, list[tuple]] = OrderedDict()

    # ----------------------------------------------------------------- setup
    def set_project(self, project: Project | None, annotator: str) -> None:
        """Show a project's records (all of them, no filter)."""
        self.project = project
        self.set_filter(RecordFilter(annotator=annotator))

    def set_filter(self, record_filter: RecordFilter) -> None:
        """Apply a filter (may take a moment for a filter matching a million records)."""
        self.beginResetModel()
        self.filter = record_filter
        self._pages.clear()
        self._ids = array("q")
        self._dense_first = 0
        self.update_counts = 0
        if self.project is not None:
            self._load_ids()
        self.endResetModel()

    def reload(self) -> None:
        """Re-run the current filter (e.g. after labels changed elsewhere)."""
        self.set_filter(self.filter)

    def _load_ids(self) -> None:
        assert self.project is not None
        if self.filter.is_empty():
            found = record_id_range(self.project)
            if found is None:
                return
            lo, hi, n = found
            if n == hi - lo + 1:
                self._dense_first, self.update_counts = lo, n
                return
        self._ids = array("q", filtered_ids(self.project, self.filter))
        self.update_counts = len(self._ids)

    # ----------------------------------------------------------------- row <-> id
    def record_id(self, row: int) -> int:
        """The record id shown in ``row``."""
        if self._dense_first:
            return self._dense_first + row
        return self._ids[row]

    def row_of(self, record_id: int) -> int | None:
        """The row showing ``record_id``, or None when the filter leaves it out."""
        if self._dense_first:
            row = record_id - self._dense_first
            return row if 0 <= row < self.update_counts else None
        row = bisect_left(self._ids, record_id)
        return row if row < len(self._ids) and self._ids[row] == record_id else None

    def cached_pages(self) -> int:
        """How many pages of rows are held in memory (for tests and benchmarks)."""
        return len(self._pages)

    # ----------------------------------------------------------------- data
    def _page(self, page: int) -> list[tuple]:
        rows = self._pages.get(page)
        if rows is not None:
            self._pages.move_to_end(page)
            return rows
        start = page * PAGE_ROWS
        ids = [self.record_id(r) for r in range(start, min(start + PAGE_ROWS, self.update_counts))]
        rows = self._fetch(ids)
        self._pages[page] = rows
        while len(self._pages) > MAX_PAGES:
            self._pages.popitem(last=False)
        return rows

    def _fetch(self, ids: Sequence[int]) -> list[tuple]:
        assert self.project is not None
        rows = list(table_rows(self.project, ids, self.filter.annotator, TEXT_CHARS))
        if self.project.is_spans and self.filter.annotator != ANYONE:
            rows = with_span_counts(self.project, rows, ids, self.filter.annotator)
        return rows

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self.update_counts

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or self.project is None:
            return None
        row, col = index.row(), index.column()
        if row >= self.update_counts:
            return None
        if role == Qt.ItemDataRole.UserRole:
            return self.record_id(row)
        if role == Qt.ItemDataRole.DisplayRole or (
            role == Qt.ItemDataRole.ToolTipRole and col == 0
        ):
            try:
                page = self._page(row // PAGE_ROWS)
            except DATABASE_ERRORS as exc:  # e.g. the project was closed under the view
                log.debug("Cannot read rows: %s", exc)
                return None
            return page[row % PAGE_ROWS][col + 1 if role == Qt.ItemDataRole.DisplayRole else 1]
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            if section == 1 and self.project is not None and self.project.is_spans:
                return "Spans"
            return self.COLUMNS[section]
        return str(self.record_id(section))

    def refresh_records(self, record_ids: Iterable[int]) -> None:
        """Re-read the rows of these records (their annotation changed)."""
        for rid in record_ids:
            row = self.row_of(rid)
            if row is None:
                continue
            self._pages.pop(row // PAGE_ROWS, None)
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.COLUMNS) - 1))


class RecordsBrowser(QWidget):
    """Filter bar, search box and the records table, with relabelling of selected rows."""

    #: A row was activated (double click / Enter): show this record in the record view.
    record_activated = Signal(int)
    #: Relabel request: (record ids, action, label) with action "label", "skip",
    #: "flag" or "clear" (label is "" unless the action is "label").
    relabel_requested = Signal(list, str, str)
    status_message = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = RecordsTableModel(self)
        self.annotator = ""
        self._labels: list[Label] = []
        self.label_actions: list[QAction] = []

        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("Search text (words, \"a phrase\", pre*)… Enter")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.returnPressed.connect(self.apply_filter)
        self.label_combo = QComboBox()
        self.status_combo = QComboBox()
        for key, caption in STATUS_FILTERS.items():
            self.status_combo.addItem(caption, key)
        self.annotator_combo = QComboBox()
        for combo in (self.label_combo, self.status_combo, self.annotator_combo):
            combo.activated.connect(self.apply_filter)
        self.count_label = QLabel()
        bar = QHBoxLayout()
        bar.addWidget(self.search_edit, 3)
        bar.addWidget(self.label_combo, 1)
        bar.addWidget(self.status_combo, 1)
        bar.addWidget(self.annotator_combo, 1)
        bar.addWidget(self.count_label)

        self.view = QTableView()
        self.view.setObjectName("recordsTable")
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setWordWrap(False)
        self.view.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.view.setAlternatingRowColors(True)
        vh = self.view.verticalHeader()
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vh.setDefaultSectionSize(self.view.fontMetrics().height() + 8)
        hh = self.view.horizontalHeader()
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col, width in ((1, 160), (2, 110), (3, 90), (4, 90), (5, 160)):
            hh.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive)
            self.view.setColumnWidth(col, width)
        self.view.activated.connect(self._on_activated)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._context_menu)

        for text, key, action in (
            ("Skip", "S", "skip"),
            ("Flag for review", "F", "flag"),
            ("Clear annotation", "Delete", "clear"),
        ):
            act = QAction(f"{text}", self.view)
            act.setShortcut(QKeySequence(key))
            act.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
            act.setData(action)
            act.triggered.connect(self._on_status_action)
            self.view.addAction(act)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.view, 1)
        hint = QLabel(
            "Double-click or Enter opens a record. Label keys, S, F and Delete relabel the "
            "selected rows; right-click for a menu. Changes can be undone (Ctrl+Z)."
        )
        hint.setWordWrap(True)
        hint.setStyleSheet("color: #666666;")
        layout.addWidget(hint)

    # ----------------------------------------------------------------- setup
    def set_project(self, project: Project | None, annotator: str, blind: bool) -> None:
        """Show a project (None: empty)."""
        self.annotator = annotator
        self._labels = project.labels() if project is not None else []
        self._fill_combos(project, blind)
        self._build_label_actions()
        self.model.set_project(project, annotator)
        self._update_count()

    def _fill_combos(self, project: Project | None, blind: bool) -> None:
        self.label_combo.clear()
        self.label_combo.addItem("Any label", None)
        for label in self._labels:
            self.label_combo.addItem(label.name, label.name)
        self.annotator_combo.clear()
        self.annotator_combo.addItem(f"Me ({self.annotator})", self.annotator)
        if project is not None and not blind:
            self.annotator_combo.addItem("Anyone", ANYONE)
            for name in project.annotators():
                if name != self.annotator:
                    self.annotator_combo.addItem(name, name)
        self.annotator_combo.setEnabled(self.annotator_combo.count() > 1)
        self.annotator_combo.setToolTip(
            "Other annotators' labels are hidden in this project (blind labelling)."
            if blind
            else "Whose annotations the table shows and filters on"
        )

    def _build_label_actions(self) -> None:
        self.label_actions = label_shortcut_actions(
            self.view, self.label_actions, self._labels,
            Qt.ShortcutContext.WidgetShortcut, self._on_label_action)

    # ----------------------------------------------------------------- filtering
    def current_filter(self) -> RecordFilter:
        return RecordFilter(
            annotator=self.annotator_combo.currentData() or self.annotator,
            label=self.label_combo.currentData(),
            status=self.status_combo.currentData() or "any",
            search=self.search_edit.text(),
        )

    def apply_filter(self) -> None:
        """Run the filter bar's query."""
        self.model.set_filter(self.current_filter())
        self._update_count()

    def _update_count(self) -> None:
        n = self.model.rowCount()
        self.count_label.setText(f"{n:,} record{'s' if n != 1 else ''}")

    def selected_ids(self) -> list[int]:
        """Record ids of the selected rows, in row order."""
        rows = sorted({i.row() for i in self.view.selectionModel().selectedRows()})
        if not rows and self.view.currentIndex().isValid():
            rows = [self.view.currentIndex().row()]
        return [self.model.record_id(r) for r in rows]

    def select_record(self, record_id: int) -> bool:
        """Select and scroll to a record's row; False when the filter hides it."""
        row = self.model.row_of(record_id)
        if row is None:
            return False
        index = self.model.index(row, 0)
        self.view.setCurrentIndex(index)
        self.view.scrollTo(index)
        return True

    # ----------------------------------------------------------------- actions
    def _on_activated(self, index: QModelIndex) -> None:
        if index.isValid():
            self.record_activated.emit(self.model.record_id(index.row()))

    def _emit_relabel(self, action: str, label: str = "") -> None:
        ids = self.selected_ids()
        if not ids:
            self.status_message.emit("Select one or more rows first.")
            return
        self.relabel_requested.emit(ids, action, label)

    def _on_label_action(self) -> None:
        act = self.sender()
        if isinstance(act, QAction):
            self._emit_relabel("label", str(act.data()))

    def _on_status_action(self) -> None:
        act = self.sender()
        if isinstance(act, QAction):
            self._emit_relabel(str(act.data()))

    def _context_menu(self, pos: Any) -> None:
        if not self.selected_ids():
            return
        menu = QMenu(self)
        open_act = menu.addAction("Open in record view")
        open_act.setData(("open", ""))
        sub = menu.addMenu("Label as")
        for label in self._labels:
            key = f"\t{label.shortcut.upper()}" if label.shortcut else ""
            act = sub.addAction(f"{label.name}{key}")
            act.setData(("label", label.name))
        menu.addSeparator()
        for text, action in (("Skip\tS", "skip"), ("Flag for review\tF", "flag"),
                             ("Clear annotation\tDel", "clear")):
            menu.addAction(text).setData((action, ""))
        chosen = menu.exec(self.view.viewport().mapToGlobal(pos))
        if chosen is None or not chosen.data():
            return
        action, label = chosen.data()
        if action == "open":
            self.record_activated.emit(self.selected_ids()[0])
        else:
            self._emit_relabel(action, label)
