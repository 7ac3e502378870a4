"""Project file schema and forward migrations, versioned by ``PRAGMA user_version``.

Each migration is a function that takes a sqlite-utils ``Database`` and moves the schema
from version ``n - 1`` to ``n``. Never edit a released migration: add a new one.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils

__all__ = ["APP_ID", "SCHEMA_VERSION", "MIGRATIONS", "migrate"]

#: Stored in ``PRAGMA application_id`` so a Workbench project is recognised as such.
APP_ID = 0x57424E43  # "WBNC"


def _v1(db: sqlite_utils.Database) -> None:
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    db["import_batches"].create(
        {"id": int, "source": str, "format": str, "created_at": str, "n_records": int},
        pk="id",
    )
    db.execute(
        """CREATE TABLE records (
            id INTEGER PRIMARY KEY,
            external_id TEXT,
            text TEXT NOT NULL,
            meta TEXT,
            hash TEXT NOT NULL,
            split TEXT NOT NULL DEFAULT 'unassigned'
                CHECK (split IN ('train', 'validation', 'test', 'unassigned')),
            batch_id INTEGER REFERENCES import_batches(id)
        )"""
    )
    db.execute("CREATE UNIQUE INDEX records_hash ON records(hash)")
    db.execute("CREATE INDEX records_external_id ON records(external_id)")
    db.execute(
        "CREATE VIRTUAL TABLE records_fts USING fts5(text, content='records', content_rowid='id')"
    )
    db.execute(
        """CREATE TABLE labels (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            color TEXT NOT NULL DEFAULT '#888888',
            shortcut TEXT,
            guideline TEXT NOT NULL DEFAULT '',
            position INTEGER NOT NULL DEFAULT 0
        )"""
    )
    db.execute(
        """CREATE TABLE annotations (
            id INTEGER PRIMARY KEY,
            record_id INTEGER NOT NULL REFERENCES records(id) ON DELETE CASCADE,
            annotator TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'labelled'
                CHECK (status IN ('labelled', 'skipped', 'flagged')),
            comment TEXT,
            provenance TEXT NOT NULL DEFAULT 'manual',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (record_id, annotator)
        )"""
    )
    db.execute("CREATE INDEX annotations_annotator ON annotations(annotator)")
    db.execute(
        """CREATE TABLE annotation_labels (
            annotation_id INTEGER NOT NULL REFERENCES annotations(id) ON DELETE CASCADE,
            label_id INTEGER NOT NULL REFERENCES labels(id) ON DELETE CASCADE,
            PRIMARY KEY (annotation_id, label_id)
        ) WITHOUT ROWID"""
    )
    db.execute("CREATE INDEX annotation_labels_label ON annotation_labels(label_id)")
    db.execute(
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL DEFAULT 'train',
            status TEXT NOT NULL DEFAULT 'running',
            created_at TEXT NOT NULL,
            finished_at TEXT,
            base_model TEXT,
            config TEXT,
            metrics TEXT,
            model_path TEXT,
            snapshot_hash TEXT,
            device TEXT,
            timings TEXT,
            error TEXT
        )"""
    )
    db.execute(
        """CREATE TABLE predictions (
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            record_id INTEGER NOT NULL REFERENCES records(id) ON DELETE CASCADE,
            probs TEXT NOT NULL,
            label TEXT,
            confidence REAL,
            PRIMARY KEY (run_id, record_id)
        ) WITHOUT ROWID"""
    )


def _v2(db: sqlite_utils.Database) -> None:
    """Team work: adjudicated final labels and merge conflicts awaiting adjudication.

    Labels are referenced by id through join tables, so renaming a label keeps working and
    deleting one removes it from finals and conflicts without leaving dangling names.
    """
    db.execute(
        """CREATE TABLE final_labels (
            record_id INTEGER PRIMARY KEY REFERENCES records(id) ON DELETE CASCADE,
            source TEXT NOT NULL DEFAULT 'adjudicated'
                CHECK (source IN ('adjudicated', 'majority')),
            adjudicator TEXT,
            comment TEXT,
            origin TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )"""
    )
    db.execute(
        """CREATE TABLE final_label_labels (
            record_id INTEGER NOT NULL REFERENCES final_labels(record_id) ON DELETE CASCADE,
            label_id INTEGER NOT NULL REFERENCES labels(id) ON DELETE CASCADE,
            PRIMARY KEY (record_id, label_id)
        ) WITHOUT ROWID"""
    )
    db.execute("CREATE INDEX final_label_labels_label ON final_label_labels(label_id)")
    db.execute(
        """CREATE TABLE merge_conflicts (
            id INTEGER PRIMARY KEY,
            record_id INTEGER NOT NULL REFERENCES records(id) ON DELETE CASCADE,
            kind TEXT NOT NULL DEFAULT 'annotation' CHECK (kind IN ('annotation', 'final')),
            annotator TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'labelled',
            source TEXT NOT NULL,
            signature TEXT NOT NULL,
            created_at TEXT NOT NULL,
            resolved_at TEXT
        )"""
    )
    db.execute("CREATE INDEX merge_conflicts_record ON merge_conflicts(record_id)")
    db.execute(
        """CREATE TABLE merge_conflict_labels (
            conflict_id INTEGER NOT NULL REFERENCES merge_conflicts(id) ON DELETE CASCADE,
            label_id INTEGER NOT NULL REFERENCES labels(id) ON DELETE CASCADE,
            PRIMARY KEY (conflict_id, label_id)
        ) WITHOUT ROWID"""
    )


