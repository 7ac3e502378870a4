"""Team settings: roster, assignment modes, blind labelling."""
from __future__ import annotations

import pytest

from workbench.core import team
from workbench.core.data.importer import add_texts
from workbench.core.errors import WorkbenchError
from workbench.core.store.project import Project


@pytest.fixture
def project(project_path):
    p = Project.create(project_path, ["pos", "neg"])
    add_texts(p, [f"text number {i}" for i in range(60)])
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
    add_texts(a, texts)
    add_texts(b, list(reversed(texts)))
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


# ----------------------------------------------------------------- agreement formulas
def test_cohen_kappa_hand_computed_example():
    # 50 items: yes/yes 20, yes/no 5, no/yes 10, no/no 15 -> po 0.7, pe 0.5, kappa 0.4.
    a = ["y"] * 25 + ["n"] * 25
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert team.cohen_kappa(a, b) == pytest.approx(0.4)
    assert team.cohen_kappa(["x", "x"], ["x", "x"]) is None  # chance agreement is 1


def test_cohen_kappa_matches_scikit_learn():
    import random

    from sklearn.metrics import cohen_kappa_score

    rng = random.Random(7)
    for _ in range(20):
        n = rng.randint(5, 80)
        a = [rng.choice("abcd") for _ in range(n)]
        b = [x if rng.random() < 0.6 else rng.choice("abcd") for x in a]
        expected = cohen_kappa_score(a, b)
        assert team.cohen_kappa(a, b) == pytest.approx(expected, abs=1e-12)


def test_fleiss_kappa_published_example():
    # Fleiss (1971) style example: 10 items, 14 raters, 5 categories -> kappa 0.210.
    table = [
        [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
    ]
    units = [[cat for cat, n in enumerate(row) for _ in range(n)] for row in table]
    assert team.fleiss_kappa(units) == pytest.approx(0.20993, abs=1e-5)


def test_fleiss_two_raters_hand_computed():
    # 4 items, 2 raters: agree on 3 ("a","a"), ("b","b"), ("a","a"), disagree ("a","b").
    # P_bar = 3/4; p_a = 5/8, p_b = 3/8; Pe = 34/64; kappa = (0.75 - 0.53125) / 0.46875.
    units = [["a", "a"], ["b", "b"], ["a", "a"], ["a", "b"]]
    assert team.fleiss_kappa(units) == pytest.approx((0.75 - 34 / 64) / (1 - 34 / 64))


def test_krippendorff_alpha_published_example():
    # Krippendorff (2011), 4 observers x 12 units with missing values: nominal alpha 0.743.
    n = None
    obs = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, n, n, n],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, n, 3],
        [n, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, n],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, n],
    ]
    units = [[v for v in col if v is not None] for col in zip(*obs, strict=True)]
    assert team.krippendorff_alpha(units) == pytest.approx(0.743, abs=5e-4)


def test_krippendorff_alpha_two_raters_binary_hand_computed():
    # Units (0,0), (1,1), (0,1): coincidences o00=2, o11=2, o01=o10=1, n=6, n0=n1=3.
    # alpha = 1 - (n-1) * (o01+o10) / (n0*n1 + n1*n0) = 1 - 5*2/18 = 4/9.
    assert team.krippendorff_alpha([[0, 0], [1, 1], [0, 1]]) == pytest.approx(4 / 9)
    assert team.krippendorff_alpha([[1, 1], [1, 1]]) is None


def test_masi_distance():
    a, b = frozenset("ab"), frozenset("a")
    assert team.masi_distance(a, a) == 0
    assert team.masi_distance(a, b) == pytest.approx(1 - 0.5 * 2 / 3)
    assert team.masi_distance(frozenset("ab"), frozenset("bc")) == pytest.approx(1 - (1 / 3) / 3)
    assert team.masi_distance(frozenset("a"), frozenset("b")) == 1.0


# ----------------------------------------------------------------- agreement on a project
def _label(project, rows):
    """rows: {annotator: [label or None per record id 1..n]}."""
    for annotator, labels in rows.items():
        for rid, lab in enumerate(labels, start=1):
            if lab is not None:
                project.annotate(rid, [lab] if isinstance(lab, str) else lab, annotator=annotator)


def test_project_agreement_single_label(project):
    from sklearn.metrics import cohen_kappa_score

    ann = ["pos", "pos", "neg", "neg", "pos", "neg", "pos", None]
    bob = ["pos", "neg", "neg", "neg", "pos", "pos", "pos", "neg"]
    cy = [None, "neg", "neg", "pos", None, None, None, None]
    _label(project, {"ann": ann, "bob": bob, "cy": cy})
    rep = team.compute_agreement(project)
    assert rep.annotators == ["ann", "bob", "cy"]
    assert rep.records_labelled == 8
    assert rep.overlap == 7
    pair = next(p for p in rep.pairs if (p.a, p.b) == ("ann", "bob"))
    assert pair.overlap == 7
    assert pair.kappa == pytest.approx(cohen_kappa_score(ann[:7], bob[:7]))
    assert pair.percent_agreement == pytest.approx(5 / 7)
    # One-vs-rest on a two-label project equals the overall kappa.
    assert pair.per_label["pos"] == pytest.approx(pair.kappa)
    units = [[v for v in (x, y, z) if v] for x, y, z in zip(ann, bob, cy, strict=True)]
    units = [u for u in units if len(u) >= 2]
    assert rep.fleiss == pytest.approx(team.fleiss_kappa(units))
    assert rep.alpha == pytest.approx(team.krippendorff_alpha(units))
    assert rep.per_label["neg"]["overlap"] == 7
    assert rep.per_label["neg"]["records_with_label"] == 4
    assert rep.disagreements == 3
    assert "Fleiss" in rep.summary()
    assert rep.to_dict()["pairs"][0]["a"] == "ann"


