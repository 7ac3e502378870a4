"""What the Label panel's keys do in a spans project.

* a label key: label the selection (snapped to whole words), or relabel the span under the
  caret, or label the word under the caret;
* Delete: remove the span under the caret (or every span inside the selection);
* Enter: accept the suggested span under the caret, else every shown suggestion; with no
  suggestion left, mark the record done and move on;
* Ctrl+E: label every occurrence of the current span's text in the project with its label
  (one undoable step).

Each is a core operation (:mod:`workbench.core.store.span_operations`), committed before
the view changes, written with the panel's history and pushed on its undo stack. Only the
spans are repainted after an edit: the record's text is not laid out again.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

from workbench.core.errors import STORE_ERRORS
from workbench.core.spans.span_comment import edit_with_comment
from workbench.core.store import span_operations as ops
from workbench.core.store.changes import Changes
from workbench.core.store.spans import Span
from workbench.gui.label.record_view import annotation_html

if TYPE_CHECKING:
    from workbench.gui.label.label_panel import LabelPanel

__all__ = ["SPAN_KEYS", "SpanLabellingActions", "span_keys_help"]

log = logging.getLogger(__name__)

SPAN_KEYS = {"delete": "Delete", "every": "Ctrl+E", "done": "Ctrl+Return"}


def span_keys_help() -> list[tuple[str, str]]:
    """(key, what it does) rows for a spans project's help pane (after the label keys)."""
    return [
        ("Mouse drag", "select words (snaps to whole words)"),
        ("Ctrl+Left / Ctrl+Right", "move by word; with Shift, extend the selection"),
        ("label key", "label the selection, or change the span under the caret"),
        ("Delete", "remove the span under the caret"),
        ("Enter", "accept the suggested (dashed) span under the caret, else all "
                  "suggestions; with none left, done: move on"),
        ("Ctrl+Enter", "done with this record: move on"),
        ("Ctrl+E", "label every occurrence of the current span's text in the project"),
        ("S / F", "skip / flag for review"), ("Alt+Left / Alt+Right", "back / forward"),
        ("Ctrl+Z / Ctrl+Shift+Z", "undo / redo"),
    ]


def _page_action(page: QWidget, text: str, keys: list[str], slot) -> QAction:
    act = QAction(text, page)
    act.setShortcuts([QKeySequence(k) for k in keys])
    act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
    act.triggered.connect(slot)
    page.addAction(act)
    act.setToolTip(f"{text} ({' / '.join(keys)})")
    act.setIconText(f"{text}  [{keys[0]}]")
    return act


