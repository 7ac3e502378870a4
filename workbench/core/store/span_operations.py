"""Every change a user makes to the spans (entities) of a span project, as one function each.

Like :mod:`workbench.core.store.operations`: each operation owns its transaction
(committed on return), returns :class:`~workbench.core.store.changes.Changes`, and records
one undo step in the ``history`` given. Spans ride in the annotation row, so undo/redo
restore them with the rest of the annotation.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from workbench.core.errors import WorkbenchError
from workbench.core.store.changes import AnnotationStep, Changes
from workbench.core.store.project import Annotation, Project, default_annotator
from workbench.core.store.spans import (
    Span,
    find_occurrences,
    overlapping_pairs,
    spans_from_json,
)

if TYPE_CHECKING:
    from workbench.core.store.history import AnnotationHistory

__all__ = [
    "ACCEPTED_SPANS_PROVENANCE",
    "accept_span_suggestions",
    "add_span",
    "confirm_spans",
    "describe_spans",
    "label_all_occurrences",
    "relabel_span",
    "remove_span",
    "set_allow_overlap",
    "set_spans",
]

ACCEPTED_SPANS_PROVENANCE = "accepted suggestion"


def describe_spans(annotation: Annotation | None) -> str:
    if annotation is None:
        return "no annotation"
    if not annotation.spans:
        return "no entities" if annotation.status == "labelled" else annotation.status
    return f"{len(annotation.spans)} span(s)"


def _require_spans(project: Project) -> None:
    if not project.is_spans:
        raise WorkbenchError("This is not a span project: spans cannot be labelled here.")


def _finish(history: AnnotationHistory | None, text: str,
            steps: list[AnnotationStep]) -> Changes:
    changes = Changes.of_annotations(steps)
    if history is not None and steps:
        history.record(text, tuple(steps))
    return changes


def _write(project: Project, record_id: int, annotator: str, spans: Iterable[Span], *,
           status: str = "labelled", provenance: str | None = None) -> AnnotationStep:
    before = project.get_annotation(record_id, annotator)
    if provenance is None:
        provenance = before.provenance if before is not None else "manual"
    after = project.annotate(
        record_id, annotator=annotator, status=status,
        comment=before.comment if before else None, provenance=provenance, spans=tuple(spans),
    )
    return AnnotationStep(record_id, annotator, before, after)


def _current(project: Project, record_id: int, annotator: str) -> list[Span]:
    before = project.get_annotation(record_id, annotator)
    return list(before.spans) if before is not None else []


def set_spans(project: Project, record_id: int, spans: Sequence[Span], *,
              annotator: str | None = None, status: str = "labelled",
              provenance: str = "manual",
              history: AnnotationHistory | None = None) -> Changes:
    """Replace the spans of one annotator's annotation of a record (labelled on return)."""
    _require_spans(project)
    annotator = annotator or default_annotator()
    with project.db.atomic():
        step = _write(project, record_id, annotator, spans, status=status,
                      provenance=provenance)
    return _finish(history, f"record {record_id}: {describe_spans(step.after)}", [step])


def add_span(project: Project, record_id: int, span: Span, *, annotator: str | None = None,
             history: AnnotationHistory | None = None) -> Changes:
    """Add one span (the record becomes labelled)."""
    _require_spans(project)
    annotator = annotator or default_annotator()
    with project.db.atomic():
        spans = _current(project, record_id, annotator)
        if span in spans:
            return Changes()
        step = _write(project, record_id, annotator, [*spans, span], provenance="manual")
    return _finish(history, f"record {record_id}: add {span.label}", [step])


def remove_span(project: Project, record_id: int, span: Span, *,
                annotator: str | None = None,
                history: AnnotationHistory | None = None) -> Changes:
    """Remove one span (the record stays labelled, possibly with no span)."""
    _require_spans(project)
    annotator = annotator or default_annotator()
    with project.db.atomic():
        spans = _current(project, record_id, annotator)
        if span not in spans:
            raise WorkbenchError(f"Record {record_id} has no span {span.start}-{span.end} "
                                 f"({span.label}).")
        step = _write(project, record_id, annotator, [s for s in spans if s != span],
                      provenance="manual")
    return _finish(history, f"record {record_id}: remove {span.label}", [step])


