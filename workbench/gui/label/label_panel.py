"""The Label panel: keyboard-driven labelling of one record after another.

Keys (label keys from the label schema, 1-9 then letters): a label key saves (single-label)
or toggles (multi-label; Enter saves); Enter with nothing chosen accepts the suggestion
(provenance "accepted suggestion"); S skip, F flag, Ctrl+M comment, Alt+Left / PgUp back,
Alt+Right / PgDn forward, Ctrl+Z undo, Ctrl+Shift+Z (Ctrl+Y) redo, F1 guidelines, Ctrl+F search.
Every annotation is committed to the project file before the next record is shown; the
Records tab's relabelling goes through the same undo stack.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QKeySequence, QUndoStack
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from workbench.core.assist import navigation, queue
from workbench.core.errors import STORE_ERRORS, WorkbenchError
from workbench.core.project_operations import PREDICTIONS_STORED
from workbench.core.store.changes import Changes
from workbench.core.store.history import AnnotationHistory
from workbench.core.store.project import Annotation, Project, Record, default_annotator
from workbench.core.store.record_queries import AnnotatorCounts
from workbench.gui.label.annotation_commands import SuggestionLookup
from workbench.gui.label.keys import KEYS, RESERVED_LABEL_KEYS, label_shortcut_actions
from workbench.gui.label.label_buttons import (
    LabelPage,
    guidelines_html,
    keys_help,
    save_action_texts,
)
from workbench.gui.label.labelling import LabellingActions
from workbench.gui.label.queue_warmup import QueueWarmup
from workbench.gui.label.record_view import annotation_html
from workbench.gui.label.records_table import RecordsBrowser
from workbench.gui.label.span_labelling import SpanLabellingActions, span_keys_help
from workbench.gui.label.suggestion_explainer import SuggestionExplainer
from workbench.gui.label.trained_suggestions import TrainedSuggestions
from workbench.gui.widgets.panel import ChangesListener

__all__ = ["LabelPanel", "RESERVED_LABEL_KEYS", "KEYS"]

log = logging.getLogger(__name__)

class LabelPanel(ChangesListener, LabellingActions, SpanLabellingActions, QWidget):
    """Label records with the keyboard; see the module docstring for the keys."""

    status_message = Signal(str)
    open_records = Signal(list)
    #: Annotations were changed here (saved, relabelled, undone): a Changes value.
    changed = Signal(object)
    #: (records this annotator labelled, records in the project)
    progress_changed = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project: Project | None = None
        self.annotator = default_annotator()
        self.undo_stack = QUndoStack(self)
        self.history = AnnotationHistory()
        self.counts = AnnotatorCounts()
        self.current: Record | None = None
        self.mine: Annotation | None = None
        self.selection: list[str] = []  # multi-label choice not yet saved
        self.suggestions = SuggestionLookup()
        self.suggestion = None  # the shown record's suggestion (workbench.core.assist.suggestions)
        self._pending_comment: str | None = None
        self.nav = navigation.RecordNavigator()
        self._blind = True
        self.label_colors: dict[str, str] = {}
        self.label_actions: list[QAction] = []
        self.table_stale = True
        self._build_ui()
        self._build_actions()
        self.set_project(None)

    # ----------------------------------------------------------------- layout
    def _build_ui(self) -> None:
        self.queue_combo = QComboBox()
        self.queue_combo.setToolTip("Which record comes next")
        self.queue_combo.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.queue_combo.activated.connect(self._on_strategy_chosen)
        self.progress_label = QLabel()
        self.progress_label.setObjectName("progressLabel")
        self.back_button = QToolButton()
        self.forward_button = QToolButton()
        self.undo_button = QToolButton()
        self.redo_button = QToolButton()
        top = QHBoxLayout()
        top.addWidget(QLabel("Queue:"))
        top.addWidget(self.queue_combo)
        top.addSpacing(12)
        top.addWidget(self.progress_label, 1)
        for button in (self.back_button, self.forward_button, self.undo_button, self.redo_button):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            top.addWidget(button)

        # Label page: text on the left, metadata / counts / guidelines on the right.
        page = self.label_page = LabelPage()
        self.record_text, self.meta_form = page.record_text, page.meta_form
        self.explainer = SuggestionExplainer(self.record_text.editor, self)
        self.warmup = QueueWarmup(self)  # the diverse queue's embeddings, in the background
        self.trained = TrainedSuggestions(self, current=lambda: self.project)  # after training
        self.trained.status.connect(self.status_message)
        self.trained.stored.connect(self.reload_suggestion)
        self.trained.stored.connect(lambda: self.changed.emit(PREDICTIONS_STORED))
        self.annotation_label, self.suggestion_label = page.annotation_label, page.suggestion_label
        self.comment_edit, self.label_buttons = page.comment_edit, page.label_buttons
        self.counts_view, self.help_view = page.counts_view, page.help_view
        self.suggester_label = page.counts_view.suggester
        self.skip_button, self.flag_button = page.skip_button, page.flag_button
        self.comment_button, self.save_button = page.comment_button, page.save_button
        self.help_button, self.splitter = page.help_button, page.splitter
        self.comment_edit.returnPressed.connect(self.save_comment)
        self.comment_edit.cancelled.connect(self.end_comment)
        self.label_buttons.label_clicked.connect(self.press_label)

        self.browser = RecordsBrowser()
        self.browser.record_activated.connect(self.open_record)
        self.browser.relabel_requested.connect(self.relabel_requested)
        self.browser.status_message.connect(self.status_message)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.label_page, "Record")
        self.tabs.addTab(self.browser, "Records table")
        self.tabs.currentChanged.connect(self._on_tab_changed)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.tabs, 1)

    def _action(self, text: str, keys: Sequence[str], slot, owner: QWidget) -> QAction:
        act = QAction(text, owner)
        act.setShortcuts([QKeySequence(k) for k in keys])
        act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        act.triggered.connect(slot)
        owner.addAction(act)
        shown = " / ".join(QKeySequence(k).toString(QKeySequence.SequenceFormat.NativeText)
                           for k in keys)
        act.setToolTip(f"{text} ({shown})")
        first = QKeySequence(keys[0]).toString(QKeySequence.SequenceFormat.NativeText)
        act.setIconText(f"{text}  [{first}]")
        return act

    def _build_actions(self) -> None:
        page = self.label_page
        self.act_skip = self._action("Skip", [KEYS["skip"]], self.skip, page)
        self.act_flag = self._action("Flag for review", [KEYS["flag"]], self.flag, page)
        self.act_comment = self._action("Comment", [KEYS["comment"]], self.begin_comment, page)
        self.act_save = self._action(
            "Accept suggestion", [KEYS["save"], "Enter"], self.save_selection, page
        )
        self.act_back = self._action("Back", [KEYS["back"], KEYS["back2"]], self.go_back, page)
        self.act_forward = self._action(
            "Forward", [KEYS["forward"], KEYS["forward2"]], self.go_forward, page
        )
        self.act_help = self._action("Guidelines", [KEYS["help"]], self.toggle_help, self)
        self.act_find = self._action("Search records", [KEYS["find"]], self.focus_search, self)
        self.act_undo = self._action("Undo", [KEYS["undo"]], self.undo_stack.undo, self)
        self.act_redo = self._action(
            "Redo", [KEYS["redo"], KEYS["redo2"]], self.undo_stack.redo, self
        )
        self.undo_stack.canUndoChanged.connect(self.act_undo.setEnabled)
        self.undo_stack.canRedoChanged.connect(self.act_redo.setEnabled)
        self.act_undo.setEnabled(False)
        self.act_redo.setEnabled(False)
        pairs = (
            (self.skip_button, self.act_skip), (self.flag_button, self.act_flag),
            (self.comment_button, self.act_comment), (self.save_button, self.act_save),
            (self.back_button, self.act_back), (self.forward_button, self.act_forward),
            (self.undo_button, self.act_undo), (self.redo_button, self.act_redo),
            (self.help_button, self.act_help),
        )
        for button, act in pairs:
            button.setDefaultAction(act)
        self.build_span_actions()

    # ----------------------------------------------------------------- project
    def set_project(self, project: Project | None) -> None:
        """Show a project (None: nothing open). Clears history and undo."""
        self.project = project
        self._pending_changes = None
        self.suggestions.reset()
        self.undo_stack.clear()
        self.history.set_project(project)
        self.nav.reset()
        self.current = None
        self.mine = None
        self.queue_combo.clear()
        for i, name in enumerate(navigation.available_strategies(project)):
            self.queue_combo.addItem(name)  # a span project: its own model-driven order
            tip = navigation.get_strategy(name, project).description
            self.queue_combo.setItemData(i, tip, Qt.ItemDataRole.ToolTipRole)
        if project is not None:
            queue.invalidate(project)
        self._load_schema()
        self.table_stale = True
        if self.tabs.currentWidget() is self.browser:
            self._refresh_table()
        else:
            self.browser.model.set_project(None, self.annotator)  # load when shown
        if project is not None:
            self.advance()
        else:
            self.show_record(None)

    def set_annotator(self, name: str) -> None:
        """Label as another annotator (e.g. after Preferences changed the name)."""
        name = name.strip()
        if name and name != self.annotator:
            self.annotator = name
            self.set_project(self.project)

    def set_font_size(self, points: int) -> None:
        """Reading font size of the record text."""
        self.record_text.set_font_size(points)

    def shutdown(self) -> None:
        """Wait for a running word explanation or suggestion job (on quit)."""
        self.explainer.shutdown()
        self.warmup.shutdown()
        self.trained.shutdown()

    def _refresh_now(self, changes: Changes) -> None:
        """Changes made elsewhere: the counts (the window's progress) and the shown record
        stay current even while the panel is hidden; the records table reloads when shown."""
        if self.project is None:
            return
        if (changes.predictions or changes.runs) and not (
                changes.label_schema or changes.records or changes.settings):
            self.reload_suggestion()
            if changes.runs:
                self.trained.check(self.project)
        if changes.label_schema or changes.records or changes.settings \
                or changes.record_ids is None:
            self._reload()
        elif changes.annotations:
            self.update_counts(changes)
            if self.current is not None and self.current.id in (changes.record_ids or ()):
                self.show_record(self.current.id)

    def _reload(self) -> None:
        """Reload labels, counts and the shown record (data or labels changed elsewhere)."""
        assert self.project is not None
        self.project.reload_labels()
        self.suggestions.reset()
        queue.invalidate(self.project)
        self._load_schema()
        self.table_stale = True
        if self.tabs.currentWidget() is self.browser:
            self._refresh_table()
        if self.current is not None:
            self.show_record(self.current.id)
        else:
            self.advance()

    def _load_schema(self) -> None:
        project = self.project
        labels = project.labels() if project is not None else []
        self.label_colors = {lab.name: lab.color for lab in labels}
        self._blind = project is None or (project.get_meta("blind", "1") or "1") != "0"
        if project is not None:
            self.counts.load(project, self.annotator)
        else:
            self.counts.clear()
        self.label_buttons.set_labels(labels, self.counts.by_label)
        self.counts_view.set_labels(labels)
        self.label_actions = label_shortcut_actions(
            self.label_page, self.label_actions, labels,
            Qt.ShortcutContext.WidgetWithChildrenShortcut, self.on_label_key)
        multi = project is not None and project.multi_label
        self.load_span_schema()
        self._set_save_texts(multi)
        keys = keys_help(labels, multi)
        if self.spans_mode:  # the label keys, then the span editor's keys
            keys = [k for k in keys if k[1].startswith("label ")] + span_keys_help()
        self.help_view.setHtml(guidelines_html(labels, keys))
        self.update_label_progress()

    def _set_save_texts(self, multi: bool) -> None:
        enter = " / ".join(QKeySequence(k).toString(QKeySequence.SequenceFormat.NativeText)
                           for k in (KEYS["save"], "Enter"))
        text, tip = save_action_texts(multi, self.spans_mode)
        self.act_save.setText(text)
        self.act_save.setIconText(f"{text}  [{QKeySequence(KEYS['save']).toString()}]")
        self.act_save.setToolTip(f"{tip} ({enter})")
        self._show_suggester()

    def _show_suggester(self) -> None:
        text = self.suggestions.describe_suggester(self.project) if not self.spans_mode else (
            "the newest trained model's spans, dashed (Enter accepts)")
        self.suggester_label.setText(f"Suggestions: {text}" if text else "")
        self.suggester_label.setToolTip(text)
        # Single-label projects need Enter only to accept suggestions: no model, no button.
        multi = self.project is not None and self.project.multi_label
        show = multi or self.spans_mode or self.suggestions.run_id is not None
        self.act_save.setVisible(show)
        self.save_button.setVisible(show)

    def reload_suggestion(self) -> None:
        """Re-read which model suggests and the shown record's suggestion (new predictions)."""
        self.suggestions.reset()
        self._show_suggester()
        self._show_suggestion()
        self.show_spans()
        self.update_label_actions()

    def _on_strategy_chosen(self, index: int) -> None:
        name = self.queue_combo.itemText(index)
        if self.project is None or name == self.nav.strategy.name:
            return
        try:
            self.nav.set_strategy(self.warmup.prepare(navigation.get_strategy(name, self.project),
                                                      self.project, self.nav, self.annotator))
        except STORE_ERRORS as exc:
            self.status_message.emit(str(exc))
            return
        self.status_message.emit(f"Queue order: {name}")
        if self.current is None:
            self.advance()
        self.record_text.editor.setFocus()

    # ----------------------------------------------------------------- navigation
    def show_records(self, ids: Sequence[int]) -> None:
        """Show these records first (the first one now), then continue with the queue."""
        ids = [int(i) for i in ids]
        if not ids or self.project is None:
            return
        self.tabs.setCurrentWidget(self.label_page)
        self.nav.show_first(ids, requeue_current=self._current_undone())
        self.show_record(self.nav.current)

    def open_record(self, record_id: int) -> None:
        """Show one record now (e.g. from the records table), keeping the history."""
        if self.project is None:
            return
        self.tabs.setCurrentWidget(self.label_page)
        self.nav.open(record_id, requeue_current=self._current_undone())
        self.show_record(self.nav.current)

    def _current_undone(self) -> bool:
        # A queue record left without an annotation comes back after the ones opened.
        return self.current is not None and self.mine is None

    def advance(self) -> None:
        """Move to the next record: forward through history, else the next queue record."""
        if self.project is None:
            return
        try:
            record_id = self.nav.next(self.project, self.annotator)
        except STORE_ERRORS as exc:
            self.status_message.emit(str(exc))
            record_id = None
        self.show_record(record_id)

    def go_back(self) -> None:
        """Show the record seen before this one."""
        if self.nav.can_go_back():
            self.show_record(self.nav.back())

    def go_forward(self) -> None:
        """Show the next record seen (or the next one in the queue, leaving this one as is)."""
        self.advance()

    # ----------------------------------------------------------------- display
    def show_record(self, record_id: int | None) -> None:
        project = self.project
        self.selection = []
        self._pending_comment = None
        self.end_comment()
        record = None
        if project is not None and record_id is not None:
            try:
                record = project.get_record(record_id)
            except WorkbenchError:
                record = None  # deleted meanwhile
        self.current = record
        if record is None or project is None:
            self.mine = None
            self.record_text.set_record(None, self._done_text())
            if project is not None:  # finished: the suggestion line says so too
                self.suggestions.reset()
                self._show_suggester()
            self.meta_form.set_record(None)
            self.annotation_label.setText("")
            self.label_buttons.set_checked(())
        else:
            self.mine = project.get_annotation(record.id, self.annotator)
            others = []
            if not self._blind:
                others = [a for a in project.annotations_for(record.id)
                          if a.annotator != self.annotator]
            where = f"{self.nav.pos + 1} of {len(self.nav.history)} seen"
            self.record_text.set_record(record, f"Record {record.id}  ·  {where}")
            self.meta_form.set_record(record)
            self.annotation_label.setText(annotation_html(self.mine, others, self.label_colors))
            if self.mine is not None:
                self.selection = list(self.mine.labels)
            self.label_buttons.set_checked(self.selection)
            self.record_text.editor.setFocus()
        self._show_suggestion()
        self.show_spans()
        self.update_label_actions()

    def _show_suggestion(self) -> None:
        """Show the model's suggestion for the shown record (one stored-prediction lookup)."""
        record = self.current
        suggestion = None
        if record is not None and self.project is not None and not self.spans_mode:
            try:
                suggestion = self.suggestions.get(self.project, record.id)
            except (*STORE_ERRORS, OSError, ValueError) as exc:
                log.warning("No suggestion for record %s: %s", record.id, exc)
        self.suggestion = suggestion
        self.label_page.show_suggestion(suggestion, self.label_colors, self.can_accept())
        self.explainer.schedule(self.project, self.suggestions.run_id,
                                record.text if record is not None else None,
                                suggestion.labels if suggestion is not None else ())

    def _done_text(self) -> str:
        if self.project is None:
            return "Open or create a project to start labelling."
        note = None
        try:
            from workbench.core.team import assignment_note

            note = assignment_note(self.project, self.annotator)
        except ImportError:
            pass
        text = "No more records in this queue: every record has your annotation."
        if note:
            text += " " + note
        return (text + " Use Back, or the Records table, to review.\n\nWhat next: train a model "
                "(Train tab), check the labels (Review tab), or import more records (File > Import).")

    def update_label_actions(self) -> None:
        has = self.current is not None
        for act in (self.act_skip, self.act_flag, self.act_comment, *self.label_actions):
            act.setEnabled(has)
        multi = self.project is not None and self.project.multi_label
        self.act_save.setEnabled(has and (multi or self.spans_mode or self.can_accept()))
        self.label_buttons.setEnabled(has)
        self.act_back.setEnabled(self.nav.can_go_back())
        self.act_forward.setEnabled(self.project is not None)

    def update_label_progress(self) -> None:
        total = self.counts.total  # counted when the project was loaded or refreshed
        labelled = self.counts.labelled
        self.progress_label.setText(f"Labelled <b>{labelled:,}</b> of {total:,}")
        by_status = self.counts.by_status
        self.counts_view.set_counts(labelled, total, by_status.get("skipped", 0),
                                    by_status.get("flagged", 0), self.counts.by_label)
        self.label_buttons.set_counts(self.counts.by_label)
        self.progress_changed.emit(labelled, total)

    # ----------------------------------------------------------------- table
    def _on_tab_changed(self, index: int) -> None:
        if self.tabs.widget(index) is self.browser and self.table_stale:
            self._refresh_table()
            if self.current is not None:
                self.browser.select_record(self.current.id)
        elif self.tabs.widget(index) is self.label_page:
            self.record_text.editor.setFocus()

    def _refresh_table(self) -> None:
        self.browser.set_project(self.project, self.annotator, self._blind)
        self.table_stale = False

    def focus_search(self) -> None:
        """Ctrl+F: go to the records table and its search box."""
        self.tabs.setCurrentWidget(self.browser)
        self.browser.search_edit.setFocus()
        self.browser.search_edit.selectAll()

    def toggle_help(self) -> None:
        """F1: bring the guidelines pane up (shown, with room); pressed again, hide it."""
        raised = getattr(self, "_help_raised", False)
        if self.help_view.isHidden() or not raised:
            self.help_view.show()
            side = self.help_view.parentWidget()
            if hasattr(side, "sizes") and self.help_view.height() < 120:
                sizes = side.sizes()
                sizes[-1] = max(sizes[-1], sum(sizes) // 2)
                side.setSizes(sizes)
            self._help_raised = True
        else:
            self.help_view.hide()
            self._help_raised = False
