"""Undoable annotation changes: thin ``QUndoCommand`` s over the core history.

The change itself, its transaction and its undo and redo are core operations
(:mod:`workbench.core.store.operations`, :class:`workbench.core.store.history.AnnotationHistory`).
An operation is written (and committed) with the history *before* its command is pushed,
so a failed write never leaves a command on the stack; the command's undo and redo call
the history, which puts back exact earlier or later annotations.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtGui import QUndoCommand, QUndoStack

from workbench.core.assist.suggestion_status import suggestion_status
from workbench.core.store.history import AnnotationHistory, EditResult
from workbench.core.store.operations import describe
from workbench.core.store.project import Project
from workbench.core.store.record_queries import AnnotatorCounts

if TYPE_CHECKING:
    from workbench.core.assist.suggestions import Suggestion

__all__ = [
    "HistoryCommand",
    "LabelCounts",
    "ResultCallback",
    "SuggestionLookup",
    "describe",
    "push_last_edit",
]

log = logging.getLogger(__name__)

#: Called after an undo or redo with what it did and the cause ("undo" or "redo").
ResultCallback = Callable[[EditResult, str], None]
#: One annotator's counts, kept up to date from each change (a core class).
LabelCounts = AnnotatorCounts


class HistoryCommand(QUndoCommand):
    """The last edit of an :class:`AnnotationHistory` on a ``QUndoStack``."""

    def __init__(self, history: AnnotationHistory, on_result: ResultCallback,
                 parent: QUndoCommand | None = None) -> None:
        super().__init__(history.undo_text(), parent)
        self.history = history
        self._on_result = on_result
        self._applied = True  # the operation wrote it already

    def redo(self) -> None:
        if self._applied:  # the first redo happens as QUndoStack.push(); already written
            self._applied = False
            return
        result = self.history.redo()
        if result is not None:
            self._on_result(result, "redo")

    def undo(self) -> None:
        result = self.history.undo()
        if result is not None:
            self._on_result(result, "undo")


def push_last_edit(stack: QUndoStack, history: AnnotationHistory,
                   on_result: ResultCallback) -> None:
    """Put the history's newest edit (just written) on the undo stack."""
    stack.push(HistoryCommand(history, on_result))


class SuggestionLookup:
    """The current model's suggestion for the shown record, cheap enough for every key press.

    Which model suggests (and its labels and thresholds) is resolved once and kept until
    :meth:`reset` (new predictions stored, project or labels changed); each record then
    costs one primary-key lookup of its stored prediction.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget the resolved model: the next lookup asks the project again."""
        self._resolved = False
        self.run_id: int | None = None
        self.suggester = ""
        self.status = ""

    def _resolve(self, project: Project) -> None:
        from workbench.core.assist import suggestions as assist

        self._resolved = True
        self.run_id = assist.prediction_run_id(project)
        self.suggester = assist.current_suggester(project)
        self.status = suggestion_status(project)

    def describe_suggester(self, project: Project | None) -> str:
        """A short sentence saying which model suggests ("" without a project)."""
        if project is None:
            return ""
        if not self._resolved:
            self._resolve(project)
        return self.status

    def get(self, project: Project | None, record_id: int) -> Suggestion | None:
        """The suggestion for one record, or ``None`` when the model has none for it.

        The same suggestion as :func:`workbench.core.assist.suggestions.suggestion_for`, without
        resolving the suggesting model again.
        """
        if project is None:
            return None
        if not self._resolved:
            self._resolve(project)
        if self.run_id is None:
            return None
        from workbench.core.assist import suggestions as assist

        preds = assist.load_predictions(project, self.run_id, [record_id])
        if preds is None or len(preds.ids) == 0 or not preds.labels:
            return None
        row = [float(p) for p in preds.probs[0]]
        names = preds.labels
        best = max(range(len(row)), key=row.__getitem__)
        if preds.multi_label:
            chosen = [n for n, p, t in zip(names, row, preds.thresholds, strict=False) if p >= t]
            confidence = sum(max(p, 1.0 - p) for p in row) / len(row)
            return assist.Suggestion(tuple(chosen or [names[best]]), confidence, self.suggester)
        return assist.Suggestion((names[best],), row[best], self.suggester)
