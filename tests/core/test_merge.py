"""Merging a teammate's project file: matching, idempotence, conflicts, schema checks."""
from __future__ import annotations

import shutil
import sqlite3

import pytest

from workbench.core import team
from workbench.core.data.importer import add_texts
from workbench.core.errors import WorkbenchError
from workbench.core.store.project import Project

TEXTS = [f"customer message number {i}" for i in range(8)]


def _dump(project: Project) -> list[str]:
    return list(project.conn.iterdump())


@pytest.fixture
def pair(tmp_path):
    """Our project (ann labelled 0-3) and a teammate's copy (bob, plus ann's older labels)."""
    ours = Project.create(tmp_path / "ours.wbproj", ["pos", "neg"])
    add_texts(ours, TEXTS[:6])
    for rid, lab in zip(range(1, 5), ["pos", "neg", "pos", "neg"], strict=True):
        ours.annotate(rid, [lab], annotator="ann")
    team.set_roster(ours, ["ann"])
    ours.close()
    shutil.copy(tmp_path / "ours.wbproj", tmp_path / "theirs.wbproj")
    theirs = Project.open(tmp_path / "theirs.wbproj")
    # The teammate also imported two more records, in a different order.
    add_texts(theirs, [TEXTS[7], TEXTS[6]])
    theirs.annotate(2, ["pos"], annotator="ann")  # differs from ours: a conflict
    for rid, lab in [(1, "pos"), (2, "pos"), (5, "neg"), (7, "neg"), (8, "pos")]:
        theirs.annotate(rid, [lab], annotator="bob")
    theirs.annotate(6, [], annotator="bob", status="skipped")
    team.set_roster(theirs, ["ann", "bob"])
    theirs.close()
    project = Project.open(tmp_path / "ours.wbproj")
    yield project, tmp_path / "theirs.wbproj"
    project.close()


def test_merge_reports_new_identical_conflicting_and_is_idempotent(pair):
    project, other = pair
    report = team.merge_projects(project, other)
    assert report.records_added == 2
    assert report.records_matched == 6
    assert report.new == 6  # bob's five labels and one skip
    assert report.identical == 3  # ann on records 1, 3, 4
    assert report.conflicting == 1  # ann on record 2
    assert report.annotators_added == ["bob"]
    assert "1 conflicting" in report.summary()
    assert team.roster(project) == ["ann", "bob"]

    # Nothing was overwritten: ann's own label on record 2 is still ours.
    assert project.get_annotation(2, "ann").labels == ("neg",)
    # New records came with their text and are searchable.
    added = {r.text for r in project.get_records([7, 8])}
    assert added == {TEXTS[6], TEXTS[7]}
    assert len(project.search("number")) == 8
    # Bob's labels landed on the records with the same content.
    text_of = {r.id: r.text for r in project.get_records(range(1, 9))}
    bob = {text_of[a.record_id]: a.labels for a in project._annotation_rows("a.annotator = ?", ["bob"])}
    assert bob[TEXTS[7]] == ("neg",) and bob[TEXTS[6]] == ("pos",)

    before = _dump(project)
    again = team.merge_projects(project, other)
    assert (again.records_added, again.new, again.conflicting) == (0, 0, 0)
    assert again.identical == 9
    assert again.already_pending == 1
    assert not again.changed
    assert "Nothing new" in again.summary()
    assert _dump(project) == before


def test_conflicts_go_to_adjudication(pair):
    project, other = pair
    team.merge_projects(project, other)
    found = {d.record_id: d for d in team.disagreements(project)}
    assert 2 in found
    conflict = found[2].conflicts[0]
    assert (conflict.annotator, conflict.labels, conflict.source) == ("ann", ("pos",), "theirs.wbproj")
    team.set_final(project, 2, ["pos"], adjudicator="lead")
    assert team.pending_conflicts(project) == []
    assert 2 not in {d.record_id for d in team.disagreements(project)}
    # A later merge of the same file does not reopen it.
    again = team.merge_projects(project, other)
    assert again.conflicting == 0 and team.pending_conflicts(project) == []
    # Clearing the decision (or undoing it) makes the conflict pending again.
    team.clear_final(project, 2)
    assert [c.record_id for c in team.pending_conflicts(project)] == [2]
    assert 2 in {d.record_id for d in team.disagreements(project)}