class SpanLabellingActions:
    """The spans half of :class:`~workbench.gui.label.label_panel.LabelPanel`."""

    span_suggestions: list[tuple[Span, float]] = []

    @property
    def spans_mode(self: LabelPanel) -> bool:
        return self.project is not None and self.project.is_spans

    # ----------------------------------------------------------------- setup
    def build_span_actions(self: LabelPanel) -> None:
        page, bar = self.label_page, self.label_page.span_bar
        self.act_delete_span = _page_action(page, "Remove span", [SPAN_KEYS["delete"]],
                                            self.delete_span)
        self.act_every = _page_action(page, "Label every occurrence", [SPAN_KEYS["every"]],
                                      self.label_every_occurrence)
        self.act_done = _page_action(page, "Done", [SPAN_KEYS["done"], "Ctrl+Enter"],
                                     self.confirm_record)
        bar.every_button.setDefaultAction(self.act_every)
        bar.overlap_toggled.connect(self.set_overlap)
        self.record_text.span_editor.current_changed.connect(self.show_current_span)
        self.record_text.show_all_requested.connect(self.show_spans)
        self.span_suggestions = []

    def load_span_schema(self: LabelPanel) -> None:
        """Switch the page between the span editor and the plain one (project loaded)."""
        on = self.spans_mode
        self.record_text.set_span_mode(on)
        self.label_page.span_bar.setVisible(on)
        for act in (self.act_delete_span, self.act_every, self.act_done):
            act.setEnabled(on)
        if on:
            box = self.label_page.span_bar.overlap_box
            box.setChecked(bool(self.project.allow_overlapping_spans))

    # ----------------------------------------------------------------- display
    def show_spans(self: LabelPanel) -> None:
        """Paint the shown record's spans and the model's suggestions (no re-layout)."""
        editor = self.record_text.span_editor
        if not self.spans_mode or self.current is None:
            self.span_suggestions = []
            editor.set_spans([], [], self.label_colors)
            return
        mine = list(self.mine.spans) if self.mine is not None else []
        suggested: list[tuple[Span, float]] = []
        try:
            from workbench.core.assist.span_suggestions import span_suggestions

            suggested = [(s, p) for s, p in span_suggestions(self.project, self.current.id)
                         if s not in mine]
        except (*STORE_ERRORS, OSError, ValueError) as exc:
            log.warning("No span suggestions for record %s: %s", self.current.id, exc)
        self.span_suggestions = suggested
        editor.set_spans(mine, suggested, self.label_colors)
        self.show_current_span(editor.current)

    def show_current_span(self: LabelPanel, span: Span | None) -> None:
        editor = self.record_text.span_editor
        suggestion = editor.suggestion_at_caret() if span is None else None
        self.label_page.span_bar.show_current(span, editor.text, suggestion)

    def after_span_edit(self: LabelPanel, changes: Changes, message: str) -> None:
        """An operation was written: undo step, counts, repaint the spans, say what."""
        self.after_change(changes)
        if self.current is not None and self.project is not None:
            self.mine = self.project.get_annotation(self.current.id, self.annotator)
            self.annotation_label.setText(annotation_html(self.mine, [], self.label_colors))
        self.show_spans()
        self.update_label_actions()
        self.status_message.emit(message)

    def write_spans(self: LabelPanel, fn, record_id: int, *args, **kwargs) -> Changes:
        """Run a span operation on the shown record; a comment typed (Ctrl+M) before the
        record had any annotation is saved with it, in the same undo step."""
        changes = edit_with_comment(self.project, fn, record_id, *args,
                                    comment=self._pending_comment, annotator=self.annotator,
                                    history=self.history, **kwargs)
        if any(step.record_id == record_id for step in changes.steps):
            self._pending_comment = None
        return changes

    def run_span_operation(self: LabelPanel, fn, *args, message: str, **kwargs) -> bool:
        try:
            changes = self.write_spans(fn, *args, **kwargs)
        except STORE_ERRORS as exc:
            self.status_message.emit(str(exc))
            return False
        self.after_span_edit(changes, message)
        return True

    # ----------------------------------------------------------------- keys
    def span_label(self: LabelPanel, name: str) -> None:
        """A label key in a spans project."""
        if self.current is None or self.project is None:
            return
        editor = self.record_text.span_editor
        rid = self.current.id
        found = editor.selected_range()
        if found is None:
            span = editor.span_at_caret()
            if span is not None:
                if span.label != name:
                    self.run_span_operation(ops.relabel_span, rid, span, name,
                              message=f"Record {rid}: {span.label} → {name}")
                return
            found = editor.word_at_caret()
            if found is None:
                self.status_message.emit("Select some words first (mouse, or Shift+Ctrl+Arrow).")
                return
        start, end = editor.snapped(*found)
        if end <= start:
            self.status_message.emit("The selection holds no word to label.")
            return
        same = [s for s in editor.spans if (s.start, s.end) == (start, end)]
        if same:
            if same[0].label != name:
                self.run_span_operation(ops.relabel_span, rid, same[0], name,
                          message=f"Record {rid}: {same[0].label} → {name}")
            editor.set_caret(start)
            return
        span = Span(start, end, name)
        if self.run_span_operation(ops.add_span, rid, span,
                     message=f"Record {rid}: “{editor.text[start:end]}” is {name}"):
            editor.set_caret(start)

    def delete_span(self: LabelPanel) -> None:
        """Delete: remove the span under the caret, or those inside the selection."""
        if not self.spans_mode or self.current is None:
            return
        editor = self.record_text.span_editor
        rid = self.current.id
        found = editor.selected_range()
        if found is not None:
            inside = [s for s in editor.spans if found[0] <= s.start and s.end <= found[1]]
            if inside:
                kept = [s for s in editor.spans if s not in inside]
                self.run_span_operation(ops.set_spans, rid, kept,
                          message=f"Record {rid}: removed {len(inside)} span(s)")
                return
        span = editor.span_at_caret()
        if span is None:
            self.status_message.emit("Put the caret on a span to remove it.")
            return
        self.run_span_operation(ops.remove_span, rid, span, message=f"Record {rid}: removed {span.label}")

    def span_enter(self: LabelPanel) -> None:
        """Enter: accept suggestions (the one under the caret, else all); else done."""
        if self.current is None or self.project is None:
            return
        editor = self.record_text.span_editor
        rid = self.current.id
        one = editor.suggestion_at_caret()
        chosen = [one] if one is not None else [s for s, _p in self.span_suggestions]
        if chosen:
            self.run_span_operation(ops.accept_span_suggestions, rid, chosen,
                      message=f"Record {rid}: accepted {len(chosen)} suggested span(s)")
            return
        self.confirm_record()

    def confirm_record(self: LabelPanel) -> None:
        """Mark the record done with the spans it has (none is fine) and move on."""
        if not self.spans_mode or self.current is None:
            return
        rid = self.current.id
        try:
            changes = self.write_spans(ops.confirm_spans, rid)
        except STORE_ERRORS as exc:
            self.status_message.emit(str(exc))
            return
        self.after_change(changes)
        n = len(self.mine.spans) if self.mine is not None else 0
        self.status_message.emit(f"Saved record {rid}: {n} span(s)")
        self.advance()

    def label_every_occurrence(self: LabelPanel) -> None:
        """Ctrl+E: the current span's text gets its label in every record (one undo step)."""
        if not self.spans_mode or self.current is None:
            return
        editor = self.record_text.span_editor
        span = editor.span_at_caret()
        if span is None:
            self.status_message.emit(
                "Put the caret on a span first: its text and label are used everywhere.")
            return
        words = editor.text[span.start:span.end]
        try:
            changes = ops.label_all_occurrences(self.project, words, span.label,
                                                annotator=self.annotator, history=self.history)
        except STORE_ERRORS as exc:
            self.status_message.emit(str(exc))
            return
        n = len(changes.record_ids or ())
        self.after_span_edit(changes, f"Labelled “{words}” as {span.label} in {n} record(s)")

    def set_overlap(self: LabelPanel, on: bool) -> None:
        """The overlap checkbox: allow or forbid overlapping spans in this project."""
        if not self.spans_mode:
            return
        box = self.label_page.span_bar.overlap_box
        try:
            changes = ops.set_allow_overlap(self.project, on)
        except STORE_ERRORS as exc:
            box.setChecked(not on)
            self.status_message.emit(str(exc))
            return
        self.changed.emit(changes)
        self.status_message.emit("Overlapping spans are " + ("allowed" if on else "off")
                                 + " in this project.")

