"""The Team tab says which labels came with an import (the demo's ready-made labels)
instead of silently crediting them as the user's labelling."""
from __future__ import annotations

from workbench.core.data.demo import DEMO_PRELABELLED, DemoConfig, create_demo_job
from workbench.core.store.project import Project, default_annotator
from workbench.core.team.agreement import compute_agreement


def test_demo_labels_are_named_as_imported(tmp_path):
    path = create_demo_job(tmp_path / "demo.wbproj", DemoConfig())
    with Project.open(path) as project:
        me = default_annotator()
        report = compute_agreement(project)
        assert report.imported == {me: DEMO_PRELABELLED}
        note = report.imported_note()
        assert f"{DEMO_PRELABELLED} of {me}'s labels came with an imported file" in note
        assert "demo" in note
        # Labelling in the app is not counted as imported.
        rid = project.db.execute(
            "SELECT id FROM records r WHERE NOT EXISTS (SELECT 1 FROM annotations a "
            "WHERE a.record_id = r.id) LIMIT 1").fetchone()[0]
        project.annotate(rid, ["billing"])
        assert compute_agreement(project).imported == {me: DEMO_PRELABELLED}
    with Project.create(tmp_path / "own.wbproj", ["a", "b"]) as own:
        assert compute_agreement(own).imported_note() == ""


def test_agreement_in_plain_words():
    from workbench.core.plain_words import agreement_words

    assert "almost always agree" in agreement_words(0.85)
    assert "moderately" in agreement_words(0.5)
    assert "less often than chance" in agreement_words(-0.1)
    assert agreement_words(None) == ""
