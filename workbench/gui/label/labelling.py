"""What the Label panel's keys do: label, skip, flag, comment, accept, relabel, undo.

Every change is a core operation (:mod:`workbench.core.store.operations`) written with the
panel's :class:`~workbench.core.store.history.AnnotationHistory` and then pushed on its
``QUndoStack`` as a thin command; the panel then updates its counts from the operation's
:class:`~workbench.core.store.changes.Changes` and emits them with ``changed``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QAction

from workbench.core.errors import STORE_ERRORS
from workbench.core.store import operations, span_operations
from workbench.core.store.changes import Changes
from workbench.core.store.history import EditResult
from workbench.gui.label.annotation_commands import push_last_edit
from workbench.gui.label.record_view import annotation_html

if TYPE_CHECKING:
    from workbench.gui.label.label_panel import LabelPanel

__all__ = ["LabellingActions"]


class LabellingActions:
    """The labelling half of :class:`~workbench.gui.label.label_panel.LabelPanel`."""

    # ----------------------------------------------------------------- labelling
    def on_label_key(self: LabelPanel) -> None:
        act = self.sender()
        if isinstance(act, QAction):
            self.press_label(str(act.data()))

    def press_label(self: LabelPanel, name: str) -> None:
        """What a label key does: save and move on, or toggle (multi-label)."""
        if self.current is None or self.project is None:
            return
        if self.spans_mode:
            self.span_label(name)
            return
        if self.project.multi_label:
            self.selection = operations.toggled_labels(self.selection, name)
            self.label_buttons.set_checked(self.selection)
            if self.suggestion is not None:  # Enter now saves the choice, not the suggestion
                self.label_page.show_suggestion(self.suggestion, self.label_colors, self.can_accept())
            return
        self._save([name], "labelled")

    def save_selection(self: LabelPanel) -> None:
        """Enter: save the chosen labels (multi-label), else accept the suggestion; move on."""
        if self.current is None or self.project is None:
            return
        if self.spans_mode:
            self.span_enter()
            return
        if self.project.multi_label and self.selection:
            self._save(list(self.selection), "labelled")
            return
        if self.can_accept():
            self.accept_suggestion()
            return
        if self.project.multi_label:
            self.status_message.emit("Choose at least one label first (or S to skip).")
        else:
            self.status_message.emit("No suggestion for this record: press a label key.")

    def can_accept(self: LabelPanel) -> bool:
        # Chosen labels, or a label this annotator saved before, win over the suggestion.
        if self.suggestion is None or (self.project is not None and self.project.multi_label
                                       and self.selection):
            return False
        return self.mine is None or self.mine.status != "labelled"

    def accept_suggestion(self: LabelPanel) -> None:
        """Save the shown suggestion (provenance "accepted suggestion"), undoably; move on."""
        if self.current is None or self.project is None or not self.can_accept():
            return
        assert self.suggestion is not None
        self._save(list(self.suggestion.labels), "labelled", operations.ACCEPTED_PROVENANCE)

    def skip(self: LabelPanel) -> None:
        """Save the record as skipped and move on."""
        if self.current is not None:
            self._save([], "skipped")

    def flag(self: LabelPanel) -> None:
        """Flag the record for review (keeping any chosen labels) and move on."""
        if self.current is not None:
            self._save(list(self.selection), "flagged")

    def _save(self: LabelPanel, labels: list[str], status: str,
              provenance: str = "manual") -> bool:
        assert self.current is not None and self.project is not None
        comment = self._pending_comment
        if comment is None and self.mine is not None:
            comment = self.mine.comment
        record_id = self.current.id
        try:
            if self.spans_mode:  # skip / flag keep the spans marked so far
                spans = list(self.mine.spans) if self.mine is not None else []
                changes = self.write_spans(span_operations.set_spans, record_id, spans,
                                           status=status)
            else:
                changes = operations.annotate(
                    self.project, record_id, labels, annotator=self.annotator, status=status,
                    comment=comment, provenance=provenance, history=self.history,
                )
        except STORE_ERRORS as exc:
            self.status_message.emit(str(exc))
            return False
        self.after_change(changes)
        what = ", ".join(labels) if status == "labelled" else status
        if provenance != "manual":
            what += f" ({provenance})"
        self.status_message.emit(f"Saved record {record_id}: {what}")
        self.advance()
        return True

    # ----------------------------------------------------------------- after a change
    def after_change(self: LabelPanel, changes: Changes) -> None:
        """An operation was written: make it undoable, count it, tell the window."""
        if not changes:
            return
        push_last_edit(self.undo_stack, self.history, self._on_undo_redo)
        self.update_counts(changes)
        self.changed.emit(changes)

    def update_counts(self: LabelPanel, changes: Changes) -> None:
        self.counts.apply_steps(changes.steps, self.annotator)
        self.update_label_progress()
        if self.table_stale is False:
            self.browser.model.refresh_records([step.record_id for step in changes.steps])

    def _on_undo_redo(self: LabelPanel, result: EditResult, cause: str) -> None:
        for message in result.errors:
            self.status_message.emit(message)
        if not result.steps:
            return
        self.update_counts(result.changes)
        # Show the record that changed so the user sees the effect.
        for step in result.steps:
            self.nav.focus(step.record_id)
            self.show_record(step.record_id)
            new = step.after
            self.status_message.emit(
                f"{cause.capitalize()}: record {step.record_id} is now "
                + ("not annotated" if new is None else (", ".join(new.labels) or new.status))
            )
        self.changed.emit(result.changes)

    # ----------------------------------------------------------------- comments
    def begin_comment(self: LabelPanel) -> None:
        """Open the comment editor for the shown record."""
        if self.current is None:
            return
        for act in (*self.label_actions, self.act_skip, self.act_flag, self.act_save,
                    self.act_back, self.act_forward, self.act_comment):
            act.setEnabled(False)
        existing = self._pending_comment
        if existing is None and self.mine is not None:
            existing = self.mine.comment
        self.comment_edit.setText(existing or "")
        self.comment_edit.show()
        self.comment_edit.setFocus()

    def end_comment(self: LabelPanel) -> None:
        if self.comment_edit.isVisible():
            self.comment_edit.hide()
            self.update_label_actions()
            self.record_text.editor.setFocus()

    def save_comment(self: LabelPanel) -> None:
        if self.current is None or self.project is None:
            self.end_comment()
            return
        text = self.comment_edit.text().strip() or None
        if self.mine is None:
            # Nothing saved for this record yet: the comment goes with the label.
            self._pending_comment = text
            self.end_comment()
            self.annotation_label.setText(
                annotation_html(None, [], self.label_colors, pending_comment=text)
            )
            self.status_message.emit("The comment will be saved with your label.")
            return
        try:
            self.after_change(operations.comment(self.project, self.current.id, text,
                                          annotator=self.annotator, history=self.history))
        except STORE_ERRORS as exc:
            self.status_message.emit(str(exc))
        self.end_comment()
        self.show_record(self.current.id)
        self.status_message.emit(f"Comment saved on record {self.current.id}.")

    # ----------------------------------------------------------------- records table
    def relabel_requested(self: LabelPanel, ids: list, action: str, label: str) -> None:
        if self.project is None or not ids:
            return
        if self.spans_mode and action == "label":
            self.status_message.emit("Spans are labelled in the record: open it (Enter or "
                                     "double-click) and select its words.")
            return
        try:
            changes = operations.relabel_many(self.project, ids, action, label,
                                              annotator=self.annotator, history=self.history)
        except STORE_ERRORS as exc:
            self.status_message.emit(str(exc))
            return
        self.after_change(changes)
        if self.current is not None and self.current.id in ids:
            self.show_record(self.current.id)
        self.status_message.emit(f"Updated {len(ids)} record(s).")
