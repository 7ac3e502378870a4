"""Final labels for training: one label set per record, resolved across annotators.

The rule (documented for users in the README):

* Only annotations with status ``labelled`` count; skipped and flagged ones are ignored.
* The project's final rule (``workbench final PROJECT --rule ...``, the Team panel) decides
  whether adjudicated labels count:

  - ``adjudicated-first`` (the default): a record with a final label set by an
    adjudicator uses it; every other record follows the majority rule below.
  - ``majority``: adjudicated labels are ignored; every record follows the majority rule.

* Majority rule. One annotator: their labels are final. Several annotators, single-label:
  the label chosen by the most annotators wins; a tie for first place leaves the record
  out (counted in ``ties``). Several annotators, multi-label: a label is kept when more
  than half of the record's annotators chose it; a record left with no label is counted
  as a tie and left out.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.core.store.project import Project

__all__ = [
    "FINAL_RULES",
    "LabelSnapshot",
    "final_rule",
    "adjudicated_finals",
    "label_counts",
    "majority_labels",
    "resolve_label_map",
    "resolve_labels",
]


#: How final labels are derived from adjudications and annotators' votes.
FINAL_RULES = ("adjudicated-first", "majority")


def final_rule(project: Project) -> str:
    """How final labels are derived: ``adjudicated-first`` (default) or ``majority``."""
    rule = project.get_meta("final_rule", "adjudicated-first") or "adjudicated-first"
    return rule if rule in FINAL_RULES else "adjudicated-first"


@dataclass
class LabelSnapshot:
    """The labelled examples at one moment, and how they were resolved."""

    examples: list[tuple[int, str, list[str], str]] = field(default_factory=list)
    ties: int = 0
    multi_annotator: int = 0
    rule: str = "adjudicated-first"
    adjudicated: int = 0
    by_majority: int = 0
    single_annotator: int = 0
    n_records: int = 0

    @property
    def hash(self) -> str:
        """A fingerprint of the (record, labels, split) triples, recorded with each run."""
        h = hashlib.sha256()
        for rid, _text, labels, split in self.examples:
            h.update(json.dumps([rid, sorted(labels), split]).encode())
        return h.hexdigest()[:16]

    def summary(self) -> str:
        """One sentence stating the final-label rule and counts (shown by the Train panel)."""
        plain = {"adjudicated-first": "a label settled in the Team tab wins, else the majority",
                 "majority": "the annotators' majority"}.get(self.rule)
        parts = [f"{self.n_records} labelled records (final rule: {self.rule}"
                 + (f", i.e. {plain})" if plain else ")")]
        detail = [f"{self.single_annotator} from one annotator"]
        if self.multi_annotator:
            detail.append(f"{self.by_majority} by majority of several annotators")
        if self.rule == "adjudicated-first":
            detail.append(f"{self.adjudicated} adjudicated")
        if self.ties:
            detail.append(f"{self.ties} ties left out (adjudicate them in the Team panel)")
        return f"{parts[0]}: " + ", ".join(detail) + "."

    def to_dict(self) -> dict[str, object]:
        return {
            "rule": self.rule,
            "records": self.n_records,
            "single_annotator": self.single_annotator,
            "by_majority": self.by_majority,
            "adjudicated": self.adjudicated,
            "multi_annotator": self.multi_annotator,
            "ties": self.ties,
        }


def majority_labels(label_sets: Iterable[Iterable[str]], multi_label: bool) -> list[str] | None:
    """The majority decision over annotators' label sets, or ``None`` for a tie.

    Single-label: the most chosen label, ``None`` when first place is shared. Multi-label:
    the labels chosen by more than half of the annotators, ``None`` when there are none.
    """
    sets = [set(s) for s in label_sets]
    n = len(sets)
    if n == 0:
        return None
    votes = Counter(name for names in sets for name in names)
    if multi_label:
        chosen = [name for name, c in votes.items() if c * 2 > n]
        return chosen or None
    ranked = votes.most_common()
    if not ranked or (len(ranked) > 1 and ranked[0][1] == ranked[1][1]):
        return None
    return [ranked[0][0]]


def _adjudicated(project: Project) -> dict[int, list[str]]:
    try:
        rows = project.db.execute(
            "SELECT f.record_id, l.name FROM final_labels f "
            "JOIN final_label_labels fl ON fl.record_id = f.record_id "
            "JOIN labels l ON l.id = fl.label_id WHERE f.source = 'adjudicated'"
        ).fetchall()
    except sqlite3.OperationalError:  # pragma: no cover - a schema before version 2
        return {}
    found: dict[int, list[str]] = defaultdict(list)
    for rid, name in rows:
        found[rid].append(name)
    return dict(found)


def adjudicated_finals(project: Project, rule: str | None = None) -> dict[int, list[str]]:
    """record id -> adjudicated final labels that win under the final rule.

    Empty under the ``majority`` rule. Callers that resolve votes themselves (the data
    export) use it as: ``finals.get(record_id) or majority_labels(...)``.
    """
    if rule is None:
        rule = final_rule(project)
    if rule != "adjudicated-first":
        return {}
    order = {name: i for i, name in enumerate(project.label_names())}
    return {
        rid: sorted(set(names), key=lambda n: order.get(n, 0))
        for rid, names in _adjudicated(project).items()
    }


def annotator_votes(project: Project) -> dict[int, dict[str, list[str]]]:
    """record id -> annotator -> label names, over annotations with status ``labelled``."""
    rows = project.db.execute(
        "SELECT a.record_id, a.annotator, l.name FROM annotations a "
        "JOIN annotation_labels al ON al.annotation_id = a.id "
        "JOIN labels l ON l.id = al.label_id "
        "WHERE a.status = 'labelled' ORDER BY a.record_id, l.position, l.id"
    ).fetchall()
    votes: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for rid, annotator, name in rows:
        votes[rid][annotator].append(name)
    return votes


def _resolve(project: Project, rule: str | None = None) -> tuple[dict[int, list[str]], LabelSnapshot]:
    if rule is None:
        rule = final_rule(project)
    per_record = annotator_votes(project)
    snap = LabelSnapshot(rule=rule)
    multi = project.multi_label
    resolved: dict[int, list[str]] = {}
    finals = _adjudicated(project) if rule == "adjudicated-first" else {}
    for rid, by_annotator in per_record.items():
        n = len(by_annotator)
        if n > 1:
            snap.multi_annotator += 1
        if rid in finals:
            continue
        if n == 1:
            resolved[rid] = next(iter(by_annotator.values()))
            snap.single_annotator += 1
            continue
        chosen = majority_labels(by_annotator.values(), multi)
        if chosen is None:
            snap.ties += 1
        else:
            resolved[rid] = chosen
            snap.by_majority += 1
    for rid, names in finals.items():
        resolved[rid] = names
        snap.adjudicated += 1
    order = {name: i for i, name in enumerate(project.label_names())}
    for rid in resolved:
        resolved[rid] = sorted(set(resolved[rid]), key=lambda n: order.get(n, 0))
    snap.n_records = len(resolved)
    return resolved, snap


def label_counts(project: Project, rule: str | None = None) -> LabelSnapshot:
    """The counts of :func:`resolve_labels` (rule, adjudicated, ties...) without the texts."""
    return _resolve(project, rule)[1]


def resolve_label_map(project: Project, rule: str | None = None) -> dict[int, list[str]]:
    """record id -> final label names (display order), without loading texts."""
    return _resolve(project, rule)[0]


def resolve_labels(project: Project, rule: str | None = None) -> LabelSnapshot:
    """Take a snapshot of final labels from the project (see the module docstring).

    ``rule`` overrides the project's final rule (``adjudicated-first`` or ``majority``).
    """
    resolved, snap = _resolve(project, rule)
    for rec in project.get_records(sorted(resolved)):
        snap.examples.append((rec.id, rec.text, resolved[rec.id], rec.split))
    return snap
