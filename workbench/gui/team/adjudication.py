"""The adjudication view: records where annotators disagree, their labels side by side.

The adjudicator picks the final label with a label button or its key (single-label: the
choice is saved at once and the next record is shown; multi-label: toggle labels, then
Enter or "Set final"). Every decision can be undone.
"""
from __future__ import annotations

import html
from collections import Counter
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent, QUndoCommand, QUndoStack
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from workbench.core import team
from workbench.core.errors import WorkbenchError
from workbench.core.store.project import default_annotator
from workbench.gui.widgets.label_buttons import LabelButtons

if TYPE_CHECKING:
    from workbench.core.store.project import Project
    from workbench.core.team import Disagreement, FinalLabel

__all__ = ["AdjudicationView", "FinalLabelCommand"]


class FinalLabelCommand(QUndoCommand):
    """Set (or clear, with ``labels=None``) a record's final label; undo restores it."""

    def __init__(
        self,
        view: AdjudicationView,
        record_id: int,
        labels: list[str] | None,
        adjudicator: str,
    ) -> None:
        super().__init__(f"final label of record {record_id}")
        self._view = view
        self._record_id = record_id
        self._labels = labels
        self._adjudicator = adjudicator
        self._before: FinalLabel | None = team.get_final(view.project, record_id)
        self._after: FinalLabel | None = None

    def redo(self) -> None:
        project = self._view.project
        if self._after is not None:
            team.restore_final(project, self._record_id, self._after)
        elif self._labels is None:
            team.clear_final(project, self._record_id)
        else:
            self._after = team.set_final(
                project, self._record_id, self._labels, adjudicator=self._adjudicator
            )
        self._view._final_saved(self._record_id)

    def undo(self) -> None:
        team.restore_final(self._view.project, self._record_id, self._before)
        self._view._final_saved(self._record_id)