def _v3(db: sqlite_utils.Database) -> None:
    # Split counts are shown in the status bar and stats: avoid a full table scan.
    db.execute("CREATE INDEX IF NOT EXISTS records_split ON records(split)")


def _v4(db: sqlite_utils.Database) -> None:
    """Imports commit in short chunks and become visible at the end; jobs name their owner.

    An import's rows are written with its batch in state ``pending`` (hidden from readers,
    see ``workbench.core.store.project``) and published by one update to ``done``. ``owner``
    (host:pid:start) and ``heartbeat`` let a later open tell a job whose process is gone.
    """
    for column, decl in (
        ("state", "TEXT NOT NULL DEFAULT 'done'"),
        ("first_id", "INTEGER"),
        ("owner", "TEXT"),
        ("heartbeat", "TEXT"),
        ("new_labels", "TEXT"),
    ):
        db.execute(f"ALTER TABLE import_batches ADD COLUMN {column} {decl}")
    db.execute(
        "CREATE INDEX import_batches_pending ON import_batches(state, first_id) "
        "WHERE state = 'pending'"
    )
    db.execute("ALTER TABLE runs ADD COLUMN owner TEXT")
    db.execute("ALTER TABLE runs ADD COLUMN heartbeat TEXT")


def _prep(db: sqlite_utils.Database) -> None:
    """Data preparation: the original text of every changed record, the undo log of the
    preparation steps, marks (near-duplicates, filters) and augmented rows.

    ``records.original_text`` is NULL while a record still has its imported text. Augmented
    rows live in their own table, never in ``records``: nothing that reads records (splits,
    agreement, exports, evaluation) can see them; training adds them to its train split.
    """
    db.execute("ALTER TABLE records ADD COLUMN original_text TEXT")
    db.execute(
        """CREATE TABLE prep_steps (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            options TEXT,
            summary TEXT,
            created_at TEXT NOT NULL,
            undone INTEGER NOT NULL DEFAULT 0
        )"""
    )
    db.execute(
        """CREATE TABLE prep_step_rows (
            step_id INTEGER NOT NULL REFERENCES prep_steps(id) ON DELETE CASCADE,
            record_id INTEGER NOT NULL,
            action TEXT NOT NULL,
            before TEXT,
            after TEXT
        )"""
    )
    db.execute("CREATE INDEX prep_step_rows_step ON prep_step_rows(step_id, record_id)")
    db.execute(
        """CREATE TABLE record_marks (
            record_id INTEGER NOT NULL REFERENCES records(id) ON DELETE CASCADE,
            kind TEXT NOT NULL,
            value TEXT,
            PRIMARY KEY (record_id, kind)
        ) WITHOUT ROWID"""
    )
    db.execute(
        """CREATE TABLE augmented_records (
            id INTEGER PRIMARY KEY,
            source_id INTEGER NOT NULL REFERENCES records(id) ON DELETE CASCADE,
            text TEXT NOT NULL,
            method TEXT NOT NULL,
            step_id INTEGER,
            created_at TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX augmented_records_source ON augmented_records(source_id)")


def _spans(db: sqlite_utils.Database) -> None:
    """Span (entity) projects: an annotation, a final label and a merge conflict carry the
    character spans of the record (a JSON list of ``[start, end, label]``; NULL for
    classification). The annotation's labels stay the distinct labels of its spans."""
    for table in ("annotations", "final_labels", "merge_conflicts"):
        db.execute(f"ALTER TABLE {table} ADD COLUMN spans TEXT")


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    _v1, _v2, _v3, _v4, _prep, _spans,
]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(db: sqlite_utils.Database, from_version: int) -> None:
    """Apply every migration after ``from_version`` in one transaction."""
    if from_version >= SCHEMA_VERSION:
        return
    with db.atomic():
        for version in range(from_version + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[version - 1](db)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute(f"PRAGMA application_id = {APP_ID}")
