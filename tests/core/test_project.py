"""The project store: create/open, refusing bad files untouched, migrations, FTS, labels,
annotations and undo."""
from __future__ import annotations

import sqlite3

import pytest
import sqlite_utils

from workbench.core.data.importer import add_texts
from workbench.core.errors import ProjectError, WorkbenchError
from workbench.core.store.project import Project
from workbench.core.store.schema import APP_ID, MIGRATIONS, SCHEMA_VERSION, migrate


@pytest.fixture
def project(project_path):
    p = Project.create(project_path, ["pos", "neg", "neutral"])
    yield p
    p.close()


def test_create_and_reopen(project_path):
    with Project.create(project_path, ["a", "b"], multi_label=True) as p:
        ids = add_texts(p, ["one", "two", "one"])
        assert ids == [1, 2]
        p.annotate(1, ["a", "b"])
    with Project.open(project_path) as p:
        assert p.multi_label
        assert p.label_names() == ["a", "b"]
        assert p.get_annotation(1).labels == ("a", "b")
        assert p.get_annotation(1).annotator == "tester"
        stats = p.stats()
        assert {k: stats[k] for k in ("records", "labelled", "by_label", "by_annotator")} == {
            "records": 2, "labelled": 1, "by_label": {"a": 1, "b": 1}, "by_annotator": {"tester": 1},
        }
        assert stats["splits"]["unassigned"] == 2
        conn = p.conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_create_refuses_existing_file_and_duplicate_labels(project_path, tmp_path):
    project_path.write_text("precious")
    with pytest.raises(ProjectError, match="already exists"):
        Project.create(project_path, ["a"])
    assert project_path.read_text() == "precious"
    with pytest.raises(ProjectError, match="unique"):
        Project.create(tmp_path / "dup.wbproj", ["a", "a"])


def _foreign_sqlite(path):
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.execute("INSERT INTO notes VALUES ('keep me')")
    conn.commit()
    conn.close()


def _newer(path):
    Project.create(path, ["a"]).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()


def _corrupt(path):
    with Project.create(path, ["a"]) as p:
        add_texts(p, [f"record number {i} " * 20 for i in range(300)])
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(path.read_bytes())
    page = 4096
    for offset in range(2 * page, len(data), page):  # damage every page after the schema
        data[offset : offset + 64] = b"\xde\xad\xbe\xef" * 16
    path.write_bytes(bytes(data))


def _truncated(path):
    with Project.create(path, ["a"]) as p:
        add_texts(p, [f"record number {i} " * 20 for i in range(300)])
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


