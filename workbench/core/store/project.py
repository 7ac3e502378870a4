"""The project store: one SQLite file (``.wbproj``) holding records, labels and annotations.

Every write that the user sees as saved is committed before the call returns. One
``Project`` object (one connection) belongs to one thread; workers open their own by path.
"""
from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.core.errors import ProjectError, WorkbenchError
from workbench.core.store import opening
from workbench.core.store._sqlite_utils import sqlite_utils
from workbench.core.store.annotations import (
    STATUSES,
    Annotation,
    AnnotationStoreMixin,
    default_annotator,
    now_iso,
)
from workbench.core.store.label_schema import DEFAULT_SHORTCUTS, PALETTE, Label, LabelSchemaMixin
from workbench.core.store.opening import OpenFiles, Verification, begin_immediate, database_error
from workbench.core.store.schema import APP_ID, SCHEMA_VERSION, migrate

__all__ = [
    "PROJECT_SUFFIX",
    "SPLITS",
    "STATUSES",
    "DEFAULT_SHORTCUTS",
    "PALETTE",
    "Label",
    "Record",
    "Annotation",
    "Project",
    "default_annotator",
    "now_iso",
    "remove_project_files",
]

PROJECT_SUFFIX = ".wbproj"
SPLITS = ("train", "validation", "test", "unassigned")
TASK_TYPES = ("single_label", "multi_label", "spans")

#: Above this many matches a search returns records in import order instead of ranking.
RANKED_SEARCH_MAX = 20_000


