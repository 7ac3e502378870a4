"""The Inference tab with a real spans bundle (a tiny BERT trained on the span demo,
exported to ONNX): typed text gets its entities highlighted and listed; "Predict unlabelled
records" stores span suggestions that the Label panel draws dashed; the Review tab lists
likely span errors."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

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
    report = export_run(path, "latest", None, quantize=False)  # the run's default export
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


def test_review_tab_lists_likely_span_errors(qtbot, span_bundle):
    from workbench.core.spans.span_assist import review_span_errors
    from workbench.core.store.spans import Span
    from workbench.gui.review.review_panel import ReviewPanel

    path, bundle = span_bundle
    project = Project.open(path)
    panel = ReviewPanel()
    qtbot.addWidget(panel)
    panel.resize(1100, 700)
    panel.show()
    try:
        panel.set_project(project)
        view = panel.span_review
        assert view.isVisible() and not panel.review_splitter.isVisible()
        view.min_score.setValue(0.0)  # a tiny random model: list every disagreement
        with qtbot.waitSignal(view.review_finished, timeout=120_000) as blocker:
            qtbot.mouseClick(view.find_button, Qt.MouseButton.LeftButton)
        expected = review_span_errors(path, 1, Predictor.load(bundle), min_score=0.0)
        assert blocker.args[0] == len(expected) > 0
        rows = view.rows()
        first = expected[0]
        assert rows[0][:5] == (
            str(first.record_id), {"missing": "Missing span", "wrong_type": "Wrong type",
                                   "boundary": "Other edges",
                                   "unsupported": "Not found by the model"}[first.kind],
            "–" if first.span is None else f"{first.span.label} {first.span.start}–{first.span.end}",
            "–" if first.predicted is None
            else f"{first.predicted.label} {first.predicted.start}–{first.predicted.end}",
            f"{first.score:.2f}")
        assert isinstance(first.span or first.predicted, Span)
        with qtbot.waitSignal(view.open_records) as opened:
            view.table.activated.emit(view.table.model().index(0, 0))
        assert opened.args[0] == [first.record_id]
        other = Project.create(path.with_name("cls.wbproj"), ["a", "b"])
        panel.set_project(other)
        assert not view.isVisible() and panel.review_splitter.isVisible()
        other.close()
    finally:
        panel.set_project(None)
        project.close()


def test_words_behind_each_entity_bundle_equals_app(panel, span_bundle, qtbot, tmp_path):
    import json
    import os
    import subprocess
    import sys

    from deploy_fixtures import BLOCKED_RUNNER

    _path, bundle = span_bundle
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-I", "-c", BLOCKED_RUNNER, str(bundle / "predict.py"), "--json",
                          "--explain", TEXT], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    spans = json.loads(out.stdout)[0]["spans"]
    assert spans, "the tiny model should tag something in this text"
    for span in spans:  # one weight per word of the text, offsets slicing it into its words
        words = [TEXT[e["start"]:e["end"]] for e in span["explanation"]]
        assert "".join(words) == "".join(TEXT.split())
        assert all(w and w == w.strip() for w in words)
        assert any(e["weight"] != 0 for e in span["explanation"])
    assert panel.open_bundle(bundle)
    with qtbot.waitSignal(panel.predicted, timeout=5000):
        panel.text_edit.setPlainText(TEXT)
    view = panel.span_results
    qtbot.waitUntil(lambda: bool(all(view.explanations) and view.why.text()), timeout=60_000)
    assert view.explanations == [s["explanation"] for s in spans]  # the app's = the bundle's
    assert view.table.currentRow() == 0 and view.why.text().startswith(f"<i>Why {spans[0]['label']}")
    if len(spans) > 1:
        view.table.setCurrentCell(1, 0)
        assert view.why.text().startswith(f"<i>Why {spans[1]['label']}")