def relabel_span(project: Project, record_id: int, span: Span, label: str, *,
                 annotator: str | None = None,
                 history: AnnotationHistory | None = None) -> Changes:
    """Give one span another label."""
    _require_spans(project)
    annotator = annotator or default_annotator()
    with project.db.atomic():
        spans = _current(project, record_id, annotator)
        if span not in spans:
            raise WorkbenchError(f"Record {record_id} has no span {span.start}-{span.end} "
                                 f"({span.label}).")
        new = Span(span.start, span.end, label)
        kept = [s for s in spans if s != span and s != new]
        step = _write(project, record_id, annotator, [*kept, new], provenance="manual")
    return _finish(history, f"record {record_id}: {span.label} -> {label}", [step])


def confirm_spans(project: Project, record_id: int, *, annotator: str | None = None,
                  history: AnnotationHistory | None = None) -> Changes:
    """Mark a record done with the spans it has (possibly none): status "labelled"."""
    _require_spans(project)
    annotator = annotator or default_annotator()
    with project.db.atomic():
        before = project.get_annotation(record_id, annotator)
        if before is not None and before.status == "labelled":
            return Changes()
        step = _write(project, record_id, annotator, _current(project, record_id, annotator))
    return _finish(history, f"record {record_id}: {describe_spans(step.after)}", [step])


def accept_span_suggestions(project: Project, record_id: int, spans: Sequence[Span], *,
                            annotator: str | None = None,
                            history: AnnotationHistory | None = None) -> Changes:
    """Add the model's suggested spans to the record (those that would overlap an existing
    span when overlaps are off are left out), with provenance "accepted suggestion"."""
    _require_spans(project)
    annotator = annotator or default_annotator()
    with project.db.atomic():
        current = _current(project, record_id, annotator)
        merged = list(current)
        for span in sorted(spans):
            if span in merged:
                continue
            if not project.allow_overlapping_spans and any(span.overlaps(s) for s in merged):
                continue
            merged.append(span)
        if merged == current and current:
            return Changes()
        step = _write(project, record_id, annotator, merged,
                      provenance=ACCEPTED_SPANS_PROVENANCE)
    return _finish(history, f"record {record_id}: accept {len(merged) - len(current)} span(s)",
                   [step])


def label_all_occurrences(project: Project, text: str, label: str, *,
                          whole_words: bool = True, annotator: str | None = None,
                          history: AnnotationHistory | None = None) -> Changes:
    """Label every occurrence of ``text`` in every record of the project ``label``, as one
    undoable step. Occurrences already labelled so, or that would overlap another span when
    overlaps are off, are left as they are."""
    _require_spans(project)
    if not text.strip():
        raise WorkbenchError("Choose some text to label everywhere.")
    if label not in project.label_names():
        raise WorkbenchError(f"Unknown label {label!r}.")
    annotator = annotator or default_annotator()
    candidates = [row[0] for row in project.db.execute(
        "SELECT id FROM records WHERE instr(text, ?) > 0 ORDER BY id", [text])]
    steps: list[AnnotationStep] = []
    with project.db.atomic():
        for record in project.get_records(candidates):
            found = find_occurrences(record.text, text, whole_words=whole_words)
            if not found:
                continue
            spans = _current(project, record.id, annotator)
            merged = list(spans)
            for start, end in found:
                new = Span(start, end, label)
                if new in merged:
                    continue
                if not project.allow_overlapping_spans and any(new.overlaps(s) for s in merged):
                    continue
                merged.append(new)
            if len(merged) != len(spans):
                steps.append(_write(project, record.id, annotator, merged,
                                    provenance="manual"))
    return _finish(history, f"label {text!r} as {label} in {len(steps)} record(s)", steps)


def set_allow_overlap(project: Project, on: bool) -> Changes:
    """Allow (or forbid) spans that share characters in this project. Forbidding them is
    refused while some annotation has overlapping spans."""
    _require_spans(project)
    with project.db.atomic():
        if not on:
            for record_id, spans_json in project.db.execute(
                "SELECT record_id, spans FROM annotations WHERE spans IS NOT NULL"
            ):
                if overlapping_pairs(spans_from_json(spans_json)):
                    raise WorkbenchError(
                        f"Record {record_id} has overlapping spans: remove the overlap "
                        "before turning overlapping spans off."
                    )
        project.set_meta("allow_overlapping_spans", "1" if on else "0")
    return Changes(settings=True, record_ids=None)
