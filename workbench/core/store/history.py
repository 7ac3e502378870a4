"""Undo and redo of annotation operations, without Qt.

An operation of :mod:`workbench.core.store.operations` given a history records an
:class:`AnnotationEdit`: its undo text and, per record, the annotation before and after.
Undo writes every ``before`` back, redo every ``after``, with
:meth:`Project.restore_annotation`, so that exact earlier states come back, timestamps
included. The GUI's ``QUndoStack`` holds thin commands that call :meth:`AnnotationHistory.undo`
and :meth:`AnnotationHistory.redo`.
"""
from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass

from workbench.core.errors import WorkbenchError
from workbench.core.store.changes import AnnotationStep, Changes
from workbench.core.store.project import Project

__all__ = ["AnnotationEdit", "AnnotationHistory", "EditResult", "put_steps"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnnotationEdit:
    """One undoable user action: some annotations going from before to after."""

    text: str
    steps: tuple[AnnotationStep, ...]


@dataclass(frozen=True)
class EditResult:
    """What an undo or redo did: the transitions written (``after`` as now stored), the
    changes, and a readable message per record that could not be put back."""

    steps: tuple[AnnotationStep, ...]
    changes: Changes
    errors: tuple[str, ...] = ()


def put_steps(project: Project, steps: tuple[AnnotationStep, ...], cause: str) -> EditResult:
    """Write each step's ``after`` state in one transaction; a step that cannot be written
    (e.g. a label it needs was deleted since) is left out and reported, the others land."""
    done: list[AnnotationStep] = []
    errors: list[str] = []
    with project.db.atomic():
        for step in steps:
            try:
                with project.db.atomic():  # a savepoint: a failed step leaves no trace
                    project.restore_annotation(step.record_id, step.annotator, step.after)
            except (WorkbenchError, sqlite3.Error) as exc:
                log.warning("Cannot %s record %s: %s", cause, step.record_id, exc)
                errors.append(f"Cannot {cause} the change to record {step.record_id}: {exc}")
                continue
            current = project.get_annotation(step.record_id, step.annotator)
            done.append(AnnotationStep(step.record_id, step.annotator, step.before, current))
    return EditResult(tuple(done), Changes.of_annotations(done), tuple(errors))


class AnnotationHistory:
    """The undo and redo history of one project's annotation operations."""

    def __init__(self, project: Project | None = None) -> None:
        self.project = project
        self._done: list[AnnotationEdit] = []
        self._undone: list[AnnotationEdit] = []

    def set_project(self, project: Project | None) -> None:
        """Follow another project; the history starts empty."""
        self.project = project
        self.clear()

    def clear(self) -> None:
        self._done.clear()
        self._undone.clear()

    def record(self, text: str, steps: tuple[AnnotationStep, ...]) -> AnnotationEdit:
        """Add an edit that was just written; whatever could be redone is dropped."""
        edit = AnnotationEdit(text, steps)
        self._done.append(edit)
        self._undone.clear()
        return edit

    def can_undo(self) -> bool:
        return bool(self._done)

    def can_redo(self) -> bool:
        return bool(self._undone)

    def undo_text(self) -> str:
        return self._done[-1].text if self._done else ""

    def redo_text(self) -> str:
        return self._undone[-1].text if self._undone else ""

    def last_edit(self) -> AnnotationEdit | None:
        """The edit an undo would revert."""
        return self._done[-1] if self._done else None

    def undo(self) -> EditResult | None:
        """Put back the state before the last edit (``None`` when there is nothing to undo).

        The edit moves to the redo side even when some record could not be put back, so
        that the history stays in step with a GUI undo stack; see ``EditResult.errors``.
        """
        if not self._done:
            return None
        edit = self._done.pop()
        self._undone.append(edit)
        assert self.project is not None
        inverse = tuple(step.inverse() for step in reversed(edit.steps))
        return put_steps(self.project, inverse, "undo")

    def redo(self) -> EditResult | None:
        """Write the last undone edit again (``None`` when there is nothing to redo)."""
        if not self._undone:
            return None
        edit = self._undone.pop()
        self._done.append(edit)
        assert self.project is not None
        return put_steps(self.project, edit.steps, "redo")