@pytest.mark.parametrize(
    ("make", "pattern"),
    [
        (lambda p: p.write_text("id,text\n1,hello\n"), "not a Workbench project"),
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: p.write_bytes(b"SQLite format 3\x00" + b"\x00" * 50), "corrupt|not a Workbench"),
        (_foreign_sqlite, "SQLite database but not a Workbench project"),
        (_newer, "newer version of Workbench"),
        (_corrupt, "damaged|corrupt"),
        (_truncated, "damaged|corrupt"),
    ],
    ids=["text file", "empty file", "bad header", "foreign sqlite", "newer", "corrupt", "truncated"],
)
def test_open_refuses_bad_files_and_leaves_them_untouched(tmp_path, make, pattern):
    path = tmp_path / "bad.wbproj"
    make(path)
    before = path.read_bytes()
    siblings = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(ProjectError, match=pattern):
        Project.open(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == siblings


def test_open_missing_or_folder(tmp_path):
    with pytest.raises(ProjectError, match="does not exist"):
        Project.open(tmp_path / "nope.wbproj")
    with pytest.raises(ProjectError, match="folder"):
        Project.open(tmp_path)


@pytest.mark.parametrize("version", range(SCHEMA_VERSION))
def test_migrates_every_older_version(tmp_path, version):
    """A file at each older schema version (0 = an empty Workbench file) opens and is
    migrated to the current version."""
    path = tmp_path / f"v{version}.wbproj"
    db = sqlite_utils.Database(path)
    with db.conn:
        for step in MIGRATIONS[:version]:
            step(db)
    db.execute(f"PRAGMA user_version = {version}")
    db.execute(f"PRAGMA application_id = {APP_ID}")
    db.close()
    with Project.open(path) as p:
        assert p.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert add_texts(p, ["works after migration"]) == [1]
        p.add_label("x")
        p.annotate(1, ["x"])
        assert p.stats()["labelled"] == 1


def test_migrate_from_empty_schema_to_current(tmp_path):
    db = sqlite_utils.Database(tmp_path / "empty.wbproj")
    migrate(db, 0)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA application_id").fetchone()[0] == APP_ID
    assert {"meta", "records", "records_fts", "labels", "annotations", "annotation_labels",
            "runs", "predictions"} <= set(db.table_names())
    migrate(db, SCHEMA_VERSION)  # nothing to do
    db.close()


def test_fts_search(project):
    add_texts(project, [
        "The delivery was late again",
        "Great service, fast delivery",
        "Billing error on my invoice",
        'A "quoted" word and delivered goods',
    ])
    assert sorted(project.search("delivery")) == [1, 2]
    assert sorted(project.search("deliver*")) == [1, 2, 4]
    assert project.search("invoice billing") == [3]
    assert project.search('"quoted') == [4]  # not valid FTS syntax: searched literally
    assert project.search("   ") == []
    assert project.search("nothing-like-this") == []
    add_texts(project, ["another late delivery"])
    assert sorted(project.search("late")) == [1, 5]


def test_search_with_many_matches_returns_import_order(project, monkeypatch):
    import workbench.core.store.project as store

    add_texts(project, [f"delivery number {i} " + "padding " * (20 - i) for i in range(6)])
    ranked = project.search("delivery")
    assert sorted(ranked) == [1, 2, 3, 4, 5, 6] and ranked != [1, 2, 3, 4, 5, 6]
    monkeypatch.setattr(store, "RANKED_SEARCH_MAX", 3)
    assert project.search("delivery", limit=4) == [1, 2, 3, 4]
    assert project.search("number 2") == [3]


def test_label_crud(project):
    add_texts(project, ["good", "bad", "meh"])
    project.annotate(1, ["pos"])
    project.annotate(2, ["neg"])
    project.annotate(3, ["neg"], annotator="other")
    # Rename keeps the annotations.
    project.rename_label("neg", "negative")
    assert project.get_annotation(2).labels == ("negative",)
    assert project.stats()["by_label"] == {"pos": 1, "negative": 2, "neutral": 0}
    with pytest.raises(WorkbenchError, match="already exists"):
        project.rename_label("pos", "negative")
    # Shortcut conflicts are refused, on add and on update.
    shortcut = project.labels()[0].shortcut
    assert shortcut
    with pytest.raises(WorkbenchError, match="already used"):
        project.add_label("extra", shortcut=shortcut)
    with pytest.raises(WorkbenchError, match="already used"):
        project.update_label("neutral", shortcut=shortcut)
    project.update_label("neutral", shortcut="z", color="#123456", guideline="Neither.")
    neutral = next(lab for lab in project.labels() if lab.name == "neutral")
    assert (neutral.shortcut, neutral.color, neutral.guideline) == ("z", "#123456", "Neither.")
    # Delete reports how many annotations carried the label.
    assert project.label_usage("negative") == 2
    assert project.delete_label("negative") == 2
    assert project.label_names() == ["pos", "neutral"]
    assert project.get_annotation(2).labels == ()
    project.reorder_labels(["neutral", "pos"])
    assert project.label_names() == ["neutral", "pos"]
    with pytest.raises(WorkbenchError):
        project.reorder_labels(["pos"])


def test_annotate_rules(project):
    add_texts(project, ["text"])
    with pytest.raises(WorkbenchError, match="single-label"):
        project.annotate(1, ["pos", "neg"])
    with pytest.raises(WorkbenchError, match="not in the project"):
        project.annotate(1, ["bogus"])
    with pytest.raises(WorkbenchError, match="does not exist"):
        project.annotate(99, ["pos"])
    skipped = project.annotate(1, [], status="skipped", comment="unclear")
    assert (skipped.status, skipped.labels, skipped.comment) == ("skipped", (), "unclear")
    assert project.stats()["labelled"] == 0


def test_annotate_undo_restores_previous_state(project):
    add_texts(project, ["first", "second"])
    assert project.get_annotation(1) is None
    first = project.annotate(1, ["pos"], comment="sure")
    second = project.annotate(1, ["neg"])
    assert second.created_at == first.created_at
    assert second.labels == ("neg",)
    project.restore_annotation(1, "tester", first)
    restored = project.get_annotation(1)
    assert restored == first
    project.restore_annotation(1, "tester", None)
    assert project.get_annotation(1) is None
    assert project.stats()["by_annotator"] == {}


def test_splits_and_unlabelled_queue(project):
    add_texts(project, ["a", "b", "c"])
    project.set_splits({1: "train", 2: "test"})
    assert project.stats()["splits"] == {"train": 1, "validation": 0, "test": 1, "unassigned": 1}
    with pytest.raises(WorkbenchError, match="Unknown split"):
        project.set_splits({3: "holdout"})
    project.annotate(2, ["pos"])
    assert project.unlabelled_ids() == [1, 3]
    assert project.unlabelled_ids(annotator="someone else") == [1, 2, 3]


def test_project_import_does_not_load_pandas():
    import subprocess
    import sys

    code = ("import sys; import workbench.core.store.project; "
            "print('pandas' in sys.modules, 'PySide6' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
