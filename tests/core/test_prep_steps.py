"""Data preparation on real project files: preview counts equal applied counts, undo and
restore bring back the exact imported text, removed records come back with their labels."""
from __future__ import annotations

import sys

import pytest

from workbench.core.data.importer import add_texts
from workbench.core.errors import WorkbenchError
from workbench.core.prep import steps
from workbench.core.prep.config import FilterConfig, MaskConfig, NormaliseConfig
from workbench.core.prep.operations import (
    apply_plan,
    plan_filters,
    plan_mask,
    plan_normalise,
    plan_restore,
    undo_step,
)
from workbench.core.store.project import Project
from workbench.core.store.schema import SCHEMA_VERSION

MESSY = [
    "Caf\u00e9 &amp; bar <b>closed</b>",
    "ﬁne   print\u00a0here",
    "zero\u200bwidth and\x07bell",
    "Already clean text",
    "<p>Two</p><p>paragraphs</p>",
]


def texts(project: Project) -> dict[int, str]:
    return dict(project.db.execute("SELECT id, text FROM records"))


@pytest.fixture
def project(project_path):
    with Project.create(project_path, ["a", "b"]) as p:
        add_texts(p, MESSY)
    p = Project.open(project_path)
    yield p
    p.close()


def test_normalise_preview_equals_applied_and_undo_restores(project):
    originals = texts(project)
    plan = plan_normalise(project, NormaliseConfig())
    assert plan.counts["html"] == 2 and plan.counts["nfkc"] >= 1 and plan.counts["control"] == 1
    assert len(plan.changes) == 4  # "Already clean text" is untouched
    assert texts(project) == originals  # a preview writes nothing
    report, changes = apply_plan(project, plan)
    assert report.applied == len(plan.changes) and report.skipped == 0
    assert changes.records
    after = texts(project)
    changed = [rid for rid in after if after[rid] != originals[rid]]
    assert len(changed) == report.applied
    assert after[changed[0]] == "Café & bar closed"
    assert "Two paragraphs" in after.values()
    # Search follows the new text.
    assert project.search("closed") == [changed[0]]
    result, _ = undo_step(project)
    assert result.texts == report.applied
    assert texts(project) == originals
    assert project.db.execute(
        "SELECT count(*) FROM records WHERE original_text IS NOT NULL").fetchone()[0] == 0
    with pytest.raises(WorkbenchError, match="no data preparation step"):
        undo_step(project)


def test_restore_after_two_steps_and_reopen(project, project_path):
    originals = texts(project)
    apply_plan(project, plan_normalise(project, NormaliseConfig(lowercase=True)))
    apply_plan(project, plan_mask(project, MaskConfig()))
    project.close()
    with Project.open(project_path) as p:
        assert texts(p) != originals
        plan = plan_restore(p)
        assert len(plan.changes) == 5  # lower-casing touched every record
        report, _ = apply_plan(p, plan)
        assert report.applied == 5
        assert texts(p) == originals
        # The restore is a step too: undoing it brings the prepared texts back.
        undo_step(p)
        assert texts(p)[1] == "café & bar closed"
        assert p.get_record(1).text == "café & bar closed"


def test_stale_preview_skips_changed_record(project):
    plan = plan_normalise(project, NormaliseConfig())
    rid = plan.changes[0][0]
    with project.db.atomic():
        project.conn.execute("UPDATE main.records SET text = 'edited' WHERE id = ?", [rid])
    report, _ = apply_plan(project, plan)
    assert report.skipped == 1 and report.applied == len(plan.changes) - 1
    assert project.get_record(rid).text == "edited"


def test_filter_remove_and_undo_brings_back_labels(project):
    add_texts(project, ["ok", "1234 5678 ### 99", "a fine sentence of words"])
    short = project.db.execute("SELECT id FROM records WHERE text = 'ok'").fetchone()[0]
    project.annotate(short, ["b"], annotator="ann")
    before_ann = project.get_annotation(short, "ann")
    plan = plan_filters(project, FilterConfig(min_chars=3, min_letters=0.5))
    assert plan.counts == {"too_short": 1, "not_text": 1}
    n = project.record_count()
    report, changes = apply_plan(project, plan)
    assert report.applied == 2 and changes.annotations
    assert project.record_count() == n - 2
    assert project.search("ok") == []
    undo_step(project)
    assert project.record_count() == n
    assert project.get_annotation(short, "ann") == before_ann
    assert project.search("ok") == [short]


def test_filter_mark_and_bad_settings(project):
    add_texts(project, ["#### ####"])
    plan = plan_filters(project, FilterConfig(min_letters=0.5, filtered="mark"))
    report, _ = apply_plan(project, plan)
    assert report.applied == 1
    assert project.db.execute("SELECT kind FROM record_marks").fetchall() == [("filtered",)]
    with pytest.raises(WorkbenchError):
        plan_filters(project, FilterConfig(filtered="explode"))
    with pytest.raises(WorkbenchError, match="Unknown kind"):
        plan_mask(project, MaskConfig(types="EMAIL,SHOE_SIZE"))
    assert [s.kind for s in steps.list_steps(project)] == ["filter"]


def test_migration_adds_prep_tables(project):
    assert project.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    cols = {r[1] for r in project.db.execute("PRAGMA table_info(records)")}
    assert "original_text" in cols


def test_cancelled_preview_changes_nothing(project):
    from workbench.core.errors import Cancelled

    with pytest.raises(Cancelled):
        plan_normalise(project, NormaliseConfig(), should_stop=lambda: True)
    assert steps.list_steps(project) == []


def test_language_filter(project, monkeypatch):
    add_texts(project, ["Wo ist mein Paket? Es ist noch nicht angekommen.",
                        "Where is my parcel? It has not arrived yet.", "ok merci"])
    plan = plan_filters(project, FilterConfig(languages="en"))
    caught = {project.get_record(r).text: why for r, why in plan.caught.items()}
    assert caught == {"Wo ist mein Paket? Es ist noch nicht angekommen.": "other_language"}
    with pytest.raises(WorkbenchError, match="Not a language code: english"):
        FilterConfig(languages="english")
    # Without the identifier: one clear message, nothing changed.
    from workbench.core.prep.filters import language_identifier

    language_identifier.cache_clear()
    monkeypatch.setitem(sys.modules, "py3langid.langid", None)
    try:
        with pytest.raises(WorkbenchError, match="pip install py3langid"):
            plan_filters(project, FilterConfig(languages="en"))
    finally:
        language_identifier.cache_clear()
    assert steps.list_steps(project) == []
