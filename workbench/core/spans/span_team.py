"""Team work on span projects: agreement between annotators as pairwise entity F1 (strict,
overall and per type: the usual measure for spans, where chance-corrected kappa is not
defined), and adjudication that picks spans from each annotator's version."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import combinations
from typing import Any

from workbench.core.errors import WorkbenchError
from workbench.core.spans.span_metrics import entity_metrics
from workbench.core.store.changes import Changes
from workbench.core.store.project import Project, default_annotator, now_iso
from workbench.core.store.spans import Span, check_spans, spans_from_json, spans_to_json

__all__ = ["adjudicate_spans", "final_spans", "pick_spans", "span_agreement_report",
           "span_versions"]


def span_versions(project: Project, record_id: int) -> dict[str, tuple[Span, ...]]:
    """Each annotator's labelled spans of a record."""
    return {annotator: spans_from_json(raw) for annotator, raw in project.db.execute(
        "SELECT annotator, spans FROM annotations WHERE record_id = ? AND status = 'labelled' "
        "ORDER BY annotator", [record_id])}


def span_agreement_report(project: Project) -> dict[str, Any]:
    """Pairwise entity F1 between annotators on the records both labelled: per pair
    (overall and per type) and the mean over pairs."""
    if not project.is_spans:
        raise WorkbenchError(f"{project.name} is not a span project.")
    by_record: dict[int, dict[str, tuple[Span, ...]]] = {}
    for rid, annotator, raw in project.db.execute(
        "SELECT record_id, annotator, spans FROM annotations WHERE status = 'labelled'"
    ):
        by_record.setdefault(rid, {})[annotator] = spans_from_json(raw)
    annotators = sorted({a for versions in by_record.values() for a in versions})
    types = project.label_names()
    texts = {r.id: r.text for r in project.get_records(sorted(by_record))}
    pairs = []
    for a, b in combinations(annotators, 2):
        shared = [rid for rid, v in by_record.items() if a in v and b in v]
        if not shared:
            continue
        m = entity_metrics([texts[r] for r in shared], [by_record[r][a] for r in shared],
                           [by_record[r][b] for r in shared], types)
        pairs.append({"a": a, "b": b, "records": len(shared), "f1": m["entity_f1"],
                      "per_type": {t: row["f1"] for t, row in m["per_type"].items()
                                   if row["support"] or any(
                                       s.label == t for r in shared for s in by_record[r][b])}})
    per_type: dict[str, float] = {}
    for t in types:
        values = [p["per_type"][t] for p in pairs if t in p["per_type"]]
        if values:
            per_type[t] = sum(values) / len(values)
    mean = sum(p["f1"] for p in pairs) / len(pairs) if pairs else None
    return {"measure": "pairwise entity F1 (strict)", "annotators": annotators,
            "pairs": pairs, "mean_f1": mean, "per_type": per_type}


def final_spans(project: Project, record_id: int) -> tuple[Span, ...] | None:
    row = project.db.execute("SELECT spans FROM final_labels WHERE record_id = ?",
                             [record_id]).fetchone()
    return None if row is None or row[0] is None else spans_from_json(row[0])


def adjudicate_spans(project: Project, record_id: int, spans: Iterable[Span], *,
                     adjudicator: str | None = None, comment: str | None = None) -> Changes:
    """Set the adjudicated final spans of a record (possibly none); pending merge conflicts
    on it are marked resolved. Committed on return."""
    spans = sorted(set(spans))
    record = project.get_record(record_id)
    check_spans(record.text, spans, project.label_names(), project.allow_overlapping_spans)
    names = list(dict.fromkeys(s.label for s in spans))
    ids = project.label_ids(names)
    now = now_iso()
    with project.db.atomic():
        project.db.execute(
            "INSERT INTO final_labels(record_id, source, adjudicator, comment, origin, "
            "created_at, updated_at, spans) VALUES (?, 'adjudicated', ?, ?, NULL, ?, ?, ?) "
            "ON CONFLICT(record_id) DO UPDATE SET source = excluded.source, "
            "adjudicator = excluded.adjudicator, comment = excluded.comment, "
            "updated_at = excluded.updated_at, spans = excluded.spans",
            [record_id, adjudicator or default_annotator(), comment, now, now,
             spans_to_json(spans)])
        project.db.execute("DELETE FROM final_label_labels WHERE record_id = ?", [record_id])
        project.conn.executemany(
            "INSERT INTO final_label_labels(record_id, label_id) VALUES (?, ?)",
            [(record_id, lid) for lid in ids])
        project.db.execute("UPDATE merge_conflicts SET resolved_at = ? WHERE record_id = ? "
                           "AND resolved_at IS NULL", [now, record_id])
    return Changes(final_labels=True, record_ids=frozenset({record_id}))


def pick_spans(project: Project, record_id: int, picks: Mapping[str, Iterable[Span]], *,
               adjudicator: str | None = None, comment: str | None = None) -> Changes:
    """Adjudicate a record by picking spans from annotators' versions (``{annotator:
    spans}``); every picked span must be in that annotator's version."""
    versions = span_versions(project, record_id)
    chosen: list[Span] = []
    for annotator, spans in picks.items():
        if annotator not in versions:
            raise WorkbenchError(f"{annotator} has not labelled record {record_id}.")
        for span in spans:
            if span not in versions[annotator]:
                raise WorkbenchError(f"{annotator}'s version of record {record_id} has no span "
                                     f"{span.start}-{span.end} ({span.label}).")
            chosen.append(span)
    return adjudicate_spans(project, record_id, chosen, adjudicator=adjudicator,
                            comment=comment)