def test_project_agreement_multi_label(tmp_path):
    p = Project.create(tmp_path / "m.wbproj", ["a", "b", "c"], multi_label=True)
    add_texts(p, ["one", "two", "three"])
    _label(p, {"x": [["a", "b"], ["c"], ["a"]], "y": [["a"], ["c"], ["b"]]})
    rep = team.compute_agreement(p)
    assert rep.alpha_distance == "MASI"
    units = [
        [frozenset("ab"), frozenset("a")],
        [frozenset("c"), frozenset("c")],
        [frozenset("a"), frozenset("b")],
    ]
    assert rep.alpha == pytest.approx(team.krippendorff_alpha(units, team.masi_distance))
    per = rep.per_label
    assert per["c"]["alpha"] == pytest.approx(team.krippendorff_alpha([[0, 0], [1, 1], [0, 0]]))
    pair = rep.pairs[0]
    assert pair.kappa == pytest.approx(
        sum(v for v in pair.per_label.values() if v is not None)
        / len([v for v in pair.per_label.values() if v is not None])
    )
    p.close()


# ----------------------------------------------------------------- adjudication and finals
def test_disagreements_and_adjudication(project):
    from workbench.core.store.snapshot import resolve_labels

    _label(project, {"ann": ["pos", "pos", "neg"], "bob": ["pos", "neg", "pos"]})
    found = team.disagreements(project)
    assert [d.record_id for d in found] == [2, 3]
    assert found[0].by_annotator == {"ann": ["pos"], "bob": ["neg"]}
    assert found[0].suggestion is None  # a tie
    snap = resolve_labels(project)
    assert snap.ties == 2 and [e[0] for e in snap.examples] == [1]

    final = team.set_final(project, 2, ["neg"], adjudicator="lead", comment="see guideline")
    assert final.labels == ("neg",) and final.adjudicator == "lead"
    assert [d.record_id for d in team.disagreements(project)] == [3]
    assert [d.record_id for d in team.disagreements(project, include_resolved=True)] == [2, 3]

    snap = resolve_labels(project)
    assert snap.rule == "adjudicated-first"
    assert {e[0]: e[2] for e in snap.examples} == {1: ["pos"], 2: ["neg"]}
    assert snap.adjudicated == 1 and snap.ties == 1
    assert "1 adjudicated" in snap.summary()
    assert team.final_labels_map(project) == {1: ["pos"], 2: ["neg"]}
    from workbench.core.store.snapshot import adjudicated_finals

    assert adjudicated_finals(project) == {2: ["neg"]}
    assert adjudicated_finals(project, "majority") == {}

    team.set_final_rule(project, "majority")
    snap = resolve_labels(project)
    assert [e[0] for e in snap.examples] == [1] and snap.ties == 2
    assert "final rule: majority" in snap.summary()
    team.set_final_rule(project, "adjudicated-first")

    # Renaming a label keeps the final; deleting it removes the final cleanly.
    project.rename_label("neg", "negative")
    assert team.get_final(project, 2).labels == ("negative",)
    project.delete_label("negative")
    assert team.get_final(project, 2) is None
    # The annotations that carried "negative" lost it; "pos" is what remains.
    assert team.final_labels_map(project) == {1: ["pos"], 2: ["pos"], 3: ["pos"]}


def test_set_final_validates_and_changes_nothing_on_error(project):
    with pytest.raises(WorkbenchError, match="not in the project's label schema"):
        team.set_final(project, 1, ["maybe"])
    with pytest.raises(WorkbenchError, match="exactly one"):
        team.set_final(project, 1, ["pos", "neg"])
    with pytest.raises(WorkbenchError, match="does not exist"):
        team.set_final(project, 999, ["pos"])
    assert project.db.execute("SELECT count(*) FROM final_labels").fetchone()[0] == 0


def test_restore_final_for_undo(project):
    before = team.get_final(project, 1)
    team.set_final(project, 1, ["pos"], adjudicator="lead")
    first = team.get_final(project, 1)
    team.set_final(project, 1, ["neg"], adjudicator="lead")
    team.restore_final(project, 1, first)
    assert team.get_final(project, 1) == first
    team.restore_final(project, 1, before)
    assert team.get_final(project, 1) is None


def test_find_record_by_id_or_external_id(project):
    assert team.find_record(project, "3") == 3
    with pytest.raises(WorkbenchError, match="No record"):
        team.find_record(project, "nope")


def test_labelling_queue_respects_the_assignment(project):
    from workbench.core.assist import navigation

    team.set_roster(project, ["ann", "bob"])
    team.set_assignment(project, "split")
    order = navigation.get_strategy("order")
    seen = {}
    for name in ("ann", "bob"):
        ids = navigation.queue_ids(order, project, name, limit=100)
        assert ids == team.filter_for_annotator(project, name, list(range(1, 61)))
        seen[name] = set(ids)
    assert seen["ann"].isdisjoint(seen["bob"]) and len(seen["ann"] | seen["bob"]) == 60
    assert navigation.queue_ids(order, project, "stranger", limit=10) == []
    team.set_assignment(project, "all")
    assert len(navigation.queue_ids(order, project, "ann", limit=100)) == 60
