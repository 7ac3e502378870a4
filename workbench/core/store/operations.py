"""Every change a user makes to annotations, as one core function each.

Each operation owns its transaction (``with project.db.atomic()``: committed on return, or
part of an enclosing transaction), and returns a :class:`~workbench.core.store.changes.Changes`
value saying what changed. Pass an :class:`~workbench.core.store.history.AnnotationHistory`
to make the operation undoable; the GUI's undo stack and the CLI use the same functions::

    history = AnnotationHistory(project)
    operations.annotate(project, 12, ["billing"], history=history)
    operations.relabel_many(project, [3, 4], "flag", history=history)
    history.undo()

Changes that are not annotations (label schema, team settings, adjudication, imports,
merges, predictions) live in :mod:`workbench.core.project_operations`.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from workbench.core.errors import WorkbenchError
from workbench.core.store.changes import AnnotationStep, Changes
from workbench.core.store.project import Annotation, Project, default_annotator
from workbench.core.store.spans import Span

if TYPE_CHECKING:
    from workbench.core.assist.suggestions import Suggestion
    from workbench.core.store.history import AnnotationHistory

__all__ = [
    "ACCEPTED_PROVENANCE",
    "RELABEL_ACTIONS",
    "accept_suggestion",
    "annotate",
    "clear",
    "comment",
    "describe",
    "flag",
    "relabel_many",
    "relabelled",
    "skip",
    "toggle_label",
    "toggled_labels",
]

#: Provenance of labels taken over from the model's suggestion.
ACCEPTED_PROVENANCE = "accepted suggestion"
#: What :func:`relabel_many` can do to each record.
RELABEL_ACTIONS = ("label", "skip", "flag", "clear")


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


def toggled_labels(labels: Sequence[str], label: str) -> list[str]:
    """The multi-label toggle rule: ``label`` is removed when present, else added last."""
    if label in labels:
        return [name for name in labels if name != label]
    return [*labels, label]


def relabelled(project: Project, before: Annotation | None, action: str,
               label: str = "") -> tuple[list[str], str] | None:
    """(labels, status) that ``action`` gives a record annotated ``before``; ``None``
    when the record loses its annotation.

    "label" sets ``label`` (single-label) or toggles it (multi-label; a record left with no
    label loses its annotation), "skip" skips, "flag" flags keeping the labels, "clear"
    removes the annotation.
    """
    if action not in RELABEL_ACTIONS:
        choices = ", ".join(RELABEL_ACTIONS)
        raise WorkbenchError(f"Unknown action {action!r} (use one of: {choices}).")
    if action == "clear":
        return None
    if action == "label":
        labels = [label]
        if project.multi_label and before is not None:
            labels = toggled_labels(before.labels, label)
        return (labels, "labelled") if labels else None
    if action == "skip":
        return [], "skipped"
    return (list(before.labels) if before is not None else []), "flagged"


def _record(history: AnnotationHistory | None, text: str, steps: list[AnnotationStep]) -> Changes:
    changes = Changes.of_annotations(steps)
    if history is not None and steps:
        history.record(text, tuple(steps))
    return changes


def _kept_spans(project: Project, before: Annotation | None) -> tuple[Span, ...] | None:
    """The spans an annotation keeps when its status or comment changes (span projects)."""
    if not project.is_spans:
        return None
    return before.spans if before is not None else ()


def _write(project: Project, record_id: int, annotator: str, labels: Sequence[str], *,
           status: str, comment: str | None, provenance: str,
           spans: Sequence[Span] | None = None) -> AnnotationStep:
    """Write one annotation inside the caller's transaction; its before and after."""
    before = project.get_annotation(record_id, annotator)
    after = project.annotate(record_id, labels, annotator=annotator, status=status,
                             comment=comment, provenance=provenance, spans=spans)
    return AnnotationStep(record_id, annotator, before, after)


def annotate(
    project: Project,
    record_id: int,
    labels: Sequence[str] = (),
    *,
    annotator: str | None = None,
    status: str = "labelled",
    comment: str | None = None,
    provenance: str = "manual",
    history: AnnotationHistory | None = None,
) -> Changes:
    """Create or replace one annotator's annotation of a record (committed on return).

    ``provenance`` says where the labels came from ("manual" for a label key). Raises
    :class:`WorkbenchError` (nothing written, nothing recorded) for invalid input.
    """
    annotator = annotator or default_annotator()
    with project.db.atomic():
        step = _write(project, record_id, annotator, labels, status=status, comment=comment,
                      provenance=provenance)
    return _record(history, f"record {record_id}: {describe(step.after)}", [step])


