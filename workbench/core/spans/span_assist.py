"""Model assistance for span projects: pre-annotation (span suggestions for unlabelled
records from the latest model's bundle), active-learning order by token-level
uncertainty, and review of likely span errors (records where a confident model disagrees
with the annotation)."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.core.assist.span_suggestions import (
    SPAN_PREDICTION_LABEL,
    store_span_predictions,
)
from workbench.core.assist.suggestions import AssistEvent as ProgressEvent
from workbench.core.errors import Cancelled
from workbench.core.jobs import never_stop, no_progress
from workbench.core.spans.span_snapshot import resolved_spans
from workbench.core.store.project import Project, default_annotator
from workbench.core.store.spans import Span

__all__ = ["SpanIssue", "predict_span_records", "review_span_errors", "uncertainty_order"]


def _spans(result: dict[str, Any]) -> list[tuple[Span, float]]:
    return [(Span(s["start"], s["end"], s["label"]), float(s["score"]))
            for s in result["spans"]]


def predict_span_records(project_path: str | Path, run_id: int, predictor: Any,
                         record_ids: Sequence[int] | None = None, *, batch_size: int = 32,
                         progress: Callable[[ProgressEvent], None] | None = None,
                         should_stop: Callable[[], bool] | None = None) -> int:
    """Predict records (default: every record nobody labelled) with a span bundle's
    :class:`~workbench.core.deploy.inference.Predictor` and store the spans as suggestions
    of ``run_id`` (pre-annotation); returns how many records were predicted."""
    progress = progress or no_progress
    should_stop = should_stop or never_stop
    with Project.open(project_path) as project:
        if record_ids is None:
            record_ids = [r[0] for r in project.db.execute(
                "SELECT r.id FROM records r WHERE NOT EXISTS (SELECT 1 FROM annotations a "
                "WHERE a.record_id = r.id AND a.status = 'labelled') ORDER BY r.id")]
        ids = list(record_ids)
        progress(ProgressEvent("predict", 0, len(ids), f"Predicting {len(ids)} records…"))
        for start in range(0, len(ids), 256):
            if should_stop():
                raise Cancelled("Prediction cancelled.")
            chunk = ids[start : start + 256]
            texts = [r.text for r in project.get_records(chunk)]
            results = predictor.predict(texts, batch_size=batch_size, with_uncertainty=True,
                                        should_stop=should_stop)
            store_span_predictions(project, run_id, [
                (rid, _spans(res), res.get("uncertainty", 0.0))
                for rid, res in zip(chunk, results, strict=True)])
            done = min(len(ids), start + len(chunk))
            progress(ProgressEvent("predict", done, len(ids), f"Predicted {done}/{len(ids)}"))
    return len(ids)


def uncertainty_order(project: Project, *, annotator: str | None = None,
                      limit: int = 100) -> list[int]:
    """Records this annotator has not annotated, most uncertain first: by the newest
    trained run's token-level uncertainty (one minus the least confident word's tag
    probability). Records without a stored prediction are left out."""
    annotator = annotator or default_annotator()
    rows = project.db.execute(
        "SELECT p.record_id, 1.0 - p.confidence FROM predictions p "
        "WHERE p.label = ? AND p.run_id = (SELECT max(p2.run_id) FROM predictions p2 "
        " JOIN runs r ON r.id = p2.run_id WHERE p2.label = ? AND r.model_path IS NOT NULL "
        " AND p2.record_id = p.record_id) "
        "AND NOT EXISTS (SELECT 1 FROM annotations a WHERE a.record_id = p.record_id "
        " AND a.annotator = ?) "
        "ORDER BY 2 DESC, p.record_id LIMIT ?",
        [SPAN_PREDICTION_LABEL, SPAN_PREDICTION_LABEL, annotator, limit],
    ).fetchall()
    return [r[0] for r in rows]


@dataclass
class SpanIssue:
    """A likely span error: ``kind`` "missing" (the model is confident about a span the
    annotation lacks), "wrong_type" (same characters, another type) or "boundary"
    (overlapping spans of the same type with other edges); "unsupported" is an annotated
    span the model does not find at all."""

    record_id: int
    kind: str
    span: Span | None
    predicted: Span | None
    score: float

    def to_dict(self) -> dict[str, Any]:
        def as_dict(s: Span | None) -> dict[str, Any] | None:
            return None if s is None else s.as_dict()

        return {"record_id": self.record_id, "kind": self.kind, "span": as_dict(self.span),
                "predicted": as_dict(self.predicted), "score": self.score}


def review_span_errors(project_path: str | Path, run_id: int, predictor: Any, *,
                       min_score: float = 0.8,
                       progress: Callable[[ProgressEvent], None] | None = None,
                       should_stop: Callable[[], bool] | None = None) -> list[SpanIssue]:
    """Predict every labelled record and list the spans where a confident model (span
    score >= ``min_score``) disagrees with the resolved annotation, most confident first."""
    progress = progress or no_progress
    should_stop = should_stop or never_stop
    with Project.open(project_path) as project:
        records = resolved_spans(project)
    issues: list[SpanIssue] = []
    for start in range(0, len(records), 128):
        if should_stop():
            raise Cancelled("Review cancelled.")
        chunk = records[start : start + 128]
        results = predictor.predict([r.text for r in chunk], with_uncertainty=True)
        for record, res in zip(chunk, results, strict=True):
            gold = set(record.spans)
            for span, score in _spans(res):
                if span in gold or score < min_score:
                    continue
                over = [g for g in gold if g.overlaps(span)]
                if not over:
                    kind, other = "missing", None
                elif any((g.start, g.end) == (span.start, span.end) for g in over):
                    kind = "wrong_type"
                    other = next(g for g in over if (g.start, g.end) == (span.start, span.end))
                elif any(g.label == span.label for g in over):
                    kind, other = "boundary", next(g for g in over if g.label == span.label)
                else:
                    kind, other = "wrong_type", over[0]
                issues.append(SpanIssue(record.record_id, kind, other, span, score))
            predicted = [s for s, _p in _spans(res)]
            if res.get("uncertainty", 1.0) <= 1.0 - min_score:
                for g in sorted(gold):
                    if not any(p.overlaps(g) for p in predicted):
                        issues.append(SpanIssue(record.record_id, "unsupported", g, None,
                                                1.0 - float(res.get("uncertainty", 0.0))))
        progress(ProgressEvent("review", min(len(records), start + 128), len(records),
                               "Comparing the model with the annotations"))
    issues.sort(key=lambda i: (-i.score, i.record_id))
    return issues
