"""Merging a teammate's copy of a project into this one.

Records are matched by content hash; records the teammate has and this project lacks are
added with their text, metadata and external id. Annotations are matched by (record,
annotator):

* missing here: added (*new*);
* the same status and labels: nothing to do (*identical*);
* different: nothing is overwritten; the teammate's version is stored as a merge conflict
  and the record appears in the adjudication view (*conflicting*).

Adjudicated final labels are merged the same way. Merging the same file again adds
nothing: known conflicts are recognised and counted as *already pending*. The teammate's
labels must be the same as, or a subset of, this project's (matched by name); otherwise
the merge is refused and nothing changes. The whole merge is one transaction.
"""
from __future__ import annotations

import json
import logging
import sqlite3
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.core.errors import Cancelled, ProjectError, WorkbenchError
from workbench.core.jobs import ProgressEvent, never_stop, no_progress
from workbench.core.store.opening import OpenFiles, connect, inspect
from workbench.core.textnorm import content_hash

if TYPE_CHECKING:
    from workbench.core.store.project import Project

__all__ = ["MergeConfig", "MergeReport", "merge_job", "merge_projects"]

_CANCELLED = "Merge cancelled; the project is unchanged."

log = logging.getLogger(__name__)


@dataclass
class MergeReport:
    """What a merge did (counts of annotations unless stated)."""

    other: str
    records_added: int = 0
    records_matched: int = 0
    new: int = 0
    identical: int = 0
    conflicting: int = 0
    already_pending: int = 0
    finals_new: int = 0
    finals_identical: int = 0
    finals_conflicting: int = 0
    annotators_added: list[str] = field(default_factory=list)
    labels_mapped: list[str] = field(default_factory=list)
    label_note: str = ""

    @property
    def changed(self) -> bool:
        return bool(
            self.records_added or self.new or self.conflicting or self.finals_new
            or self.finals_conflicting or self.annotators_added
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """A readable account of the merge, a few lines."""
        name = Path(self.other).name
        lines = [
            f"Merged {name}: {self.records_added} records added, {self.records_matched} matched.",
            f"Annotations: {self.new} new, {self.identical} identical, "
            f"{self.conflicting} conflicting"
            + (f" ({self.already_pending} conflicts already known)" if self.already_pending else "")
            + ".",
        ]
        if self.finals_new or self.finals_identical or self.finals_conflicting:
            lines.append(
                f"Final labels: {self.finals_new} new, {self.finals_identical} identical, "
                f"{self.finals_conflicting} conflicting."
            )
        if self.conflicting or self.finals_conflicting:
            lines.append("Conflicts were kept for adjudication (Team panel); nothing was overwritten.")
        if self.label_note:
            lines.append(self.label_note)
        if self.annotators_added:
            lines.append("Annotators added: " + ", ".join(self.annotators_added) + ".")
        if not self.changed:
            lines.append("Nothing new: the project already has everything in this file.")
        return "\n".join(lines)


def _open_other(path: Path) -> sqlite3.Connection:
    """Open the teammate's file read-only after the same checks as ``Project.open``."""
    from workbench.core.store.schema import APP_ID, SCHEMA_VERSION

    if not path.exists():
        raise ProjectError(f"{path} does not exist.")
    if path.is_dir():
        raise ProjectError(f"{path} is a folder, not a project file.")
    if OpenFiles.verification(OpenFiles.key(path)) is not None:
        # A second descriptor of a file this process has open would drop its locks.
        raise ProjectError(f"{path} is the project open here: choose a teammate's copy.")
    # Read-only (immutable without a write-ahead log beside it): nothing is created next
    # to it (a teammate's file may sit on a read-only share or stick).
    app_id, version, tables = inspect(path)
    try:
        conn = connect(path, read_only=True)
    except sqlite3.DatabaseError as exc:
        raise ProjectError(f"{path} is corrupt or not a Workbench project ({exc}).") from None
    if app_id != APP_ID:
        conn.close()
        raise ProjectError(f"{path} is an SQLite database but not a Workbench project.")
    if version > SCHEMA_VERSION:
        conn.close()
        raise ProjectError(
            f"{path} was written by a newer version of Workbench (schema {version}); "
            "update Workbench before merging it."
        )
    if not {"meta", "records", "labels", "annotations", "annotation_labels"} <= tables:
        conn.close()
        raise ProjectError(f"{path} is damaged: its tables are missing.")
    return conn


def _check_labels(project: Project, other: sqlite3.Connection, name: str, report: MergeReport) -> None:
    ours = project.label_names()
    theirs = [r[0] for r in other.execute("SELECT name FROM labels ORDER BY position, id")]
    meta = dict(other.execute("SELECT key, value FROM meta").fetchall())
    their_task = meta.get("task_type", "single_label")
    if their_task != project.task_type:
        raise WorkbenchError(
            f"Cannot merge {name}: it is a {their_task.replace('_', '-')} project and this one is "
            f"{project.task_type.replace('_', '-')}. Nothing was changed."
        )
    missing = [n for n in theirs if n not in ours]
    if missing:
        raise WorkbenchError(
            f"Cannot merge {name}: its labels differ from this project's. Labels only in "
            f"{name}: {', '.join(missing)}. Add or rename labels so that every label of "
            f"{name} exists here, then merge again. Nothing was changed."
        )
    report.labels_mapped = theirs
    if theirs != ours:
        report.label_note = (
            f"Labels matched by name ({len(theirs)} of this project's {len(ours)} labels)."
        )


def _signature(status: str, label_ids: list[int], spans: str | None = None) -> str:
    # Span projects: the spans (stored sorted, so equal sets give equal text) count too.
    return json.dumps([status, sorted(label_ids)] + ([json.loads(spans)] if spans else []))


@dataclass
class MergeConfig:
    """Which teammate's project file to merge into this one."""

    other_path: str | Path


def merge_job(
    project_path: str | Path,
    config: MergeConfig,
    *,
    progress: Callable[[ProgressEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> MergeReport:
    """The merge job (see :mod:`workbench.core.jobs`): :func:`merge_projects` with the
    project's own connection; a cancel raises :class:`Cancelled` and changes nothing."""
    from workbench.core.store.project import Project

    with Project.open(project_path) as project:
        return merge_projects(project, config.other_path, progress=progress, should_stop=should_stop)


def merge_projects(
    project: Project,
    other_path: str | Path,
    progress: Callable[[ProgressEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> MergeReport:
    """Bring a teammate's records, annotations and final labels into ``project``.

    One transaction: on any error, or a cancel (``should_stop()`` is checked between
    records; :class:`Cancelled` is raised), the project is unchanged. ``progress``
    receives ``ProgressEvent("merge", done, total)`` with done/total counting the
    teammate's records, annotations and final labels. See the module docstring.
    """
    progress = progress or no_progress
    should_stop = should_stop or never_stop
    from workbench.core.store.project import now_iso
    from workbench.core.team.settings import roster

    other_path = Path(other_path)
    name = other_path.name
    if other_path.exists() and other_path.resolve() == project.path.resolve():
        raise WorkbenchError("Cannot merge a project into itself.")
    report = MergeReport(other=str(other_path))
    other = _open_other(other_path)
    try:
        _check_labels(project, other, name, report)
        tables = {r[0] for r in other.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        label_id = {lab.name: lab.id for lab in project.labels()}
        their_label_names = dict(other.execute("SELECT id, name FROM labels").fetchall())
        their_meta = dict(other.execute("SELECT key, value FROM meta").fetchall())

        their_records = other.execute(
            "SELECT id, text, external_id, meta FROM records ORDER BY id"
        ).fetchall()
        ann_labels: dict[int, list[int]] = defaultdict(list)
        for ann_id, lid in other.execute("SELECT annotation_id, label_id FROM annotation_labels"):
            ann_labels[ann_id].append(label_id[their_label_names[lid]])
        their_anns = other.execute(
            "SELECT id, record_id, annotator, status, comment, provenance, created_at, updated_at "
            "FROM annotations ORDER BY id"
        ).fetchall()
        their_finals: list[tuple] = []
        final_labels: dict[int, list[int]] = defaultdict(list)
        if "final_labels" in tables:
            their_finals = other.execute(
                "SELECT record_id, adjudicator, comment, origin, created_at, updated_at "
                "FROM final_labels WHERE source = 'adjudicated' ORDER BY record_id"
            ).fetchall()
            for rid, lid in other.execute("SELECT record_id, label_id FROM final_label_labels"):
                final_labels[rid].append(label_id[their_label_names[lid]])
        # Span projects carry each annotation's and final's spans (same task: same schema).
        their_spans = dict(other.execute("SELECT id, spans FROM annotations")) \
            if project.is_spans else {}
        their_final_spans = dict(other.execute("SELECT record_id, spans FROM final_labels")) \
            if project.is_spans and "final_labels" in tables else {}
    finally:
        other.close()
    total = len(their_records) + len(their_anns) + len(their_finals)
    done = 0

    def step(what: str) -> None:
        nonlocal done
        if should_stop():
            raise Cancelled(_CANCELLED)
        done += 1
        progress(ProgressEvent("merge", done, total, f"Merging {what} from {name}"))

    progress(ProgressEvent(
        "merge", 0, total,
        f"Read {len(their_records)} records and {len(their_anns)} annotations from {name}.",
    ))

    now = now_iso()
    conn = project.conn
    with project.db.atomic():
        # Records: match by content hash, add the missing ones.
        if conn.execute("SELECT 1 FROM import_batches WHERE state = 'pending'").fetchone():
            raise WorkbenchError(
                "An import into this project is still running: merge when it has finished."
            )
        ours_by_hash = dict(conn.execute("SELECT hash, id FROM main.records"))
        id_map: dict[int, int] = {}
        next_id = project.max_record_id() + 1
        batch_id = None
        inserts = []
        for rid, text, ext, meta in their_records:
            step("records")
            h = content_hash(text)
            if h in ours_by_hash:
                id_map[rid] = ours_by_hash[h]
                report.records_matched += 1
                continue
            if batch_id is None:
                batch_id = conn.execute(
                    "INSERT INTO import_batches(source, format, created_at, n_records) "
                    "VALUES (?, 'merge', ?, 0)",
                    [str(other_path), now],
                ).lastrowid
            inserts.append((next_id, ext, text, meta, h, batch_id))
            ours_by_hash[h] = id_map[rid] = next_id
            next_id += 1
        if inserts:
            conn.executemany(
                "INSERT INTO main.records(id, external_id, text, meta, hash, batch_id) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                inserts,
            )
            conn.execute(
                "INSERT INTO records_fts(rowid, text) SELECT id, text FROM main.records "
                "WHERE batch_id = ?",
                [batch_id],
            )
            conn.execute(
                "UPDATE import_batches SET n_records = ? WHERE id = ?", [len(inserts), batch_id]
            )
            report.records_added = len(inserts)

        # Annotations.
        local: dict[tuple[int, str], tuple[str, list[int]]] = {}
        local_labels: dict[int, list[int]] = defaultdict(list)
        for ann_id, lid in conn.execute("SELECT annotation_id, label_id FROM annotation_labels"):
            local_labels[ann_id].append(lid)
        local_spans: dict[tuple[int, str], str | None] = {}
        for ann_id, rid, annotator, status, spans in conn.execute(
            "SELECT id, record_id, annotator, status, spans FROM annotations"
        ):
            local[(rid, annotator)] = (status, local_labels.get(ann_id, []))
            local_spans[(rid, annotator)] = spans
        known = {
            (rid, kind, annotator, sig)
            for rid, kind, annotator, sig in conn.execute(
                "SELECT record_id, kind, annotator, signature FROM merge_conflicts"
            )
        }
        for ann_id, rid, annotator, status, comment, provenance, created, updated in their_anns:
            step("annotations")
            our_rid = id_map.get(rid)
            if our_rid is None:  # pragma: no cover - a foreign key guarantees the record
                continue
            labels = ann_labels.get(ann_id, [])
            mine = local.get((our_rid, annotator))
            if mine is None:
                new_id = conn.execute(
                    "INSERT INTO main.annotations(record_id, annotator, status, comment, provenance, "
                    "created_at, updated_at, spans) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [our_rid, annotator, status, comment, provenance, created, updated,
                     their_spans.get(ann_id)],
                ).lastrowid
                conn.executemany(
                    "INSERT INTO annotation_labels(annotation_id, label_id) VALUES (?, ?)",
                    [(new_id, lid) for lid in set(labels)],
                )
                local[(our_rid, annotator)] = (status, labels)
                local_spans[(our_rid, annotator)] = their_spans.get(ann_id)
                report.new += 1
                continue
            theirs_spans = their_spans.get(ann_id)
            if _signature(*mine, local_spans.get((our_rid, annotator))) == _signature(
                    status, labels, theirs_spans):
                report.identical += 1
                continue
            sig = _signature(status, labels, theirs_spans)
            if (our_rid, "annotation", annotator, sig) in known:
                report.already_pending += 1
                continue
            _add_conflict(conn, our_rid, "annotation", annotator, status, name, sig, labels, now,
                          theirs_spans)
            known.add((our_rid, "annotation", annotator, sig))
            report.conflicting += 1

        # Adjudicated final labels.
        local_finals: dict[int, list[int]] = defaultdict(list)
        for rid, lid in conn.execute("SELECT record_id, label_id FROM final_label_labels"):
            local_finals[rid].append(lid)
        local_final_spans = dict(conn.execute("SELECT record_id, spans FROM final_labels"))
        has_final = set(local_final_spans)
        for rid, adjudicator, comment, origin, created, updated in their_finals:
            step("final labels")
            our_rid = id_map.get(rid)
            labels = final_labels.get(rid, [])
            fspans = their_final_spans.get(rid)
            if our_rid is None or not (labels or fspans):
                continue
            if our_rid not in has_final or not local_finals.get(our_rid):
                conn.execute("DELETE FROM final_labels WHERE record_id = ?", [our_rid])
                conn.execute(
                    "INSERT INTO final_labels(record_id, source, adjudicator, comment, origin, "
                    "created_at, updated_at, spans) VALUES (?, 'adjudicated', ?, ?, ?, ?, ?, ?)",
                    [our_rid, adjudicator, comment, origin or f"merged from {name}", created, updated,
                     fspans],
                )
                conn.executemany(
                    "INSERT INTO final_label_labels(record_id, label_id) VALUES (?, ?)",
                    [(our_rid, lid) for lid in set(labels)],
                )
                has_final.add(our_rid)
                local_finals[our_rid] = labels
                report.finals_new += 1
                continue
            sig = _signature("labelled", labels, fspans)
            if _signature("labelled", local_finals[our_rid], local_final_spans.get(our_rid)) == sig:
                report.finals_identical += 1
                continue
            who = adjudicator or "adjudicator"
            if (our_rid, "final", who, sig) in known:
                report.already_pending += 1
                continue
            _add_conflict(conn, our_rid, "final", who, "labelled", name, sig, labels, now, fspans)
            known.add((our_rid, "final", who, sig))
            report.finals_conflicting += 1

        if should_stop():  # the last chance: only the roster is left to write
            raise Cancelled(_CANCELLED)
        # Roster: the union of both teams' lists.
        try:
            theirs = [str(n) for n in json.loads(their_meta.get("annotators") or "[]")]
        except json.JSONDecodeError:
            theirs = []
        mine_roster = roster(project)
        added = sorted(set(theirs) - set(mine_roster))
        if added:
            project.set_meta("annotators", json.dumps(sorted({*mine_roster, *added})))
            report.annotators_added = added
    log.info("merge of %s: %s", name, report.to_dict())
    return report


def _add_conflict(conn, record_id, kind, annotator, status, source, sig, labels, now,
                  spans=None) -> None:
    cid = conn.execute(
        "INSERT INTO merge_conflicts(record_id, kind, annotator, status, source, signature, "
        "created_at, spans) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [record_id, kind, annotator, status, source, sig, now, spans],
    ).lastrowid
    conn.executemany(
        "INSERT INTO merge_conflict_labels(conflict_id, label_id) VALUES (?, ?)",
        [(cid, lid) for lid in set(labels)],
    )
