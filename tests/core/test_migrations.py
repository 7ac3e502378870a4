"""Every older schema version opens and migrates forward without losing data."""
from __future__ import annotations

import sqlite3

import pytest
import sqlite_utils

from workbench.core.data.importer import add_texts
from workbench.core.store import schema
from workbench.core.store.project import Project


def _make_old_file(path, version: int) -> None:
    """Write a project file at schema ``version`` with one labelled record."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    db = sqlite_utils.Database(conn)
    with db.atomic():
        for migration in schema.MIGRATIONS[:version]:
            migration(db)
        db.execute(f"PRAGMA user_version = {version}")
        db.execute(f"PRAGMA application_id = {schema.APP_ID}")
        db.execute("INSERT INTO meta(key, value) VALUES ('task_type', 'single_label')")
        db.execute("INSERT INTO labels(id, name) VALUES (1, 'pos'), (2, 'neg')")
        db.execute(
            "INSERT INTO records(id, text, hash) VALUES (1, 'good film', 'h1'), (2, 'bad film', 'h2')"
        )
        db.execute("INSERT INTO records_fts(rowid, text) SELECT id, text FROM records")
        db.execute(
            "INSERT INTO annotations(id, record_id, annotator, created_at, updated_at) "
            "VALUES (1, 1, 'ann', 't', 't')"
        )
        db.execute("INSERT INTO annotation_labels(annotation_id, label_id) VALUES (1, 1)")
    conn.close()


@pytest.mark.parametrize("version", range(1, schema.SCHEMA_VERSION))
def test_older_versions_open_and_migrate(tmp_path, version):
    path = tmp_path / f"v{version}.wbproj"
    _make_old_file(path, version)
    with Project.open(path) as project:
        assert project.db.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
        assert project.label_names() == ["pos", "neg"]
        assert project.get_annotation(1, "ann").labels == ("pos",)
        assert project.search("film") and len(project.search("film")) == 2
        tables = set(project.db.table_names())
        assert {"final_labels", "final_label_labels", "merge_conflicts"} <= tables
        # The new tables work after migration.
        project.db.execute(
            "INSERT INTO final_labels(record_id, source, created_at, updated_at) "
            "VALUES (2, 'adjudicated', 't', 't')"
        )
        project.db.execute("INSERT INTO final_label_labels(record_id, label_id) VALUES (2, 2)")
    # Opening again is a no-op.
    with Project.open(path) as project:
        assert project.db.execute("SELECT count(*) FROM final_labels").fetchone()[0] == 1


def test_new_project_has_current_schema(project_path):
    with Project.create(project_path, ["a"]) as project:
        assert project.db.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
        assert "merge_conflicts" in project.db.table_names()


def test_final_labels_follow_label_rename_and_delete(project_path):
    with Project.create(project_path, ["a", "b"]) as project:
        (rid,) = add_texts(project, ["x"])
        a_id = project.labels()[0].id
        project.db.execute(
            "INSERT INTO final_labels(record_id, created_at, updated_at) VALUES (?, 't', 't')", [rid]
        )
        project.db.execute(
            "INSERT INTO final_label_labels(record_id, label_id) VALUES (?, ?)", [rid, a_id]
        )
        project.rename_label("a", "alpha")
        name = project.db.execute(
            "SELECT l.name FROM final_label_labels f JOIN labels l ON l.id = f.label_id"
        ).fetchone()[0]
        assert name == "alpha"
        project.delete_label("alpha")
        assert project.db.execute("SELECT count(*) FROM final_label_labels").fetchone()[0] == 0
        assert project.db.execute("PRAGMA foreign_key_check").fetchall() == []
