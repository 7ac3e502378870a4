"""The spans each labelled record ends up with, across annotators (for training, export
and evaluation): an adjudicated final set when there is one, else the single annotator's
spans, else the spans more than half of the record's annotators gave."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from workbench.core.store.project import Project
from workbench.core.store.spans import Span, overlapping_pairs, spans_from_json

__all__ = ["SpanRecord", "resolved_spans"]


@dataclass(frozen=True)
class SpanRecord:
    record_id: int
    text: str
    spans: tuple[Span, ...]
    split: str
    external_id: str | None = None


def resolved_spans(project: Project, *, annotator: str | None = None) -> list[SpanRecord]:
    """Every record with a labelled annotation (of ``annotator``, or of anyone) and its
    spans, in record order."""
    finals: dict[int, tuple[Span, ...]] = {
        rid: spans_from_json(raw)
        for rid, raw in project.db.execute(
            "SELECT record_id, spans FROM final_labels WHERE spans IS NOT NULL")
    }
    sql = ("SELECT a.record_id, a.spans FROM annotations a WHERE a.status = 'labelled'"
           + (" AND a.annotator = ?" if annotator else "") + " ORDER BY a.record_id")
    by_record: dict[int, list[tuple[Span, ...]]] = {}
    for rid, raw in project.db.execute(sql, [annotator] if annotator else []):
        by_record.setdefault(rid, []).append(spans_from_json(raw))
    ids = sorted(set(by_record) | set(finals))
    out: list[SpanRecord] = []
    allow = project.allow_overlapping_spans
    for record in project.get_records(ids):
        if record.id in finals and annotator is None:
            spans = finals[record.id]
        else:
            sets = by_record[record.id]
            if len(sets) == 1:
                spans = sets[0]
            else:
                votes = Counter(span for spans_ in sets for span in set(spans_))
                chosen: list[Span] = []
                for span, n in sorted(votes.items(), key=lambda kv: (-kv[1], kv[0])):
                    if n * 2 > len(sets) and (allow or not overlapping_pairs([*chosen, span])):
                        chosen.append(span)
                spans = tuple(sorted(chosen))
        out.append(SpanRecord(record.id, record.text, tuple(spans), record.split,
                              record.external_id))
    return out