def test_final_labels_are_merged_and_conflicts_kept(tmp_path, pair):
    project, other = pair
    theirs = Project.open(other)
    team.set_final(theirs, 3, ["neg"], adjudicator="bob")
    team.set_final(theirs, 4, ["neg"], adjudicator="bob")
    theirs.close()
    team.set_final(project, 4, ["pos"], adjudicator="ann")
    report = team.merge_projects(project, other)
    assert (report.finals_new, report.finals_conflicting) == (1, 1)
    final3 = team.get_final(project, 3)
    assert final3.labels == ("neg",) and final3.adjudicator == "bob"
    assert final3.origin == "merged from theirs.wbproj"
    assert team.get_final(project, 4).labels == ("pos",)  # ours kept
    kinds = {(c.record_id, c.kind) for c in team.pending_conflicts(project)}
    assert (4, "final") in kinds
    again = team.merge_projects(project, other)
    assert (again.finals_new, again.finals_conflicting, again.finals_identical) == (0, 0, 1)


def test_different_label_schema_is_refused_and_nothing_changes(tmp_path, pair):
    project, _ = pair
    odd = Project.create(tmp_path / "odd.wbproj", ["pos", "neg", "neutral"])
    add_texts(odd, ["brand new text"])
    odd.annotate(1, ["neutral"], annotator="cy")
    odd.close()
    before = _dump(project)
    with pytest.raises(WorkbenchError, match="Labels only in odd.wbproj: neutral"):
        team.merge_projects(project, tmp_path / "odd.wbproj")
    assert _dump(project) == before

    multi = Project.create(tmp_path / "multi.wbproj", ["pos", "neg"], multi_label=True)
    multi.close()
    with pytest.raises(WorkbenchError, match="multi-label project"):
        team.merge_projects(project, tmp_path / "multi.wbproj")
    assert _dump(project) == before


def test_subset_schema_is_mapped_by_name(tmp_path, pair):
    project, _ = pair
    sub = Project.create(tmp_path / "sub.wbproj", ["neg"])  # label id 1 there is "neg"
    add_texts(sub, [TEXTS[5]])
    sub.annotate(1, ["neg"], annotator="cy")
    sub.close()
    report = team.merge_projects(project, tmp_path / "sub.wbproj")
    assert report.new == 1 and "matched by name" in report.label_note
    assert project.get_annotation(6, "cy").labels == ("neg",)


def test_bad_files_are_refused(tmp_path, pair):
    project, _ = pair
    with pytest.raises(WorkbenchError, match="into itself"):
        team.merge_projects(project, project.path)
    with pytest.raises(WorkbenchError, match="does not exist"):
        team.merge_projects(project, tmp_path / "missing.wbproj")
    junk = tmp_path / "junk.wbproj"
    junk.write_text("not a database")
    with pytest.raises(WorkbenchError, match="not a Workbench project"):
        team.merge_projects(project, junk)
    other_db = tmp_path / "plain.sqlite"
    sqlite3.connect(other_db).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(WorkbenchError, match="not a Workbench project"):
        team.merge_projects(project, other_db)


def test_teammate_file_is_left_untouched(pair, tmp_path):
    project, other = pair
    before = other.read_bytes()
    team.merge_projects(project, other)
    assert other.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("theirs")) == [
        "theirs.wbproj"
    ]


def test_merge_is_one_transaction(pair):
    project, other = pair
    before = _dump(project)
    # Make the last step of the merge fail: the records added earlier must roll back.
    project.conn.execute(
        "CREATE TEMP TRIGGER fail_conflicts BEFORE INSERT ON merge_conflicts "
        "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    )
    with pytest.raises(sqlite3.IntegrityError, match="disk full"):
        team.merge_projects(project, other)
    project.conn.execute("DROP TRIGGER fail_conflicts")
    assert _dump(project) == before


@pytest.mark.parametrize("stop_after", [1, 5, 9, 17])
def test_cancelled_merge_leaves_the_project_unchanged(pair, stop_after):
    """A cancel between records (in records, annotations or final labels) rolls back."""
    from project_dump import project_dump

    from workbench.core.errors import Cancelled
    from workbench.core.jobs import ProgressEvent

    project, other = pair
    path = project.path
    project.close()
    before = project_dump(path)
    events: list[ProgressEvent] = []
    with pytest.raises(Cancelled, match="unchanged"):
        team.merge_job(
            path, team.MergeConfig(other), progress=events.append,
            should_stop=lambda: len(events) > stop_after,
        )
    assert project_dump(path) == before
    assert all(isinstance(e, ProgressEvent) and e.phase == "merge" for e in events)
    assert events[0].total == 8 + 10  # the teammate's records and annotations
    # Not cancelled, the same job merges.
    report = team.merge_job(path, team.MergeConfig(other))
    assert report.records_added == 2
    reopened = Project.open(path)
    try:
        assert team.roster(reopened) == ["ann", "bob"]
    finally:
        reopened.close()
