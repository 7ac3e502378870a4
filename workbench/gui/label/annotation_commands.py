"""Undoable annotation changes: every save goes through a QUndoStack command.

A change is written (and committed) by :func:`apply_annotation` *before* its command is
pushed, so a failed write never leaves a command on the stack. Undo and redo put back the
exact earlier or later annotation with :meth:`Project.restore_annotation`, which also
commits before returning.
"""
from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from PySide6.QtGui import QUndoCommand, QUndoStack

from workbench.core.assist import queue
from workbench.core.errors import WorkbenchError
from workbench.core.store.project import STATUSES, Annotation, Project

if TYPE_CHECKING:
    from workbench.core.assist.suggestions import Suggestion

__all__ = [
    "AnnotationCommand",
    "ChangeCallback",
    "LabelCounts",
    "SuggestionLookup",
    "apply_annotation",
    "describe",
    "relabel_records",
    "remove_annotation",
    "write_transaction",
]

log = logging.getLogger(__name__)

#: Called after every change with (record id, annotation before, annotation after, cause),
#: cause being "do", "undo" or "redo".
ChangeCallback = Callable[[int, "Annotation | None", "Annotation | None", str], None]
#: Called with a readable message when undo or redo cannot be applied.
ErrorCallback = Callable[[str], None]


@contextlib.contextmanager
def write_transaction(project: Project) -> Iterator[None]:
    """One ``BEGIN IMMEDIATE`` transaction around a change, committed on leaving.

    Taking the write lock up front makes another process's writer wait (busy timeout)
    instead of failing with "database is locked", which a deferred transaction that reads
    first and writes second can do when a second process committed in between. It also
    makes an undo (annotation plus its original timestamps) land as one unit.
    """
    with project.db.atomic():  # the project's write gate: damage check, lock polling
        yield


def describe(annotation: Annotation | None) -> str:
    """A short human description of an annotation state ("billing", "skipped", ...)."""
    if annotation is None:
        return "no annotation"
    if annotation.status == "labelled":
        text = ", ".join(annotation.labels)
        if annotation.provenance not in ("", "manual"):
            text += f" ({annotation.provenance})"
        return text
    if annotation.labels:
        return f"{annotation.status} ({', '.join(annotation.labels)})"
    return annotation.status


class AnnotationCommand(QUndoCommand):
    """One annotator's annotation of one record going from ``before`` to ``after``."""

    def __init__(
        self,
        project: Project,
        record_id: int,
        annotator: str,
        before: Annotation | None,
        after: Annotation | None,
        on_change: ChangeCallback,
        on_error: ErrorCallback | None = None,
        parent: QUndoCommand | None = None,
    ) -> None:
        super().__init__(f"record {record_id}: {describe(after)}", parent)
        self.project = project
        self.record_id = record_id
        self.annotator = annotator
        self.before = before
        self.after = after
        self._on_change = on_change
        self._on_error = on_error
        self._applied = True  # apply_annotation wrote it already

    def _put(self, state: Annotation | None, cause: str, old: Annotation | None) -> None:
        try:
            with write_transaction(self.project):
                self.project.restore_annotation(self.record_id, self.annotator, state)
        except (WorkbenchError, sqlite3.Error) as exc:
            # e.g. a label used by the earlier state was deleted since.
            log.warning("Cannot %s record %s: %s", cause, self.record_id, exc)
            if self._on_error is not None:
                self._on_error(f"Cannot {cause} the change to record {self.record_id}: {exc}")
            return
        if state is None:
            queue.invalidate(self.project)
        current = self.project.get_annotation(self.record_id, self.annotator)
        self._on_change(self.record_id, old, current, cause)

    def redo(self) -> None:
        if self._applied:  # the first redo happens as QUndoStack.push(); already written
            self._applied = False
            return
        self._put(self.after, "redo", self.before)

    def undo(self) -> None:
        self._put(self.before, "undo", self.after)


def apply_annotation(
    stack: QUndoStack,
    project: Project,
    record_id: int,
    annotator: str,
    labels: Sequence[str],
    *,
    status: str = "labelled",
    comment: str | None = None,
    provenance: str = "manual",
    on_change: ChangeCallback,
    on_error: ErrorCallback | None = None,
) -> Annotation:
    """Write an annotation (committed on return), then record it on the undo stack.

    ``provenance`` says where the labels came from ("manual" for a label key, "accepted
    suggestion" when the model's suggestion was accepted). Raises :class:`WorkbenchError`
    (nothing written, nothing pushed) for invalid input.
    """
    with write_transaction(project):
        before = project.get_annotation(record_id, annotator)
        after = project.annotate(
            record_id, labels, annotator=annotator, status=status, comment=comment,
            provenance=provenance,
        )
    stack.push(
        AnnotationCommand(project, record_id, annotator, before, after, on_change, on_error)
    )
    on_change(record_id, before, after, "do")
    return after


