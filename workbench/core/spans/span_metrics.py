"""Entity-level metrics of predicted spans against gold spans, with seqeval.

Gold and predicted character spans of each record are written as BIO tags over the same
units (the record's words, split further at every span edge), and seqeval's strict mode
scores exact entity matches: micro and macro precision/recall/F1 and per type. The
partial-overlap score counts a predicted span as right when it shares a character with
a gold span of the same type (each gold span matched once). The error list names missed,
spurious and wrongly typed spans for the Train tab.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from workbench.core.errors import WorkbenchError
from workbench.core.spans.tags import entities_to_tags, word_offsets
from workbench.core.spans.token_align import non_overlapping
from workbench.core.store.spans import Span

__all__ = ["MAX_ERRORS", "entity_metrics", "span_errors"]

#: Errors kept in a run's metrics (the rest are counted).
MAX_ERRORS = 500


def _units(text: str, spans: Sequence[Span]) -> list[tuple[int, int]]:
    cuts = sorted({s.start for s in spans} | {s.end for s in spans})
    out: list[tuple[int, int]] = []
    for start, end in word_offsets(text):
        edges = [start, *[c for c in cuts if start < c < end], end]
        out.extend(zip(edges[:-1], edges[1:], strict=False))
    return out


def _tags(units: list[tuple[int, int]], spans: Sequence[Span]) -> list[str]:
    entities = []
    for span in non_overlapping(spans):
        inside = [i for i, (a, b) in enumerate(units) if a >= span.start and b <= span.end]
        if inside:
            entities.append((inside[0], inside[-1] + 1, span.label))
    return entities_to_tags(len(units), entities, "bio")


def _partial(gold: Sequence[Sequence[Span]], pred: Sequence[Sequence[Span]]) -> dict[str, float]:
    matched_gold = matched_pred = 0
    n_gold = sum(len(g) for g in gold)
    n_pred = sum(len(p) for p in pred)
    for g, p in zip(gold, pred, strict=True):
        used: set[Span] = set()
        for ps in p:
            hit = next((gs for gs in g if gs not in used and gs.label == ps.label
                        and gs.overlaps(ps)), None)
            if hit is not None:
                used.add(hit)
                matched_pred += 1
        matched_gold += len(used)
    precision = matched_pred / n_pred if n_pred else 0.0
    recall = matched_gold / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def entity_metrics(texts: Sequence[str], gold: Sequence[Sequence[Span]],
                   pred: Sequence[Sequence[Span]], types: Sequence[str]) -> dict[str, Any]:
    """Strict entity micro/macro P/R/F1 (0-1), per type, partial overlap and counts."""
    try:
        from seqeval.metrics import classification_report
        from seqeval.scheme import IOB2
    except ImportError:
        raise WorkbenchError("Entity metrics need the seqeval package: pip install seqeval "
                             "(a dependency of Workbench; this installation lacks it).") from None

    y_true: list[list[str]] = []
    y_pred: list[list[str]] = []
    for text, g, p in zip(texts, gold, pred, strict=True):
        units = _units(text, [*g, *p])
        if not units:
            continue
        y_true.append(_tags(units, g))
        y_pred.append(_tags(units, p))
    n_gold = sum(len(g) for g in gold)
    n_pred = sum(len(p) for p in pred)
    correct = sum(len(set(g) & set(p)) for g, p in zip(gold, pred, strict=True))
    per_type: dict[str, dict[str, float]] = {
        t: {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0} for t in types}
    micro = {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    if y_true and (n_gold or n_pred):
        report = classification_report(y_true, y_pred, mode="strict", scheme=IOB2,
                                       output_dict=True, zero_division=0)
        for name, row in report.items():
            figures = {"precision": float(row["precision"]), "recall": float(row["recall"]),
                       "f1": float(row["f1-score"]), "support": int(row["support"])}
            if name == "micro avg":
                micro = figures
            elif not name.endswith(" avg"):
                per_type[name] = figures
    present = [t for t, row in per_type.items() if row["support"] > 0]
    macro = {k: (sum(per_type[t][k] for t in present) / len(present) if present else 0.0)
             for k in ("precision", "recall", "f1")}
    return {
        "task": "spans",
        "n": len(texts),
        "entity_precision": micro["precision"],
        "entity_recall": micro["recall"],
        "entity_f1": micro["f1"],
        "entity_macro_precision": macro["precision"],
        "entity_macro_recall": macro["recall"],
        "entity_macro_f1": macro["f1"],
        "per_type": per_type,
        "partial": _partial(gold, pred),
        "counts": {"gold": n_gold, "predicted": n_pred, "correct": correct},
        # The figures the classification views show, for the same run list and charts.
        "micro_f1": micro["f1"],
        "macro_f1": macro["f1"],
    }


def span_errors(record_ids: Sequence[int], gold: Sequence[Sequence[Span]],
                pred: Sequence[Sequence[Span]], limit: int = MAX_ERRORS) -> list[dict[str, Any]]:
    """Missed, spurious and wrongly typed spans: ``{"record_id", "start", "end", "label",
    "kind", "predicted"}``. A gold span predicted with other edges but its type is
    "missed" with ``predicted`` naming the predicted span's edges."""
    errors: list[dict[str, Any]] = []
    for rid, g, p in zip(record_ids, gold, pred, strict=True):
        gs, ps = set(g), set(p)
        for span in sorted(gs - ps):
            over = [q for q in ps if q.overlaps(span)]
            same_edges = [q for q in over if (q.start, q.end) == (span.start, span.end)]
            if same_edges:
                errors.append({"record_id": rid, "start": span.start, "end": span.end,
                               "label": span.label, "kind": "wrong_type",
                               "predicted": same_edges[0].label})
            elif any(q.label != span.label for q in over) and not any(
                    q.label == span.label for q in over):
                errors.append({"record_id": rid, "start": span.start, "end": span.end,
                               "label": span.label, "kind": "wrong_type",
                               "predicted": next(q.label for q in over)})
            else:
                near = [q for q in over if q.label == span.label]
                errors.append({"record_id": rid, "start": span.start, "end": span.end,
                               "label": span.label, "kind": "missed",
                               "predicted": (f"{near[0].label} {near[0].start}-{near[0].end}"
                                             if near else None)})
        for span in sorted(ps - gs):
            if not any(q.overlaps(span) for q in gs):
                errors.append({"record_id": rid, "start": span.start, "end": span.end,
                               "label": span.label, "kind": "spurious",
                               "predicted": span.label})
        if len(errors) >= limit:
            return errors[:limit]
    return errors
