"""Span predictions of a trained model, stored per record, and the suggestions made of them.

A span prediction lives in the ``predictions`` table like a class prediction: ``probs``
holds ``{"spans": [[start, end, label, score], ...], "uncertainty": u}`` (``u``: one minus
the least confident token's probability), ``label`` is ``"spans"`` and ``confidence`` is
``1 - u``, so the generic queries (latest predictions, active learning) keep working.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from workbench.core.store.project import Project
from workbench.core.store.spans import Span

__all__ = ["SPAN_PREDICTION_LABEL", "load_span_predictions", "span_suggestions",
           "store_span_predictions"]

SPAN_PREDICTION_LABEL = "spans"


def store_span_predictions(project: Project, run_id: int,
                           predictions: Sequence[tuple[int, Sequence[tuple[Span, float]], float]]
                           ) -> None:
    """Store ``(record_id, [(span, score), ...], uncertainty)`` under ``run_id`` (one
    transaction; replaces earlier predictions of the same run and record)."""
    rows = []
    for record_id, spans, uncertainty in predictions:
        payload = {
            "spans": [[s.start, s.end, s.label, round(float(p), 6)] for s, p in spans],
            "uncertainty": round(float(uncertainty), 6),
        }
        rows.append((run_id, int(record_id), json.dumps(payload, ensure_ascii=False),
                     SPAN_PREDICTION_LABEL, 1.0 - float(uncertainty)))
    with project.db.atomic():
        project.conn.executemany(
            "INSERT OR REPLACE INTO predictions(run_id, record_id, probs, label, confidence) "
            "VALUES (?, ?, ?, ?, ?)",
            rows,
        )


def _decode(raw: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return data if isinstance(data, dict) and "spans" in data else {}


def load_span_predictions(project: Project, run_id: int,
                          record_ids: Sequence[int] | None = None
                          ) -> dict[int, tuple[list[tuple[Span, float]], float]]:
    """Stored span predictions of a run: record id -> (spans with scores, uncertainty)."""
    sql = "SELECT record_id, probs FROM predictions WHERE run_id = ? AND label = ?"
    params: list[Any] = [run_id, SPAN_PREDICTION_LABEL]
    if record_ids is not None:
        ids = list(record_ids)
        if not ids:
            return {}
        out: dict[int, tuple[list[tuple[Span, float]], float]] = {}
        for i in range(0, len(ids), 500):
            out.update(_load_chunk(project, sql, params, ids[i : i + 500]))
        return out
    return _load_chunk(project, sql, params, None)


def _load_chunk(project: Project, sql: str, params: list[Any],
                                ids: list[int] | None
                                ) -> dict[int, tuple[list[tuple[Span, float]], float]]:
    if ids is not None:
        sql += f" AND record_id IN ({','.join('?' * len(ids))})"
        params = params + ids
    out: dict[int, tuple[list[tuple[Span, float]], float]] = {}
    for record_id, raw in project.db.execute(sql, params):
        data = _decode(raw)
        if not data:
            continue
        spans = [(Span(int(a), int(b), str(c)), float(p)) for a, b, c, p in data["spans"]]
        out[record_id] = (spans, float(data.get("uncertainty", 0.0)))
    return out


def span_suggestions(project: Project, record_id: int) -> list[tuple[Span, float]]:
    """The newest trained model's predicted spans of a record with their scores (empty when
    no model predicted it). Spans naming a label the project no longer has are left out."""
    row = project.db.execute(
        "SELECT p.probs FROM predictions p JOIN runs r ON r.id = p.run_id "
        "WHERE p.record_id = ? AND p.label = ? AND r.model_path IS NOT NULL "
        "ORDER BY p.run_id DESC LIMIT 1",
        [record_id, SPAN_PREDICTION_LABEL],
    ).fetchone()
    if row is None:
        return []
    data = _decode(row[0])
    known = set(project.label_names())
    return [(Span(int(a), int(b), str(c)), float(p))
            for a, b, c, p in data.get("spans", []) if c in known]