def remove_annotation(
    stack: QUndoStack,
    project: Project,
    record_id: int,
    annotator: str,
    *,
    on_change: ChangeCallback,
    on_error: ErrorCallback | None = None,
) -> None:
    """Delete an annotator's annotation of a record (committed), undoably."""
    with write_transaction(project):
        before = project.get_annotation(record_id, annotator)
        if before is None:
            return
        project.restore_annotation(record_id, annotator, None)
    queue.invalidate(project)
    stack.push(
        AnnotationCommand(project, record_id, annotator, before, None, on_change, on_error)
    )
    on_change(record_id, before, None, "do")


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

    def _resolve(self, project: Project) -> None:
        from workbench.core.assist import suggestions as assist

        self._resolved = True
        self.run_id = assist.prediction_run_id(project)
        self.suggester = assist.current_suggester(project)

    def describe_suggester(self, project: Project | None) -> str:
        """A short sentence saying which model suggests ("" without a project)."""
        if project is None:
            return ""
        if not self._resolved:
            self._resolve(project)
        return self.suggester

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


class LabelCounts:
    """One annotator's counts (labelled, skipped, flagged, per label), kept up to date
    from each change instead of re-counting a large project on every key press."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.total = 0
        self.by_status: dict[str, int] = {s: 0 for s in STATUSES}
        self.by_label: dict[str, int] = {}

    @property
    def labelled(self) -> int:
        return self.by_status.get("labelled", 0)

    def load(self, project: Project, annotator: str) -> None:
        """Count from the database (on opening a project or after outside changes)."""
        self.clear()
        self.total = project.record_count()
        self.by_label = {name: 0 for name in project.label_names()}
        for status, n in project.conn.execute(
            "SELECT status, count(*) FROM annotations WHERE annotator = ? GROUP BY status",
            [annotator],
        ):
            self.by_status[status] = n
        for name, n in project.conn.execute(
            "SELECT l.name, count(*) FROM annotations a "
            "JOIN annotation_labels al ON al.annotation_id = a.id "
            "JOIN labels l ON l.id = al.label_id "
            "WHERE a.annotator = ? AND a.status = 'labelled' GROUP BY l.id",
            [annotator],
        ):
            self.by_label[name] = n

    def apply(self, old: Annotation | None, new: Annotation | None) -> None:
        """Account for one annotation going from ``old`` to ``new``."""
        for ann, sign in ((old, -1), (new, 1)):
            if ann is None:
                continue
            self.by_status[ann.status] = self.by_status.get(ann.status, 0) + sign
            if ann.status == "labelled":
                for name in ann.labels:
                    self.by_label[name] = self.by_label.get(name, 0) + sign


def relabel_records(
    stack: QUndoStack,
    project: Project,
    annotator: str,
    record_ids: Sequence[int],
    action: str,
    label: str = "",
    *,
    on_change: ChangeCallback,
    on_error: ErrorCallback | None = None,
) -> int:
    """Relabel several records as one undo step; returns how many were changed.

    ``action`` is "label" (single-label: set ``label``; multi-label: toggle it, and a
    record left with no label loses its annotation), "skip", "flag" (keeps the labels)
    or "clear" (removes the annotation).
    """
    stack.beginMacro(f"{action} {len(record_ids)} record(s)")
    done = 0
    try:
        for record_id in record_ids:
            before = project.get_annotation(record_id, annotator)
            labels: list[str] = []
            status = "labelled"
            if action == "label":
                labels = [label]
                if project.multi_label and before is not None:
                    labels = [n for n in before.labels if n != label]
                    if label not in before.labels:
                        labels.append(label)
            elif action in ("skip", "flag"):
                status = "skipped" if action == "skip" else "flagged"
                labels = list(before.labels) if (before and action == "flag") else []
            if action == "clear" or (action == "label" and not labels):
                remove_annotation(stack, project, record_id, annotator,
                                  on_change=on_change, on_error=on_error)
            else:
                apply_annotation(
                    stack, project, record_id, annotator, labels, status=status,
                    comment=before.comment if before else None,
                    on_change=on_change, on_error=on_error,
                )
            done += 1
    finally:
        stack.endMacro()
    return done
