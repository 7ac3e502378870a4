"""Training data of a span project: the resolved spans of each labelled record, split
(stratified by the record's rarest entity type, stored like classification splits), and
the data summary the Train tab shows."""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field

from workbench.core.spans.span_snapshot import SpanRecord, resolved_spans
from workbench.core.spans.span_summary import (
    ASSIGNED,
    check_span_data,
    split_records,
    warn_span_data,
)
from workbench.core.store.project import Project
from workbench.core.training.config import TrainConfig
from workbench.core.training.data import assign_splits

__all__ = ["SpanData", "prepare_span_data"]


@dataclass
class SpanData:
    types: list[str]
    train: list[SpanRecord]
    validation: list[SpanRecord]
    test: list[SpanRecord]
    snapshot_hash: str
    changed_splits: dict[int, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def prepare_span_data(project: Project, config: TrainConfig) -> SpanData:
    """Snapshot and split the labelled records (nothing written: the caller stores
    ``changed_splits``). Raises WorkbenchError when there is too little to train on."""
    records = resolved_spans(project)
    counts: Counter[str] = Counter(s.label for r in records for s in r.spans)
    check_span_data(records, counts)
    splits = split_records(records, config, assign_splits)
    parts: dict[str, list[SpanRecord]] = {s: [] for s in ASSIGNED}
    changed = {}
    for r in records:
        split = splits[r.record_id]
        if split != r.split:
            changed[r.record_id] = split
        parts[split].append(SpanRecord(r.record_id, r.text, r.spans, split, r.external_id))
    types = [name for name in project.label_names() if counts[name]]
    digest = hashlib.sha256(json.dumps(
        [[r.record_id, [[s.start, s.end, s.label] for s in r.spans]] for r in records]
    ).encode()).hexdigest()[:16]
    return SpanData(types=types, train=parts["train"], validation=parts["validation"],
                    test=parts["test"], snapshot_hash=digest, changed_splits=changed,
                    warnings=warn_span_data(project, counts, parts), counts=dict(counts))
