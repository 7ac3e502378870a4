"""Read-only queries behind the record views: filtered record ids, table rows, counts.

The records table of the GUI shows a million records through these functions without
loading them: :func:`record_id_range` lets it map rows to ids arithmetically when no filter
is set, :func:`filtered_ids` returns only ids, and :func:`table_rows` fetches one page of
rows at a time.
"""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workbench.core.store.project import STATUSES

if TYPE_CHECKING:
    from workbench.core.store.changes import AnnotationStep
    from workbench.core.store.project import Annotation, Project

__all__ = [
    "ANYONE",
    "AnnotatorCounts",
    "RecordFilter",
    "TableRow",
    "annotator_label_counts",
    "annotator_status_counts",
    "filtered_ids",
    "labelled_count",
    "labelled_record_count",
    "record_id_range",
    "table_rows",
]

#: The annotator of a filter that matches any annotator's annotation.
ANYONE = "*"

#: (record id, text, labels, annotators, statuses, split), as the records table shows them.
TableRow = tuple[int, str, str, str, str, str, str]

#: How the records table names the marks data preparation leaves on a record.
_MARK_WORDS = {"near_duplicate": "near-duplicate of #{}", "duplicate_conflict":
               "labels conflict with near-duplicates", "filtered": "filtered: {}"}


@dataclass(frozen=True)
class RecordFilter:
    """Which records to show. ``annotator`` is a name or :data:`ANYONE`; ``status`` is
    "any", "annotated", "unannotated" or one of the annotation statuses."""

    annotator: str
    label: str | None = None
    status: str = "any"
    search: str = ""

    def is_empty(self) -> bool:
        return self.label is None and self.status == "any" and not self.search.strip()


def _fts_words(query: str) -> str:
    return " ".join('"' + w.replace('"', '""') + '"' for w in query.split())


def _filter_sql(f: RecordFilter) -> tuple[str, list[Any]]:
    where = ["1"]
    params: list[Any] = []
    who = "" if f.annotator == ANYONE else " AND a.annotator = ?"
    who_params = [] if f.annotator == ANYONE else [f.annotator]
    if f.search.strip():
        where.append("r.id IN (SELECT rowid FROM records_fts WHERE records_fts MATCH ?)")
        params.append(f.search.strip())
    if f.status == "unannotated":
        where.append(f"NOT EXISTS (SELECT 1 FROM annotations a WHERE a.record_id = r.id{who})")
        params += who_params
    elif f.status == "annotated":
        where.append(f"EXISTS (SELECT 1 FROM annotations a WHERE a.record_id = r.id{who})")
        params += who_params
    elif f.status != "any":
        where.append(
            f"EXISTS (SELECT 1 FROM annotations a WHERE a.record_id = r.id{who} "
            "AND a.status = ?)"
        )
        params += [*who_params, f.status]
    if f.label is not None:
        where.append(
            "EXISTS (SELECT 1 FROM annotations a JOIN annotation_labels al "
            "ON al.annotation_id = a.id JOIN labels l ON l.id = al.label_id "
            f"WHERE a.record_id = r.id{who} AND l.name = ?)"
        )
        params += [*who_params, f.label]
    return f"SELECT r.id FROM records r WHERE {' AND '.join(where)} ORDER BY r.id", params


def record_id_range(project: Project) -> tuple[int, int, int] | None:
    """(lowest id, highest id, number of records), or ``None`` for an empty project."""
    lo, hi = project.db.execute("SELECT min(id), max(id) FROM records").fetchone()
    if lo is None:
        return None
    return lo, hi, project.record_count()


def filtered_ids(project: Project, record_filter: RecordFilter) -> list[int]:
    """Ids of the records the filter matches, in ascending order.

    A search that is not valid full-text syntax (a stray quote, say) searches its words
    literally.
    """
    sql, params = _filter_sql(record_filter)
    try:
        return [r[0] for r in project.db.execute(sql, params)]
    except sqlite3.OperationalError:
        search = record_filter.search.strip()
        params = [_fts_words(p) if p == search else p for p in params]
        return [r[0] for r in project.db.execute(sql, params)]


