"""A span edit that also saves a comment: the first annotation of a record, when the
annotator typed a comment before marking anything (the comment goes with it)."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from workbench.core.store import operations
from workbench.core.store.changes import AnnotationStep, Changes
from workbench.core.store.project import default_annotator
from workbench.core.store.span_operations import describe_spans

if TYPE_CHECKING:
    from workbench.core.store.history import AnnotationHistory
    from workbench.core.store.project import Project

__all__ = ["edit_with_comment"]


def edit_with_comment(project: Project, edit: Callable[..., Changes], record_id: int,
                      *args: Any, comment: str | None, annotator: str | None = None,
                      history: AnnotationHistory | None = None, **kwargs: Any) -> Changes:
    """Run the span operation ``edit(project, record_id, *args, **kwargs)`` (e.g.
    :func:`~workbench.core.store.span_operations.add_span`) and set ``comment`` on the
    record's annotation it wrote: one transaction and one undoable step. Without a
    comment, or when the edit wrote nothing for the record, it is just ``edit``."""
    annotator = annotator or default_annotator()
    if not comment:
        return edit(project, record_id, *args, annotator=annotator, history=history, **kwargs)
    with project.db.atomic():
        changes = edit(project, record_id, *args, annotator=annotator, **kwargs)
        mine = [s for s in changes.steps
                if s.record_id == record_id and s.annotator == annotator]
        if not mine:
            return changes
        (noted,) = operations.comment(project, record_id, comment,
                                      annotator=annotator).steps
    step = AnnotationStep(record_id, annotator, mine[0].before, noted.after)
    steps = [step if s is mine[0] else s for s in changes.steps]
    if history is not None:
        history.record(f"record {record_id}: {describe_spans(step.after)}, comment",
                       tuple(steps))
    return Changes.of_annotations(steps)
