"""The Label panel tints the words that drove a trained model's suggestion."""
from __future__ import annotations

import pytest
from deploy_fixtures import export_tiny_project

from workbench.core.deploy.inference import Predictor
from workbench.core.deploy.project_data import store_predictions
from workbench.core.store.project import Project
from workbench.gui.label.label_panel import LabelPanel


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_base_model):
    import torch

    torch.set_num_threads(1)
    return export_tiny_project(tiny_base_model, tmp_path_factory.mktemp("highlights"))


def test_suggestion_words_are_highlighted(qtbot, exported):
    path, report = exported
    predictor = Predictor.load(report.bundle_dir)
    with Project.open(path) as project:
        rows = project.db.execute(
            "SELECT id, text FROM records WHERE text LIKE 'please help%' ORDER BY id").fetchall()
        store_predictions(project, 1, [r[0] for r in rows], predictor.predict([r[1] for r in rows]))
        panel = LabelPanel()
        qtbot.addWidget(panel)
        panel.set_annotator(project.db.execute(  # the module fixture labelled as someone else
            "SELECT annotator FROM annotations LIMIT 1").fetchone()[0])
        panel.set_project(project)
        assert panel.current is not None and panel.current.text.startswith("please help")
        assert panel.suggestion is not None
        panel.explainer.run_now()  # what the short timer does after the record is shown
        qtbot.waitUntil(lambda: bool(panel.explainer.spans), timeout=20_000)
        text = panel.current.text
        assert [text[e["start"]:e["end"]] for e in panel.explainer.spans] == text.split()
        assert panel.record_text.editor.extraSelections()
        panel.set_project(None)
        assert not panel.record_text.editor.extraSelections()


def test_train_results_list_the_words_behind_each_label(qtbot, exported):
    from workbench.gui.train.label_words_view import LabelWordsView

    path, _report = exported
    view = LabelWordsView()
    qtbot.addWidget(view)
    run = {"id": 1, "metrics": {"accuracy": 0.5, "n": 6}}
    view.show_run(path, run)
    assert view.meaning.text().startswith("The model gets about 5 in 10 texts right")
    view.button.click()
    qtbot.waitUntil(lambda: view.job is None, timeout=60_000)
    assert set(view.words) == {"billing", "delivery", "technical"}
    assert any(view.words.values()) and "<b>billing</b>" in view.words_label.text()
    view.show_run(path, {"id": 7, "metrics": {}})
    view.button.click()
    qtbot.waitUntil(lambda: view.job is None, timeout=60_000)
    assert "Run 7 is not exported yet" in view.words_label.text()
    view.shutdown()