def table_rows(project: Project, record_ids: Sequence[int], annotator: str,
               text_chars: int) -> list[TableRow]:
    """The table rows of these records (in the order given), showing ``annotator``'s
    annotation, or every annotator's for :data:`ANYONE`; texts cut at ``text_chars``."""
    if not record_ids:
        return []
    id_json = json.dumps(list(record_ids))
    texts = {
        rid: (text, split)
        for rid, text, split in project.db.execute(
            "SELECT id, substr(text, 1, ?), split FROM records "
            "WHERE id IN (SELECT value FROM json_each(?))",
            [text_chars, id_json],
        )
    }
    who = "" if annotator == ANYONE else " AND a.annotator = ?"
    params: list[Any] = [id_json] + ([] if not who else [annotator])
    anns: dict[int, list[tuple[str, str, str]]] = {}
    for rid, name, status, names in project.db.execute(
        "SELECT a.record_id, a.annotator, a.status, "
        "(SELECT group_concat(name, ', ') FROM (SELECT l.name FROM annotation_labels al "
        " JOIN labels l ON l.id = al.label_id WHERE al.annotation_id = a.id "
        " ORDER BY l.position, l.id)) "
        "FROM annotations a WHERE a.record_id IN (SELECT value FROM json_each(?))"
        f"{who} ORDER BY a.annotator",
        params,
    ):
        anns.setdefault(rid, []).append((name, status, names or ""))
    prep = _prep_notes(project, id_json)
    rows: list[TableRow] = []
    for rid in record_ids:
        text, split = texts.get(rid, ("", ""))
        found = anns.get(rid, [])
        if len(found) <= 1 or who:
            labels = found[0][2] if found else ""
        else:
            labels = "; ".join(f"{n} ({a})" for a, _s, n in found if n)
        rows.append(
            (
                rid,
                " ".join(text.split()),
                labels,
                ", ".join(a for a, _s, _n in found),
                ", ".join(dict.fromkeys(s for _a, s, _n in found)),
                split,
                prep.get(rid, ""),
            )
        )
    return rows


def _prep_notes(project: Project, id_json: str) -> dict[int, str]:
    """What data preparation did to each record: text changed, marks, augmented rows."""
    notes: dict[int, list[str]] = {}
    for rid, in project.db.execute(
        "SELECT id FROM records WHERE original_text IS NOT NULL "
        "AND id IN (SELECT value FROM json_each(?))", [id_json],
    ):
        notes.setdefault(rid, []).append("text changed")
    for rid, kind, value in project.db.execute(
        "SELECT record_id, kind, value FROM record_marks "
        "WHERE record_id IN (SELECT value FROM json_each(?)) ORDER BY kind", [id_json],
    ):
        if kind == "near_duplicate" and str(value) == str(rid):
            continue  # the first of its group
        notes.setdefault(rid, []).append(_MARK_WORDS.get(kind, kind).format(value))
    for rid, n in project.db.execute(
        "SELECT source_id, count(*) FROM augmented_records "
        "WHERE source_id IN (SELECT value FROM json_each(?)) GROUP BY source_id", [id_json],
    ):
        notes.setdefault(rid, []).append(f"{n} augmented row(s)")
    return {rid: "; ".join(words) for rid, words in notes.items()}


def annotator_status_counts(project: Project, annotator: str) -> dict[str, int]:
    """How many annotations of each status this annotator has (every status present)."""
    counts = {status: 0 for status in STATUSES}
    for status, n in project.db.execute(
        "SELECT status, count(*) FROM annotations WHERE annotator = ? GROUP BY status",
        [annotator],
    ):
        counts[status] = n
    return counts


def annotator_label_counts(project: Project, annotator: str) -> dict[str, int]:
    """How many records this annotator labelled with each label (every label present)."""
    counts = {name: 0 for name in project.label_names()}
    for name, n in project.db.execute(
        "SELECT l.name, count(*) FROM annotations a "
        "JOIN annotation_labels al ON al.annotation_id = a.id "
        "JOIN labels l ON l.id = al.label_id "
        "WHERE a.annotator = ? AND a.status = 'labelled' GROUP BY l.id",
        [annotator],
    ):
        counts[name] = n
    return counts


def labelled_count(project: Project, annotator: str) -> int:
    """How many records this annotator has labelled (status "labelled")."""
    return project.db.execute(
        "SELECT count(*) FROM annotations WHERE annotator = ? AND status = 'labelled'",
        [annotator],
    ).fetchone()[0]


def labelled_record_count(project: Project) -> int:
    """How many records anyone has labelled (status "labelled")."""
    return project.db.execute(
        "SELECT count(DISTINCT record_id) FROM annotations WHERE status = 'labelled'"
    ).fetchone()[0]


class AnnotatorCounts:
    """One annotator's counts (records, per status, per label), kept up to date from each
    change's annotation steps instead of re-counting a large project on every key press."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.total = 0
        self.by_status: dict[str, int] = {s: 0 for s in STATUSES}
        self.by_label: dict[str, int] = {}

    @property
    def labelled(self) -> int:
        return self.by_status.get("labelled", 0)

    def load(self, project: Project, annotator: str) -> None:
        """Count from the project (on opening it, or after changes to many records)."""
        self.total = project.record_count()
        self.by_status = annotator_status_counts(project, annotator)
        self.by_label = annotator_label_counts(project, annotator)

    def apply(self, old: Annotation | None, new: Annotation | None) -> None:
        """Account for one annotation going from ``old`` to ``new``."""
        for ann, sign in ((old, -1), (new, 1)):
            if ann is None:
                continue
            self.by_status[ann.status] = self.by_status.get(ann.status, 0) + sign
            if ann.status == "labelled":
                for name in ann.labels:
                    self.by_label[name] = self.by_label.get(name, 0) + sign

    def apply_steps(self, steps: Iterable[AnnotationStep], annotator: str) -> None:
        """Account for the steps of this annotator's annotations."""
        for step in steps:
            if step.annotator == annotator:
                self.apply(step.before, step.after)
