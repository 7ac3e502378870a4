"""Span projects in the real Label panel: the "least-confidence" queue order follows the
stored token-level uncertainty (as ``workbench queue`` does), and a comment typed (Ctrl+M)
before the record has any annotation is saved with its first span, done or flag."""
from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from workbench.cli import main as cli_main
from workbench.core.assist import navigation
from workbench.core.assist.span_suggestions import store_span_predictions
from workbench.core.data.importer import add_texts
from workbench.core.spans.span_assist import uncertainty_order
from workbench.core.store.project import Project
from workbench.core.store.spans import Span
from workbench.core.training.runs import create_run, finish_run
from workbench.gui.label.label_panel import LabelPanel

ME = "tester"
LABELS = ["drug", "dose", "condition"]  # keys 1, 2, 3
CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier
NOTES = [f"Note {i}: aspirin {i}0 mg daily." for i in range(1, 9)]
#: record id -> token-level uncertainty stored by the "trained" run
UNCERTAINTY = {1: 0.95, 2: 0.3, 4: 0.9, 5: 0.1, 7: 0.6}


@pytest.fixture
def project(tmp_path):
    proj = Project.create(tmp_path / "notes.wbproj", LABELS, task="spans")
    add_texts(proj, NOTES)
    yield proj
    proj.close()


@pytest.fixture
def panel(qtbot):
    widget = LabelPanel()
    widget.annotator = ME
    qtbot.addWidget(widget)
    widget.resize(1000, 700)
    with qtbot.waitActive(widget):
        widget.show()
        widget.activateWindow()
    return widget


def press(qtbot, key, modifier=Qt.KeyboardModifier.NoModifier):
    target = QApplication.focusWidget()
    assert target is not None
    qtbot.keyClick(target, key, modifier)


def _store_predictions(project):
    run_id = create_run(project, base_model="tiny", config={}, snapshot_hash="h", device="cpu")
    finish_run(project, run_id, status="completed", model_path="models/run1")
    store_span_predictions(project, run_id, [
        (rid, [(Span(8, 15, "drug"), 0.8)], u) for rid, u in UNCERTAINTY.items()])


def test_span_queue_follows_token_uncertainty(qtbot, panel, project, capsys):
    _store_predictions(project)
    ranked = uncertainty_order(project, annotator=ME)
    assert ranked == [1, 4, 7, 2, 5]
    assert cli_main(["queue", str(project.path), "--strategy", "least-confidence",
                     "--annotator", ME, "--limit", "100", "--json"]) == 0
    assert [item["id"] for item in json.loads(capsys.readouterr().out)] == ranked

    panel.set_project(project)
    names = [panel.queue_combo.itemText(i) for i in range(panel.queue_combo.count())]
    assert names == navigation.available_strategies(project) == [
        "order", "random", "least-confidence"]
    index = panel.queue_combo.findText("least-confidence")
    tip = panel.queue_combo.itemData(index, Qt.ItemDataRole.ToolTipRole)
    assert "Most uncertain first" in tip and "token-level" in tip
    assert panel.current.id == 1  # import order until another order is chosen
    panel.queue_combo.setCurrentIndex(index)
    panel.queue_combo.activated.emit(index)
    assert type(panel.nav.strategy).__name__ == "SpanLeastConfidence"
    seen = []
    while panel.current is not None:
        seen.append(panel.current.id)
        press(qtbot, Qt.Key.Key_Return, CTRL)  # done with no spans: next in the queue
    # Most uncertain first, then the records no model predicted, in import order.
    assert seen == [1, 4, 7, 2, 5, 3, 6, 8]
    assert project.stats()["by_annotator"] == {ME: 8}


def test_classification_orders_map_to_the_span_order(project):
    for name in ("margin", "entropy", "diverse", "least-confidence"):
        strategy = navigation.get_strategy(name, project)
        assert strategy.name == "least-confidence"
    assert navigation.get_strategy("random", project).name == "random"
    with pytest.raises(Exception, match="Unknown queue order"):
        navigation.get_strategy("nope", project)


def _type_comment(qtbot, panel, text):
    press(qtbot, Qt.Key.Key_M, CTRL)
    assert panel.comment_edit.isVisible()
    qtbot.keyClicks(panel.comment_edit, text)
    qtbot.keyClick(panel.comment_edit, Qt.Key.Key_Return)


@pytest.mark.parametrize("how", ["span", "done", "flag"])
def test_comment_before_the_first_span_is_saved_with_it(qtbot, panel, project, how):
    messages = []
    panel.status_message.connect(messages.append)
    panel.set_project(project)
    rid = panel.current.id
    assert project.get_annotation(rid, ME) is None
    _type_comment(qtbot, panel, "check the dose")
    assert messages[-1] == "The comment will be saved with your label."
    assert project.get_annotation(rid, ME) is None
    if how == "span":
        panel.record_text.editor.set_caret(0)
        press(qtbot, Qt.Key.Key_Right, CTRL | SHIFT)  # "Note"
        press(qtbot, Qt.Key.Key_1)
        ann = project.get_annotation(rid, ME)
        assert ann.spans == (Span(0, 4, "drug"),) and ann.status == "labelled"
        assert panel.current.id == rid
        assert "check the dose" in panel.annotation_label.text()
    elif how == "done":
        press(qtbot, Qt.Key.Key_Return, CTRL)
        ann = project.get_annotation(rid, ME)
        assert ann.spans == () and ann.status == "labelled"
    else:
        press(qtbot, Qt.Key.Key_F)
        ann = project.get_annotation(rid, ME)
        assert ann.status == "flagged"
    assert ann.comment == "check the dose"
    # One undo step takes back the span (or status) and the comment together.
    panel.undo_stack.undo()
    assert project.get_annotation(rid, ME) is None
    panel.undo_stack.redo()
    again = project.get_annotation(rid, ME)
    assert again.comment == "check the dose" and again.spans == ann.spans


def test_comment_is_not_carried_to_another_record(qtbot, panel, project):
    panel.set_project(project)
    first = panel.current.id
    _type_comment(qtbot, panel, "only for the first")
    press(qtbot, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)  # forward, unsaved
    second = panel.current.id
    assert second != first
    press(qtbot, Qt.Key.Key_Return, CTRL)
    assert project.get_annotation(second, ME).comment is None
    assert project.get_annotation(first, ME) is None
