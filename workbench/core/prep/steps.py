"""The undo log of data-preparation steps, stored in the project.

Every step (normalise, mask, remove near-duplicates, filter, mark, augment, restore) is
one row of ``prep_steps`` with one row per touched record in ``prep_step_rows`` holding
what is needed to put it back: the text before and after, a removed record with its
annotations and final labels, a mark's earlier value. :func:`undo_last` reverts the most
recent step that is not undone yet, also after the project was closed and reopened.

``records.original_text`` keeps the imported text of every changed record (NULL while the
text is unchanged), whatever the steps in between, so :func:`restore_plan` can always bring
back the exact original.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from workbench.core.errors import WorkbenchError
from workbench.core.store.project import Project, now_iso

__all__ = [
    "StepInfo",
    "UndoResult",
    "delete_records",
    "last_step",
    "list_steps",
    "mark_records",
    "new_step",
    "original_texts",
    "put_texts",
    "undo_last",
]

_CHUNK = 500


@dataclass(frozen=True)
class StepInfo:
    """One applied preparation step."""

    id: int
    kind: str
    summary: str
    created_at: str
    undone: bool
    n_rows: int


@dataclass(frozen=True)
class UndoResult:
    """What an undo put back."""

    step: StepInfo
    texts: int = 0
    records: int = 0
    marks: int = 0
    augmented: int = 0

    def message(self) -> str:
        parts = [f"{n} {what}" for n, what in (
            (self.texts, "text(s) put back"), (self.records, "removed record(s) restored"),
            (self.marks, "mark(s) reverted"), (self.augmented, "augmented row(s) removed"),
        ) if n]
        return f"Undid {self.step.kind}: " + (", ".join(parts) or "nothing to put back") + "."


def new_step(project: Project, kind: str, options: Mapping[str, Any], summary: str) -> int:
    """Open a step (call inside ``project.db.atomic()``); returns its id."""
    cur = project.db.execute(
        "INSERT INTO prep_steps(kind, options, summary, created_at) VALUES (?, ?, ?, ?)",
        [kind, json.dumps(dict(options), sort_keys=True, default=str), summary, now_iso()],
    )
    return int(cur.lastrowid)


def _write_text(project: Project, record_id: int, old: str, new: str) -> None:
    conn = project.conn
    conn.execute(
        "INSERT INTO records_fts(records_fts, rowid, text) VALUES ('delete', ?, ?)",
        [record_id, old],
    )
    # original_text stays the imported text; NULL again once the text is back to it.
    conn.execute(
        "UPDATE main.records SET original_text = CASE WHEN ? = coalesce(original_text, text) "
        "THEN NULL ELSE coalesce(original_text, text) END, text = ? WHERE id = ?",
        [new, new, record_id],
    )
    conn.execute("INSERT INTO records_fts(rowid, text) VALUES (?, ?)", [record_id, new])


def put_texts(project: Project, step_id: int, changes: Iterable[tuple[int, str, str]]) -> int:
    """Write new texts ``(record id, before, after)`` as part of a step (inside
    ``project.db.atomic()``); returns how many changed."""
    n = 0
    for record_id, before, after in changes:
        if before == after:
            continue
        _write_text(project, record_id, before, after)
        project.conn.execute(
            "INSERT INTO prep_step_rows(step_id, record_id, action, before, after) "
            "VALUES (?, ?, 'text', ?, ?)",
            [step_id, record_id, before, after],
        )
        n += 1
    return n


def _rows(project: Project, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    cur = project.conn.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _insert(project: Project, table: str, row: Mapping[str, Any]) -> None:
    cols = list(row)
    names = ", ".join(f'"{c}"' for c in cols)
    marks = ", ".join("?" * len(cols))
    project.conn.execute(f"INSERT INTO {table}({names}) VALUES ({marks})", [row[c] for c in cols])


def delete_records(project: Project, step_id: int, record_ids: Sequence[int]) -> int:
    """Remove records, keeping each one with its annotations and final labels in the step
    so that an undo brings them back unchanged (inside ``project.db.atomic()``)."""
    n = 0
    for record_id in record_ids:
        rec = _rows(project, "SELECT * FROM main.records WHERE id = ?", [record_id])
        if not rec:
            continue
        anns = _rows(project, "SELECT * FROM main.annotations WHERE record_id = ?", [record_id])
        payload = {
            "record": rec[0],
            "annotations": anns,
            "annotation_labels": _rows(
                project,
                "SELECT al.* FROM annotation_labels al JOIN main.annotations a "
                "ON a.id = al.annotation_id WHERE a.record_id = ?", [record_id]),
            "final_labels": _rows(
                project, "SELECT * FROM final_labels WHERE record_id = ?", [record_id]),
            "final_label_labels": _rows(
                project, "SELECT * FROM final_label_labels WHERE record_id = ?", [record_id]),
            "marks": _rows(project, "SELECT * FROM record_marks WHERE record_id = ?", [record_id]),
        }
        project.conn.execute(
            "INSERT INTO records_fts(records_fts, rowid, text) VALUES ('delete', ?, ?)",
            [record_id, rec[0]["text"]],
        )
        project.conn.execute("DELETE FROM main.records WHERE id = ?", [record_id])
        project.conn.execute(
            "INSERT INTO prep_step_rows(step_id, record_id, action, before) "
            "VALUES (?, ?, 'delete', ?)",
            [step_id, record_id, json.dumps(payload)],
        )
        n += 1
    return n


def mark_records(project: Project, step_id: int, kind: str,
                 values: Mapping[int, str | None]) -> int:
    """Set (value) or clear (``None``) a mark of each record, undoably."""
    n = 0
    for record_id, value in values.items():
        old = project.conn.execute(
            "SELECT value FROM record_marks WHERE record_id = ? AND kind = ?", [record_id, kind]
        ).fetchone()
        if value is None:
            project.conn.execute(
                "DELETE FROM record_marks WHERE record_id = ? AND kind = ?", [record_id, kind])
        else:
            project.conn.execute(
                "INSERT INTO record_marks(record_id, kind, value) VALUES (?, ?, ?) "
                "ON CONFLICT(record_id, kind) DO UPDATE SET value = excluded.value",
                [record_id, kind, value],
            )
        project.conn.execute(
            "INSERT INTO prep_step_rows(step_id, record_id, action, before, after) "
            "VALUES (?, ?, 'mark', ?, ?)",
            [step_id, record_id, json.dumps([kind, None if old is None else old[0]]), value],
        )
        n += 1
    return n


def _info(row: Sequence[Any]) -> StepInfo:
    return StepInfo(id=row[0], kind=row[1], summary=row[2] or "", created_at=row[3],
                    undone=bool(row[4]), n_rows=row[5])


_STEP_SQL = (
    "SELECT s.id, s.kind, s.summary, s.created_at, s.undone, "
    "(SELECT count(*) FROM prep_step_rows r WHERE r.step_id = s.id) "
    "+ (SELECT count(*) FROM augmented_records a WHERE a.step_id = s.id) FROM prep_steps s"
)


def list_steps(project: Project) -> list[StepInfo]:
    """Every step, newest first."""
    return [_info(r) for r in project.db.execute(_STEP_SQL + " ORDER BY s.id DESC")]


def last_step(project: Project) -> StepInfo | None:
    """The step an undo would revert."""
    row = project.db.execute(
        _STEP_SQL + " WHERE s.undone = 0 ORDER BY s.id DESC LIMIT 1").fetchone()
    return _info(row) if row else None


def _restore_record(project: Project, payload: Mapping[str, Any]) -> None:
    _insert(project, "main.records", payload["record"])
    project.conn.execute("INSERT INTO records_fts(rowid, text) VALUES (?, ?)",
                         [payload["record"]["id"], payload["record"]["text"]])
    labels = {r[0] for r in project.conn.execute("SELECT id FROM labels")}
    for row in payload["annotations"]:
        _insert(project, "main.annotations", row)
    for row in payload["annotation_labels"]:
        if row["label_id"] in labels:
            _insert(project, "annotation_labels", row)
    for row in payload["final_labels"]:
        _insert(project, "final_labels", row)
    for row in payload["final_label_labels"]:
        if row["label_id"] in labels:
            _insert(project, "final_label_labels", row)
    for row in payload.get("marks", []):
        _insert(project, "record_marks", row)


def undo_last(project: Project) -> UndoResult:
    """Revert the most recent step that is not undone (one transaction)."""
    step = last_step(project)
    if step is None:
        raise WorkbenchError("There is no data preparation step to undo.")
    counts = {"texts": 0, "records": 0, "marks": 0, "augmented": 0}
    with project.db.atomic():
        rows = project.conn.execute(
            "SELECT record_id, action, before, after FROM prep_step_rows WHERE step_id = ? "
            "ORDER BY rowid DESC", [step.id]
        ).fetchall()
        for record_id, action, before, _after in rows:
            if action == "text":
                current = project.conn.execute(
                    "SELECT text FROM main.records WHERE id = ?", [record_id]).fetchone()
                if current is not None:
                    _write_text(project, record_id, current[0], before)
                    counts["texts"] += 1
            elif action == "delete":
                _restore_record(project, json.loads(before))
                counts["records"] += 1
            elif action == "mark":
                kind, old = json.loads(before)
                if old is None:
                    project.conn.execute(
                        "DELETE FROM record_marks WHERE record_id = ? AND kind = ?",
                        [record_id, kind])
                else:
                    project.conn.execute(
                        "INSERT OR REPLACE INTO record_marks(record_id, kind, value) "
                        "VALUES (?, ?, ?)", [record_id, kind, old])
                counts["marks"] += 1
        cur = project.conn.execute("DELETE FROM augmented_records WHERE step_id = ?", [step.id])
        counts["augmented"] = cur.rowcount
        project.conn.execute("UPDATE prep_steps SET undone = 1 WHERE id = ?", [step.id])
    return UndoResult(step=step, **counts)


def original_texts(project: Project) -> list[tuple[int, str, str]]:
    """``(record id, current text, original text)`` of every record whose text changed."""
    return [
        (r[0], r[1], r[2]) for r in project.db.execute(
            "SELECT id, text, original_text FROM records WHERE original_text IS NOT NULL "
            "ORDER BY id")
    ]
