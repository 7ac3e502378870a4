"""The Inference tab with a real spans bundle (a tiny BERT trained on the span demo,
exported to ONNX): typed text gets its entities highlighted and listed; "Predict unlabelled
records" stores span suggestions that the Label panel draws dashed."""
from __future__ import annotations

import pytest

from workbench.core.deploy.inference import Predictor
from workbench.core.store.project import Project
from workbench.gui.deploy.inference_panel import InferencePanel

pytestmark = pytest.mark.timeout(240)

# A text the untrained tiny model tags plenty of (random weights: any label goes).
TEXT = "Started metformin 500 mg twice daily for type 2 diabetes; المريض 😀 aspirin."


@pytest.fixture(scope="module")
def span_bundle(tmp_path_factory, tiny_base_model):
    import torch

    from workbench.core.deploy.onnx_export import export_run
    from workbench.core.spans.span_demo import SpanDemoConfig, create_span_demo_job
    from workbench.core.training.config import TrainConfig
    from workbench.core.training.loop import train_project

    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("span_inference")
    path = folder / "demo.wbproj"
    create_span_demo_job(path, SpanDemoConfig(prelabelled=30))
    config = TrainConfig(base_model=str(tiny_base_model), threads=1, max_steps=2, max_length=32,
                         batch_size=8)
    result = train_project(path, config)
    assert result.status == "completed"
    report = export_run(path, "latest", folder / "bundle", quantize=False)
    return path, report.bundle_dir


@pytest.fixture
def panel(qtbot):
    widget = InferencePanel()
    qtbot.addWidget(widget)
    widget.resize(1000, 800)
    widget.show()
    yield widget
    widget.shutdown()


def test_typed_text_highlights_and_lists_entities(panel, span_bundle, qtbot):
    path, bundle = span_bundle
    project = Project.open(path)
    try:
        panel.set_project(project)
        assert panel.open_bundle(bundle)
        assert panel.span_mode
        assert panel.span_results.isVisible() and not panel.bars.isVisible()
        colors = {lab.name: lab.color.lower() for lab in project.labels()}
        assert panel.span_results.colors == {n: colors[n] for n in panel.predictor.labels}
        with qtbot.waitSignal(panel.predicted, timeout=5000) as blocker:
            panel.text_edit.setPlainText(TEXT)
        result = blocker.args[0]
        expected = Predictor.load(bundle).predict([TEXT])[0]
        assert [(s["start"], s["end"], s["label"]) for s in result["spans"]] == \
            [(s["start"], s["end"], s["label"]) for s in expected["spans"]]
        assert expected["spans"], "the tiny model should tag something in this text"
        rows = panel.span_results.rows()
        assert rows == [(str(s["start"]), str(s["end"]), s["label"], s["text"],
                         f"{s['score']:.3f}") for s in expected["spans"]]
        assert all(TEXT[s["start"]:s["end"]] == s["text"] for s in expected["spans"])
        # Each span is highlighted over exactly its characters in the typed text.
        selections = panel.text_edit.extraSelections()
        assert len(selections) == len(expected["spans"])
        got = sorted(sel.cursor.selectedText() for sel in selections)
        assert got == sorted(s["text"] for s in expected["spans"])
        assert f"Found <b>{len(rows)}</b>" in panel.result_label.text()
        panel.text_edit.clear()
        panel.predict_now()
        assert panel.span_results.rows() == [] and panel.text_edit.extraSelections() == []
    finally:
        panel.set_project(None)
        project.close()



def test_predict_unlabelled_records_stores_span_suggestions(panel, span_bundle, qtbot):
    from workbench.core.assist.span_suggestions import span_suggestions
    from workbench.gui.label.label_panel import LabelPanel

    path, bundle = span_bundle
    project = Project.open(path)
    label = LabelPanel()
    qtbot.addWidget(label)
    try:
        panel.set_project(project)
        label.set_project(project)
        panel.changed.connect(label.refresh)
        assert panel.open_bundle(bundle)
        assert panel.store_button.isEnabled()
        with qtbot.waitSignal(panel.batch_finished, timeout=120_000) as blocker:
            panel.store_button.click()
        kind, rows = blocker.args[0]
        assert kind == "done" and rows > 0, blocker.args
        assert label.current is not None
        # The record shown now, and one with suggestions, draw exactly the stored ones.
        stored = {rid: span_suggestions(project, rid) for rid in range(1, 241)}
        with_spans = [rid for rid, found in stored.items() if found
                      and project.get_annotation(rid, label.annotator) is None]
        assert len(with_spans) > 10, "the tiny model tags plenty of words"
        for rid in (label.current.id, with_spans[0]):
            label.open_record(rid)
            assert label.record_text.span_editor.suggestions == stored[rid]
    finally:
        label.set_project(None)
        panel.set_project(None)
        project.close()
