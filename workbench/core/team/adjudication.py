"""Adjudication: records where annotators disagree, and final labels with provenance.

A final label set by an adjudicator is stored in ``final_labels`` (who, when, and where it
came from) and, under the ``adjudicated-first`` final rule, wins over the majority vote
when training. Setting a final also resolves any merge conflicts pending on that record.
"""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from workbench.core.errors import WorkbenchError
from workbench.core.store.snapshot import majority_labels, resolve_label_map

if TYPE_CHECKING:
    from workbench.core.store.project import Project

__all__ = [
    "FinalLabel",
    "Conflict",
    "Disagreement",
    "get_final",
    "set_final",
    "clear_final",
    "restore_final",
    "final_labels_map",
    "pending_conflicts",
    "disagreements",
    "find_record",
]


@dataclass(frozen=True)
class FinalLabel:
    """A final label set chosen by an adjudicator."""

    record_id: int
    labels: tuple[str, ...]
    source: str
    adjudicator: str | None
    comment: str | None
    origin: str | None
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class Conflict:
    """A teammate's annotation that differs from this project's, kept for adjudication."""

    id: int
    record_id: int
    kind: str
    annotator: str
    status: str
    labels: tuple[str, ...]
    source: str
    resolved: bool


@dataclass
class Disagreement:
    """One record to adjudicate: every annotator's labels side by side."""

    record_id: int
    text: str
    by_annotator: dict[str, list[str]] = field(default_factory=dict)
    conflicts: list[Conflict] = field(default_factory=list)
    suggestion: list[str] | None = None
    final: FinalLabel | None = None

    @property
    def resolved(self) -> bool:
        return self.final is not None


def _ordered(project: Project, names: Sequence[str]) -> tuple[str, ...]:
    order = {name: i for i, name in enumerate(project.label_names())}
    return tuple(sorted(set(names), key=lambda n: order.get(n, 0)))


def _finals(project: Project, where: str = "1", params: Sequence[object] = ()) -> dict[int, FinalLabel]:
    rows = project.db.execute(
        "SELECT f.record_id, f.source, f.adjudicator, f.comment, f.origin, f.created_at, "
        "f.updated_at, (SELECT json_group_array(l.name) FROM final_label_labels fl "
        " JOIN labels l ON l.id = fl.label_id WHERE fl.record_id = f.record_id) "
        f"FROM final_labels f WHERE {where}",
        list(params),
    ).fetchall()
    found = {}
    for rid, source, adjudicator, comment, origin, created, updated, names in rows:
        labels = _ordered(project, json.loads(names) if names else [])
        if not labels:  # every label it had was deleted from the schema
            continue
        found[rid] = FinalLabel(rid, labels, source, adjudicator, comment, origin, created, updated)
    return found


def get_final(project: Project, record_id: int) -> FinalLabel | None:
    """The adjudicated final label of a record, if any."""
    return _finals(project, "f.record_id = ?", [record_id]).get(record_id)


def find_record(project: Project, key: str | int) -> int:
    """A record id from a record id or an external id (for the CLI)."""
    text = str(key).strip()
    if text.isdigit():
        row = project.db.execute("SELECT id FROM records WHERE id = ?", [int(text)]).fetchone()
        if row:
            return row[0]
    rows = project.db.execute("SELECT id FROM records WHERE external_id = ?", [text]).fetchall()
    if len(rows) == 1:
        return rows[0][0]
    if len(rows) > 1:
        raise WorkbenchError(f"External id {text!r} matches {len(rows)} records; use the record id.")
    raise WorkbenchError(f"No record with id {text!r}.")


def set_final(
    project: Project,
    record_id: int,
    labels: Sequence[str],
    *,
    adjudicator: str | None = None,
    comment: str | None = None,
    origin: str | None = None,
) -> FinalLabel:
    """Set the adjudicated final label(s) of a record; committed on return.

    Pending merge conflicts on the record are marked resolved in the same transaction.
    """
    from workbench.core.store.project import default_annotator, now_iso

    adjudicator = adjudicator or default_annotator()
    names = list(dict.fromkeys(n.strip() for n in labels if n and n.strip()))
    if not names:
        raise WorkbenchError("A final label needs at least one label.")
    if len(names) > 1 and not project.multi_label:
        raise WorkbenchError("This is a single-label project: give exactly one final label.")
    label_ids = project.label_ids(names)
    now = now_iso()
    with project.db.atomic():
        if project.db.execute("SELECT 1 FROM records WHERE id = ?", [record_id]).fetchone() is None:
            raise WorkbenchError(f"Record {record_id} does not exist.")
        project.db.execute(
            "INSERT INTO final_labels(record_id, source, adjudicator, comment, origin, "
            "created_at, updated_at) VALUES (?, 'adjudicated', ?, ?, ?, ?, ?) "
            "ON CONFLICT(record_id) DO UPDATE SET source = excluded.source, "
            "adjudicator = excluded.adjudicator, comment = excluded.comment, "
            "origin = excluded.origin, updated_at = excluded.updated_at",
            [record_id, adjudicator, comment, origin, now, now],
        )
        project.db.execute("DELETE FROM final_label_labels WHERE record_id = ?", [record_id])
        project.conn.executemany(
            "INSERT INTO final_label_labels(record_id, label_id) VALUES (?, ?)",
            [(record_id, lid) for lid in label_ids],
        )
        project.db.execute(
            "UPDATE merge_conflicts SET resolved_at = ? WHERE record_id = ? AND resolved_at IS NULL",
            [now, record_id],
        )
    final = get_final(project, record_id)
    assert final is not None
    return final