class AdjudicationView(QWidget):
    """List of disagreements on the left; the selected record and its labels on the right."""

    final_changed = Signal(int)
    status_message = Signal(str)
    #: Double-clicking a record asks the window to show it in the Label panel.
    open_records = Signal(list)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project: Project | None = None
        self.adjudicator = default_annotator()
        self.undo_stack = QUndoStack(self)
        self._all: list[Disagreement] = []
        self._items: list[Disagreement] = []
        self._current: Disagreement | None = None
        self._shortcuts: dict[str, str] = {}

        self.record_list = QListWidget()
        self.record_list.setObjectName("adjudication-records")
        self.record_list.currentRowChanged.connect(self._on_row_changed)
        self.record_list.itemDoubleClicked.connect(self._on_double_clicked)
        self.record_list.setToolTip("Double-click to open the record in the Label panel")
        self.show_resolved = QCheckBox("Show adjudicated records")
        self.show_resolved.toggled.connect(self._rebuild_list)
        self.count_label = QLabel()
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.count_label)
        left_layout.addWidget(self.record_list, 1)
        left_layout.addWidget(self.show_resolved)

        self.text_view = QTextBrowser()
        self.text_view.setObjectName("adjudication-text")
        self.votes = QTableWidget(0, 2)
        self.votes.setHorizontalHeaderLabels(["Annotator", "Labels"])
        self.votes.verticalHeader().setVisible(False)
        self.votes.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.votes.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.votes.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.suggestion_label = QLabel()
        self.final_label = QLabel()
        self.final_label.setTextFormat(Qt.TextFormat.RichText)
        self.buttons = LabelButtons()
        self.buttons.label_clicked.connect(self._on_label_clicked)
        self.accept_button = QPushButton("Accept majority")
        self.accept_button.setToolTip("Make the majority's choice final (key M)")
        self.accept_button.clicked.connect(self.accept_majority)
        self.set_button = QPushButton("Set final")
        self.set_button.setToolTip("Save the checked labels as final (Enter)")
        self.set_button.clicked.connect(self.commit_checked)
        self.clear_button = QPushButton("Clear final")
        self.clear_button.clicked.connect(self.clear_current)
        self.undo_button = QPushButton("Undo")
        self.undo_button.clicked.connect(self.undo_stack.undo)
        self.undo_stack.canUndoChanged.connect(self.undo_button.setEnabled)
        self.undo_button.setEnabled(False)
        actions = QHBoxLayout()
        for w in (self.accept_button, self.set_button, self.clear_button, self.undo_button):
            actions.addWidget(w)
        actions.addStretch(1)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.text_view, 2)
        right_layout.addWidget(self.votes, 1)
        right_layout.addWidget(self.suggestion_label)
        right_layout.addWidget(self.final_label)
        right_layout.addWidget(self.buttons)
        right_layout.addLayout(actions)

        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([320, 680])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)
        for widget in (self.record_list, self.text_view, self.votes, self):
            widget.installEventFilter(self)
        self._show(None)

    # ----------------------------------------------------------------- data
    def set_project(self, project: Project | None) -> None:
        """Show a project's disagreements (None: nothing open). Clears undo."""
        self.project = project
        self.undo_stack.clear()
        self.adjudicator = default_annotator()
        self.reload_labels()

    def reload_labels(self) -> None:
        """Rebuild the label buttons (after the schema changed) and reload the list."""
        project = self.project
        if project is not None:
            labels = project.labels()
            self.buttons.set_labels(labels)
            self._shortcuts = {lab.shortcut.lower(): lab.name for lab in labels if lab.shortcut}
        else:
            self.buttons.set_labels([])
            self._shortcuts = {}
        self.set_button.setVisible(bool(project and project.multi_label))
        self.refresh()

    def refresh(self) -> None:
        """Reload the disagreements from the project, keeping the selected record."""
        if self.project is None:
            self._all = []
        else:
            self._all = team.disagreements(self.project, include_resolved=True)
        self._rebuild_list()

    def _rebuild_list(self) -> None:
        keep = self._current.record_id if self._current else None
        show_all = self.show_resolved.isChecked()
        self._items = [d for d in self._all if show_all or not d.resolved]
        self.record_list.blockSignals(True)
        self.record_list.clear()
        for d in self._items:
            text = " ".join(d.text.split())
            short = text if len(text) <= 60 else text[:57] + "…"
            mark = "✓ " if d.resolved else ""
            item = QListWidgetItem(f"{mark}#{d.record_id}  {short}")
            item.setData(Qt.ItemDataRole.UserRole, d.record_id)
            self.record_list.addItem(item)
        self.record_list.blockSignals(False)
        open_items = sum(1 for d in self._all if not d.resolved)
        self.count_label.setText(f"{open_items} record(s) to adjudicate")
        row = next((i for i, d in enumerate(self._items) if d.record_id == keep), 0)
        if self._items:
            self.record_list.setCurrentRow(row)
            self._show(self._items[row])
        else:
            self._show(None)

    def open_count(self) -> int:
        """Records that still need a decision."""
        return sum(1 for d in self._all if not d.resolved)

    def current_record_id(self) -> int | None:
        return self._current.record_id if self._current else None

    def select_record(self, record_id: int) -> bool:
        """Show one record of the list; False if it is not in the list."""
        for i, d in enumerate(self._items):
            if d.record_id == record_id:
                self.record_list.setCurrentRow(i)
                return True
        return False

    def _on_double_clicked(self, item: QListWidgetItem) -> None:
        self.open_records.emit([int(item.data(Qt.ItemDataRole.UserRole))])

    def _on_row_changed(self, row: int) -> None:
        self._show(self._items[row] if 0 <= row < len(self._items) else None)

    def _show(self, d: Disagreement | None) -> None:
        self._current = d
        enabled = d is not None
        for w in (self.buttons, self.accept_button, self.set_button, self.clear_button):
            w.setEnabled(enabled)
        self.votes.setRowCount(0)
        if d is None:
            self.text_view.setPlainText("")
            self.suggestion_label.setText(
                "No disagreements: every record's annotators agree." if self.project else ""
            )
            self.final_label.setText("")
            self.buttons.set_checked([])
            return
        self.text_view.setPlainText(d.text)
        # Each label button shows how many annotators chose that label for this record.
        votes = Counter(name for names in d.by_annotator.values() for name in names)
        self.buttons.set_counts(votes)
        rows = [(a, ", ".join(v) or "—") for a, v in d.by_annotator.items()]
        for c in d.conflicts:
            who = c.annotator if c.kind == "annotation" else f"final by {c.annotator}"
            rows.append((f"{who} (from {c.source})", ", ".join(c.labels) or c.status))
        self.votes.setRowCount(len(rows))
        for i, (who, labels) in enumerate(rows):
            self.votes.setItem(i, 0, QTableWidgetItem(who))
            self.votes.setItem(i, 1, QTableWidgetItem(labels))
        if d.suggestion:
            self.suggestion_label.setText("Majority: " + ", ".join(d.suggestion))
        else:
            self.suggestion_label.setText("Majority: none (a tie)")
        self.accept_button.setEnabled(bool(d.suggestion))
        final = team.get_final(self.project, d.record_id) if self.project else None
        if final:
            self.final_label.setText(
                f"<b>Final:</b> {html.escape(', '.join(final.labels))} "
                f"<span style='color:gray'>by {html.escape(final.adjudicator or '?')}, "
                f"{html.escape(final.updated_at)}</span>"
            )
            self.buttons.set_checked(final.labels)
        else:
            self.final_label.setText("<b>Final:</b> not set")
            self.buttons.set_checked([])

    # ----------------------------------------------------------------- decisions
    def set_final_labels(self, labels: list[str] | None) -> bool:
        """Save the current record's final label(s) (``None`` clears); undoable."""
        if self.project is None or self._current is None:
            return False
        try:
            self.undo_stack.push(
                FinalLabelCommand(self, self._current.record_id, labels, self.adjudicator)
            )
        except WorkbenchError as exc:
            self.status_message.emit(str(exc))
            return False
        return True

    def _on_label_clicked(self, name: str) -> None:
        if self._current is None or self.project is None:
            return
        if self.project.multi_label:
            button = self.buttons.buttons[name]
            button.setChecked(not button.isChecked())
            return
        self._decide([name])

    def _decide(self, labels: list[str]) -> None:
        rid = self._current.record_id if self._current else None
        if rid is not None and self.set_final_labels(labels):
            self.status_message.emit(f"Record {rid}: final label {', '.join(labels)}.")
            self._advance_from(rid)

    def commit_checked(self) -> None:
        """Multi-label: save the checked labels as final."""
        names = [n for n, b in self.buttons.buttons.items() if b.isChecked()]
        if not names:
            self.status_message.emit("Check at least one label first.")
            return
        self._decide(names)

    def accept_majority(self) -> None:
        if self._current is not None and self._current.suggestion:
            self._decide(list(self._current.suggestion))

    def clear_current(self) -> None:
        if self._current is not None:
            self.set_final_labels(None)

    def _final_saved(self, record_id: int) -> None:
        # Update the one record in place: reloading every disagreement per key press
        # would be slow on large projects.
        final = team.get_final(self.project, record_id) if self.project else None
        for d in self._all:
            if d.record_id == record_id:
                d.final = final
        self._rebuild_list()
        self.select_record(record_id)
        self.final_changed.emit(record_id)

    def _advance_from(self, record_id: int) -> None:
        """After a decision, show the next record that still needs one."""
        ids = [d.record_id for d in self._items if not d.resolved]
        later = [i for i in ids if i > record_id] or ids
        if later:
            self.select_record(later[0])

    # ----------------------------------------------------------------- keys
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            if self._handle_key(event):
                return True
        return super().eventFilter(watched, event)

    def _handle_key(self, event: QKeyEvent) -> bool:
        if event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier & ~Qt.KeyboardModifier.ShiftModifier:
            return False
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.project is not None:
            if self.project.multi_label:
                self.commit_checked()
                return True
            return False
        text = event.text().lower()
        if not text:
            return False
        if text in self._shortcuts:
            self._on_label_clicked(self._shortcuts[text])
            return True
        if text == "m" and "m" not in self._shortcuts:
            self.accept_majority()
            return True
        return False
