"""Team settings: roster, assignment modes, blind labelling."""
from __future__ import annotations

import pytest

from workbench.core import team
from workbench.core.errors import WorkbenchError
from workbench.core.project import Project


@pytest.fixture
def project(project_path):
    p = Project.create(project_path, ["pos", "neg"])
    p.add_records([f"text number {i}" for i in range(60)])
    yield p
    p.close()


def test_all_mode_is_default_and_returns_ids_unchanged(project):
    ids = [5, 3, 9, 1]
    assert team.assignment(project)[0] == "all"
    assert team.filter_for_annotator(project, "anyone", ids) == ids


def test_split_mode_partitions_records(project):
    team.set_roster(project, ["ann", "bob", "cy"])
    team.set_assignment(project, "split")
    ids = list(range(1, 61))
    parts = {a: team.filter_for_annotator(project, a, ids) for a in ("ann", "bob", "cy")}
    union = sorted(i for p in parts.values() for i in p)
    assert union == ids  # every record exactly once
    assert all(len(p) > 5 for p in parts.values())
    # Order is kept and the result is deterministic.
    assert parts["ann"] == sorted(parts["ann"])
    assert team.filter_for_annotator(project, "ann", ids) == parts["ann"]
    assert team.filter_for_annotator(project, "stranger", ids) == []
    assert "not on this project's annotator list" in team.assignment_note(project, "stranger")


def test_k_mode_gives_each_record_to_k_annotators(project):
    team.set_roster(project, ["ann", "bob", "cy", "dee"])
    team.set_assignment(project, "k", 2)
    ids = list(range(1, 61))
    counts = {i: 0 for i in ids}
    for a in team.roster(project):
        for i in team.filter_for_annotator(project, a, ids):
            counts[i] += 1
    assert set(counts.values()) == {2}
    team.set_assignment(project, "k", 4)  # k >= roster: everyone gets everything
    assert team.filter_for_annotator(project, "ann", ids) == ids


def test_assignment_depends_on_content_not_row_id(tmp_path):
    texts = [f"message {i}" for i in range(30)]
    a = Project.create(tmp_path / "a.wbproj", ["x"])
    b = Project.create(tmp_path / "b.wbproj", ["x"])
    a.add_records(texts)
    b.add_records(list(reversed(texts)))
    for p in (a, b):
        team.set_roster(p, ["ann", "bob"])
        team.set_assignment(p, "split")

    def texts_for(p):
        ids = team.filter_for_annotator(p, "ann", list(range(1, 31)))
        return sorted(r.text for r in p.get_records(ids))

    assert texts_for(a) == texts_for(b)
    a.close()
    b.close()


def test_bad_settings_are_refused(project):
    with pytest.raises(WorkbenchError, match="Unknown assignment mode"):
        team.set_assignment(project, "random")
    with pytest.raises(WorkbenchError, match="at least 1"):
        team.set_assignment(project, "k", 0)
    with pytest.raises(WorkbenchError, match="Unknown final rule"):
        team.set_final_rule(project, "vote")
    assert team.assignment(project)[0] == "all"


def test_blind_labelling_hides_other_annotators(project):
    project.annotate(1, ["pos"], annotator="ann")
    project.annotate(1, ["neg"], annotator="bob")
    assert team.is_blind(project)
    seen = team.visible_annotations(project, 1, "ann")
    assert [a.annotator for a in seen] == ["ann"]
    team.set_blind(project, False)
    seen = team.visible_annotations(project, 1, "ann")
    assert sorted(a.annotator for a in seen) == ["ann", "bob"]
    assert project.get_meta("blind") == "0"
