"""Final labels for training: one label set per record, resolved across annotators.

The rule (documented for users in the README):

* Only annotations with status ``labelled`` count; skipped and flagged ones are ignored.
* One annotator: their labels are final.
* Several annotators, single-label: the label chosen by the most annotators wins; a tie
  for first place leaves the record out (counted in ``ties``).
* Several annotators, multi-label: a label is kept when more than half of the record's
  annotators chose it; a record left with no label is counted as a tie and left out.
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.core.project import Project

__all__ = ["LabelSnapshot", "resolve_labels"]


@dataclass
class LabelSnapshot:
    """The labelled examples at one moment, and how they were resolved."""

    examples: list[tuple[int, str, list[str], str]] = field(default_factory=list)
    ties: int = 0
    multi_annotator: int = 0

    @property
    def hash(self) -> str:
        """A fingerprint of the (record, labels, split) triples, recorded with each run."""
        h = hashlib.sha256()
        for rid, _text, labels, split in self.examples:
            h.update(json.dumps([rid, sorted(labels), split]).encode())
        return h.hexdigest()[:16]


def resolve_labels(project: Project) -> LabelSnapshot:
    """Take a snapshot of final labels from the project (see the module docstring)."""
    rows = project.db.execute(
        "SELECT a.record_id, a.annotator, l.name FROM annotations a "
        "JOIN annotation_labels al ON al.annotation_id = a.id "
        "JOIN labels l ON l.id = al.label_id "
        "WHERE a.status = 'labelled' ORDER BY a.record_id"
    ).fetchall()
    per_record: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for rid, annotator, name in rows:
        per_record[rid][annotator].append(name)
    snap = LabelSnapshot()
    multi = project.multi_label
    resolved: dict[int, list[str]] = {}
    for rid, by_annotator in per_record.items():
        n = len(by_annotator)
        if n == 1:
            resolved[rid] = next(iter(by_annotator.values()))
            continue
        snap.multi_annotator += 1
        votes = Counter(name for names in by_annotator.values() for name in set(names))
        if multi:
            chosen = [name for name, c in votes.items() if c * 2 > n]
            if chosen:
                resolved[rid] = chosen
            else:
                snap.ties += 1
        else:
            ranked = votes.most_common()
            if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
                snap.ties += 1
            else:
                resolved[rid] = [ranked[0][0]]
    order = {name: i for i, name in enumerate(project.label_names())}
    ids = sorted(resolved)
    for rec in project.get_records(ids):
        labels = sorted(resolved[rec.id], key=lambda n: order.get(n, 0))
        snap.examples.append((rec.id, rec.text, labels, rec.split))
    return snap