def clear_final(project: Project, record_id: int) -> None:
    """Remove a record's adjudicated final label (the majority rule applies again).

    Merge conflicts on the record become pending again: nobody has decided them now.
    """
    with project.db.atomic():
        project.db.execute("DELETE FROM final_labels WHERE record_id = ?", [record_id])
        project.db.execute(
            "UPDATE merge_conflicts SET resolved_at = NULL WHERE record_id = ?", [record_id]
        )


def restore_final(project: Project, record_id: int, previous: FinalLabel | None) -> None:
    """Put back an earlier final label state (``None``: no final). For undo."""
    if previous is None:
        clear_final(project, record_id)
        return
    set_final(
        project,
        record_id,
        previous.labels,
        adjudicator=previous.adjudicator,
        comment=previous.comment,
        origin=previous.origin,
    )
    with project.db.atomic():
        project.db.execute(
            "UPDATE final_labels SET created_at = ?, updated_at = ? WHERE record_id = ?",
            [previous.created_at, previous.updated_at, record_id],
        )


def final_labels_map(project: Project) -> dict[int, list[str]]:
    """record id -> final label names under the project's final rule (for export/training)."""
    return resolve_label_map(project)


def pending_conflicts(project: Project, include_resolved: bool = False) -> list[Conflict]:
    """Merge conflicts (a teammate's differing annotation or final label)."""
    where = "1" if include_resolved else "c.resolved_at IS NULL"
    rows = project.db.execute(
        "SELECT c.id, c.record_id, c.kind, c.annotator, c.status, c.source, c.resolved_at, "
        "(SELECT json_group_array(l.name) FROM merge_conflict_labels cl "
        " JOIN labels l ON l.id = cl.label_id WHERE cl.conflict_id = c.id) "
        f"FROM merge_conflicts c WHERE {where} ORDER BY c.id"
    ).fetchall()
    return [
        Conflict(
            id=r[0],
            record_id=r[1],
            kind=r[2],
            annotator=r[3],
            status=r[4],
            labels=_ordered(project, json.loads(r[7]) if r[7] else []),
            source=r[5],
            resolved=r[6] is not None,
        )
        for r in rows
    ]


def disagreements(project: Project, include_resolved: bool = False) -> list[Disagreement]:
    """Records whose annotators chose different labels, or with a merge conflict.

    Records that already have an adjudicated final label are left out unless
    ``include_resolved``. Each item carries the majority suggestion (``None`` on a tie).
    """
    from workbench.core.store.snapshot import annotator_votes

    by_record = annotator_votes(project)
    conflicts: dict[int, list[Conflict]] = defaultdict(list)
    for c in pending_conflicts(project, include_resolved=include_resolved):
        conflicts[c.record_id].append(c)
    finals = _finals(project)
    candidates = set(conflicts)
    for rid, by in by_record.items():
        if len(by) >= 2 and len({frozenset(v) for v in by.values()}) > 1:
            candidates.add(rid)
    if not include_resolved:
        candidates -= set(finals)
    ids = sorted(candidates)
    texts = {rec.id: rec.text for rec in project.get_records(ids)}
    multi = project.multi_label
    result = []
    for rid in ids:
        by = {a: list(_ordered(project, v)) for a, v in sorted(by_record.get(rid, {}).items())}
        suggestion = majority_labels(by.values(), multi) if by else None
        result.append(
            Disagreement(
                record_id=rid,
                text=texts.get(rid, ""),
                by_annotator=by,
                conflicts=[c for c in conflicts.get(rid, []) if include_resolved or not c.resolved],
                suggestion=list(_ordered(project, suggestion)) if suggestion else None,
                final=finals.get(rid),
            )
        )
    return result