def remove_project_files(path: Path) -> None:
    """Delete a project file and its SQLite side files (after a failed or cancelled creation)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


@dataclass(frozen=True)
class Record:
    """One text record."""

    id: int
    text: str
    external_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    split: str = "unassigned"
    batch_id: int | None = None


class _ProjectDatabase(sqlite_utils.Database):
    """sqlite-utils' Database whose outermost ``atomic()`` is a ``BEGIN IMMEDIATE``.

    A deferred transaction that reads first and writes second fails at once with
    "database is locked" when another process committed in between, whatever the busy
    timeout; taking the write lock up front makes the second writer wait instead. Before
    the first write the project's damage check must have passed, and a read-only project
    refuses every write.
    """

    project: Project

    @contextlib.contextmanager
    def atomic(self) -> Iterator[sqlite_utils.Database]:
        if self.conn.in_transaction:
            with super().atomic() as db:  # a savepoint inside the open transaction
                yield db
            return
        self.project.check_writable()
        try:
            begin_immediate(self.conn)
        except sqlite3.DatabaseError as exc:
            raise database_error(self.project.path, exc) from None
        try:
            yield self
        except sqlite3.OperationalError as exc:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            if opening.is_environment_error(exc):  # full disk, read-only file, I/O error
                raise database_error(self.project.path, exc) from None
            raise
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        else:
            try:
                self.conn.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise database_error(self.project.path, exc) from None
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise


#: Records of an import that has not finished are hidden from every reader: each
#: connection gets temporary views named like the tables, which SQLite resolves before
#: the tables (temp comes before main). Writes name ``main.records``/``main.annotations``.
_VISIBLE = (
    "(SELECT coalesce(min(first_id), 9223372036854775807) FROM main.import_batches "
    "WHERE state = 'pending')"
)
_VIEWS = (
    f"CREATE TEMP VIEW IF NOT EXISTS records AS SELECT * FROM main.records WHERE id < {_VISIBLE}",
    "CREATE TEMP VIEW IF NOT EXISTS annotations AS SELECT * FROM main.annotations "
    f"WHERE record_id < {_VISIBLE}",
)


class Project(LabelSchemaMixin, AnnotationStoreMixin):
    """An open project file. Use :meth:`create` or :meth:`open`; close it when done."""

    def __init__(self, path: Path, conn: sqlite3.Connection, *, read_only: bool = False,
                 verification: Verification | None = None,
                 key: tuple[int, int] | None = None) -> None:
        self.path = Path(path)
        self.conn = conn
        self.read_only = read_only
        self.db = _ProjectDatabase(conn, execute_plugins=False)
        self.db.project = self
        self._label_cache: list[Label] | None = None
        self._verification = verification or Verification.passed(self.path)
        self._key = key

    def _add_views(self) -> None:
        for sql in _VIEWS:
            self.conn.execute(sql)

    def check_writable(self) -> None:
        """Raise :class:`ProjectError` unless this project may be written now (waits for
        the damage check of a freshly opened large project)."""
        if self.read_only:
            raise ProjectError(
                f"{self.path} is open read-only (the file or its folder cannot be written): "
                "copy it to a folder you can write to in order to change it."
            )
        self._verification.wait()

    # ----------------------------------------------------------------- lifecycle
    @classmethod
    def create(
        cls,
        path: str | Path,
        labels: Sequence[str] = (),
        *,
        multi_label: bool = False,
        overwrite: bool = False,
        task: str | None = None,
    ) -> Project:
        """Create a new, empty project file with the given label names.

        ``task`` is one of :data:`TASK_TYPES` (default: from ``multi_label``); a "spans"
        project labels character spans (entities) of each record.

        The file is built under a temporary name and renamed into place when complete, so
        a failure (a full disk, say) leaves nothing behind.
        """
        path = Path(path)
        task = task or ("multi_label" if multi_label else "single_label")
        if task not in TASK_TYPES:
            raise ProjectError(f"Unknown task {task!r} (use one of: {', '.join(TASK_TYPES)}).")
        if path.exists() and not overwrite:
            raise ProjectError(f"{path} already exists.")
        if not path.parent.exists():
            raise ProjectError(f"Folder {path.parent} does not exist.")
        names = [n.strip() for n in labels if n.strip()]
        if len(set(names)) != len(names):
            raise ProjectError("Label names must be unique.")
        tmp = path.with_name(f".{path.name}.{os.getpid()}.creating")
        remove_project_files(tmp)
        try:
            conn = opening.connect(tmp)
            try:
                # Built in rollback-journal mode and switched to WAL after the rename, so
                # that no -wal file of the temporary name is left to rename.
                project = cls(tmp, conn)
                migrate(project.db, 0)
                project._add_views()
                with project.db.atomic():
                    project._set_meta("task_type", task)
                    project._set_meta("created_at", now_iso())
                    project._set_meta("name", path.stem)
                    for name in names:
                        project.add_label(name)
            finally:
                conn.close()
            if overwrite:
                remove_project_files(path)
            os.replace(tmp, path)
        except sqlite3.DatabaseError as exc:
            remove_project_files(tmp)
            raise database_error(path, exc) from None
        except OSError as exc:
            remove_project_files(tmp)
            raise database_error(path, exc) from None
        except BaseException:
            remove_project_files(tmp)
            raise
        return cls.open(path)

    @classmethod
    def open(cls, path: str | Path, *, read_only: bool | None = None) -> Project:
        """Open an existing project, migrating an older schema forward.

        Raises :class:`ProjectError` with a readable message for a missing file, a file
        that is not a Workbench project, a newer schema or a corrupt database; the file is
        not modified in any of those cases. A project whose file or folder cannot be
        written opens read-only (``read_only=None``, the default, decides by permissions).
        """
        path = Path(path)
        if not path.exists():
            raise ProjectError(f"Project {path} does not exist.")
        if path.is_dir():
            raise ProjectError(f"{path} is a folder, not a project file.")
        if path.stat().st_size == 0:
            raise ProjectError(f"{path} is empty: not a Workbench project.")
        if read_only is None:
            read_only = not opening.folder_writable(path)
        with OpenFiles.opening():
            key = OpenFiles.key(path)
            verification = OpenFiles.verification(key)
            version = SCHEMA_VERSION
            if verification is None:
                # Inspect read-only first so that a foreign or damaged file is never touched.
                # Only while no connection of this process has the file open: closing the
                # inspection's descriptor would drop that connection's locks.
                app_id, version, tables = opening.inspect(path)
                if app_id != APP_ID:
                    raise ProjectError(f"{path} is an SQLite database but not a Workbench project.")
                if version > SCHEMA_VERSION:
                    raise ProjectError(
                        f"{path} was written by a newer version of Workbench (schema {version}, "
                        f"this version reads up to {SCHEMA_VERSION}). Please update Workbench."
                    )
                if version >= 1 and not {"meta", "records", "labels", "annotations"} <= tables:
                    raise ProjectError(f"{path} is damaged: its tables are missing.")
                if version < SCHEMA_VERSION and read_only:
                    raise ProjectError(
                        f"{path} was written by an older version of Workbench and must be "
                        "upgraded, but it is read-only: copy it to a folder you can write to."
                    )
                # A migration writes: check first. Small files are checked at once, large
                # ones in the background (writes wait for the result).
                small = path.stat().st_size <= opening.SYNC_CHECK_MAX_BYTES
                verification = Verification(path, background=not (small or version < SCHEMA_VERSION))
                if verification.failed:
                    verification.wait()  # raises: damaged
            try:
                conn = opening.connect(path, read_only=read_only)
            except sqlite3.DatabaseError as exc:
                raise opening.database_error(path, exc) from None
            project = cls(path, conn, read_only=read_only, verification=verification, key=key)
            try:
                if not read_only:
                    conn.execute("PRAGMA journal_mode = WAL")
                    migrate(project.db, version)
                project._add_views()
            except sqlite3.DatabaseError as exc:
                conn.close()
                raise opening.database_error(path, exc) from None
            except BaseException:
                conn.close()
                raise
            OpenFiles.add(key, verification)
        if not read_only and not verification.failed:
            from workbench.core.store import liveness

            try:
                if liveness.needs_reaping(project):
                    liveness.reap_stale(project)
            except WorkbenchError:
                project.close()
                raise
        return project

    def close(self) -> None:
        """Close the connection (all writes are already committed)."""
        with OpenFiles.opening():
            self.conn.close()
            if self._key is not None:
                OpenFiles.remove(self._key)
                self._key = None

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- meta
    def _set_meta(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [key, value],
        )

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        """Store a project-level setting: committed at once, or, inside an open
        ``db.atomic()`` transaction, as part of it (a savepoint)."""
        with self.db.atomic():
            self._set_meta(key, value)

    @property
    def name(self) -> str:
        return self.get_meta("name") or self.path.stem

    @property
    def task_type(self) -> str:
        return self.get_meta("task_type", "single_label") or "single_label"

    @property
    def task(self) -> str:
        """"single_label", "multi_label" or "spans"."""
        return self.task_type

    @property
    def multi_label(self) -> bool:
        return self.task_type == "multi_label"

    @property
    def is_spans(self) -> bool:
        """Whether annotators label character spans (entities) instead of whole records."""
        return self.task_type == "spans"

    @property
    def allow_overlapping_spans(self) -> bool:
        """Whether two spans of a record may share characters (off unless turned on)."""
        return self.get_meta("allow_overlapping_spans", "0") == "1"

    @property
    def models_dir(self) -> Path:
        """Folder beside the project file where trained models and exports live."""
        return self.path.with_name(self.path.stem + ".models")

    # ----------------------------------------------------------------- records
    def record_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM records").fetchone()[0]

    def max_record_id(self) -> int:
        return self.db.execute("SELECT coalesce(max(id), 0) FROM main.records").fetchone()[0]

    @staticmethod
    def _record(row: Sequence[Any]) -> Record:
        return Record(
            id=row[0],
            text=row[1],
            external_id=row[2],
            meta=json.loads(row[3]) if row[3] else {},
            split=row[4],
            batch_id=row[5],
        )

    def get_record(self, record_id: int) -> Record:
        row = self.db.execute(
            "SELECT id, text, external_id, meta, split, batch_id FROM records WHERE id = ?",
            [record_id],
        ).fetchone()
        if row is None:
            raise WorkbenchError(f"Record {record_id} does not exist.")
        return self._record(row)

    def get_records(self, record_ids: Sequence[int]) -> list[Record]:
        """Records by id, in the order given (missing ids are left out)."""
        found: dict[int, Record] = {}
        ids = list(record_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.db.execute(
                "SELECT id, text, external_id, meta, split, batch_id FROM records "
                f"WHERE id IN ({marks})",
                chunk,
            ):
                found[row[0]] = self._record(row)
        return [found[i] for i in ids if i in found]

    def search(self, query: str, limit: int = 1000) -> list[int]:
        """Record ids whose text matches a full-text query (FTS5 syntax; plain words work).

        Best matches first (BM25). When more than :data:`RANKED_SEARCH_MAX` records match,
        ranking them all would take seconds, so the first matches in import order are
        returned instead.
        """
        # NUL and other control characters cannot be part of a match: read them as spaces.
        query = "".join(" " if ord(c) < 32 else c for c in query).strip()
        if not query:
            return []
        try:
            return self._search(query, limit)
        except sqlite3.OperationalError:
            # Not valid FTS syntax (e.g. a stray quote): search for the words literally.
            words = " ".join('"' + w.replace('"', '""') + '"' for w in query.split())
            return self._search(words, limit)

    def _search(self, match: str, limit: int) -> list[int]:
        q = self.db.execute
        many = q(
            "SELECT count(*) FROM (SELECT 1 FROM records_fts WHERE records_fts MATCH ? "
            f"AND rowid < {_VISIBLE} LIMIT ?)",
            [match, RANKED_SEARCH_MAX + 1],
        ).fetchone()[0] > RANKED_SEARCH_MAX
        order = "ORDER BY rowid" if many else "ORDER BY rank"
        rows = q(
            f"SELECT rowid FROM records_fts WHERE records_fts MATCH ? AND rowid < {_VISIBLE} "
            f"{order} LIMIT ?",
            [match, limit],
        ).fetchall()
        return [r[0] for r in rows]

    def set_splits(self, assignment: dict[int, str]) -> None:
        """Store the split of many records in one transaction."""
        bad = {s for s in assignment.values() if s not in SPLITS}
        if bad:
            raise WorkbenchError(f"Unknown split(s): {', '.join(sorted(bad))}")
        with self.db.atomic():
            self.conn.executemany(
                "UPDATE main.records SET split = ? WHERE id = ?",
                [(split, rid) for rid, split in assignment.items()],
            )

    # ----------------------------------------------------------------- stats
    def stats(self) -> dict[str, Any]:
        """Counts for the status bar, ``workbench stats`` and the training summary."""
        q = self.db.execute
        records = q("SELECT count(*) FROM records").fetchone()[0]
        # A span record confirmed with no entity is labelled too.
        has_label = "" if self.is_spans else (
            " AND EXISTS (SELECT 1 FROM annotation_labels al WHERE al.annotation_id = a.id)")
        labelled = q(
            "SELECT count(DISTINCT a.record_id) FROM annotations a "
            f"WHERE a.status = 'labelled'{has_label}"
        ).fetchone()[0]
        by_label = {name: 0 for name in self.label_names()}
        for name, n in q(
            "SELECT l.name, count(DISTINCT a.record_id) FROM labels l "
            "JOIN annotation_labels al ON al.label_id = l.id "
            "JOIN annotations a ON a.id = al.annotation_id AND a.status = 'labelled' "
            "GROUP BY l.id"
        ):
            by_label[name] = n
        by_annotator = {
            name: n
            for name, n in q(
                "SELECT annotator, count(*) FROM annotations GROUP BY annotator ORDER BY annotator"
            )
        }
        by_status = {s: 0 for s in STATUSES}
        for status, n in q("SELECT status, count(*) FROM annotations GROUP BY status"):
            by_status[status] = n
        splits = {s: 0 for s in SPLITS}
        for split, n in q("SELECT split, count(*) FROM records GROUP BY split"):
            splits[split] = n
        return {
            "name": self.name,
            "task_type": self.task_type,
            "records": records,
            "labelled": labelled,
            "unlabelled": records - labelled,
            "labels": self.label_names(),
            "by_label": by_label,
            "by_annotator": by_annotator,
            "by_status": by_status,
            "splits": splits,
            "schema_version": SCHEMA_VERSION,
        }