def clear(project: Project, record_id: int, *, annotator: str | None = None,
          history: AnnotationHistory | None = None) -> Changes:
    """Remove an annotator's annotation of a record (nothing changes when there is none)."""
    annotator = annotator or default_annotator()
    with project.db.atomic():
        before = project.get_annotation(record_id, annotator)
        if before is None:
            return Changes()
        project.restore_annotation(record_id, annotator, None)
    return _record(history, f"record {record_id}: {describe(None)}",
                   [AnnotationStep(record_id, annotator, before, None)])


def skip(project: Project, record_id: int, *, annotator: str | None = None,
         comment: str | None = None, history: AnnotationHistory | None = None) -> Changes:
    """Mark a record as skipped by this annotator."""
    return annotate(project, record_id, [], annotator=annotator, status="skipped",
                    comment=comment, history=history)


def flag(project: Project, record_id: int, labels: Sequence[str] = (), *,
         annotator: str | None = None, comment: str | None = None,
         history: AnnotationHistory | None = None) -> Changes:
    """Flag a record for review, with the labels chosen so far (if any)."""
    return annotate(project, record_id, labels, annotator=annotator, status="flagged",
                    comment=comment, history=history)


def comment(project: Project, record_id: int, text: str | None, *,
            annotator: str | None = None, history: AnnotationHistory | None = None) -> Changes:
    """Set (or, with ``None``, remove) the comment of an existing annotation, keeping its
    labels, status and provenance."""
    annotator = annotator or default_annotator()
    with project.db.atomic():
        before = project.get_annotation(record_id, annotator)
        if before is None:
            raise WorkbenchError(f"Record {record_id} has no annotation to comment on yet.")
        after = project.annotate(record_id, before.labels, annotator=annotator,
                                 status=before.status, comment=text or None,
                                 provenance=before.provenance, spans=_kept_spans(project, before))
    return _record(history, f"record {record_id}: {describe(after)}",
                   [AnnotationStep(record_id, annotator, before, after)])


def accept_suggestion(project: Project, record_id: int, suggestion: Suggestion | Sequence[str],
                      *, annotator: str | None = None, comment: str | None = None,
                      history: AnnotationHistory | None = None) -> Changes:
    """Save the model's suggested labels with provenance "accepted suggestion"."""
    labels = getattr(suggestion, "labels", suggestion)
    return annotate(project, record_id, list(labels), annotator=annotator, comment=comment,
                    provenance=ACCEPTED_PROVENANCE, history=history)


def toggle_label(project: Project, record_id: int, label: str, *,
                 annotator: str | None = None,
                 history: AnnotationHistory | None = None) -> Changes:
    """Toggle one label of a record's annotation (multi-label), or set it (single-label).

    A record left without labels loses its annotation.
    """
    steps = _relabel(project, [record_id], "label", label, annotator or default_annotator())
    return _record(history, f"record {record_id}: {describe(steps[0].after if steps else None)}",
                   steps)


def relabel_many(
    project: Project,
    record_ids: Sequence[int],
    action: str,
    label: str = "",
    *,
    annotator: str | None = None,
    history: AnnotationHistory | None = None,
) -> Changes:
    """Apply ``action`` (see :func:`relabelled`) to several records in one transaction,
    recorded as one undo step ("label 3 record(s)"). Comments are kept."""
    steps = _relabel(project, record_ids, action, label, annotator or default_annotator())
    return _record(history, f"{action} {len(record_ids)} record(s)", steps)


def _relabel(project: Project, record_ids: Sequence[int], action: str, label: str,
             annotator: str) -> list[AnnotationStep]:
    if action == "label" and not label:
        raise WorkbenchError("Choose the label to set.")
    steps: list[AnnotationStep] = []
    with project.db.atomic():
        for record_id in record_ids:
            before = project.get_annotation(record_id, annotator)
            target = relabelled(project, before, action, label)
            if target is None:
                if before is not None:
                    project.restore_annotation(record_id, annotator, None)
                    steps.append(AnnotationStep(record_id, annotator, before, None))
                continue
            labels, status = target
            spans = _kept_spans(project, before) if action == "flag" else None
            steps.append(_write(project, record_id, annotator, labels, status=status,
                                comment=before.comment if before else None,
                                provenance="manual", spans=spans))
    return steps
