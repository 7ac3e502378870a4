"""The model's suggestion in the Label panel: shown, accepted with Enter, undone, overridden."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from workbench.core.assist import suggestions as assist
from workbench.core.data.importer import add_texts
from workbench.core.store.project import Project, now_iso
from workbench.gui.label.label_panel import LabelPanel

ME = "tester"
LABELS = ["billing", "delivery", "account"]
RUN = 50


def _make(path, multi=False, n=6):
    project = Project.create(path, LABELS, multi_label=multi)
    add_texts(project, [f"customer message number {i}" for i in range(1, n + 1)])
    return project


def _store(project, probs_by_record, multi=False):
    """Predictions of a trained run (RUN) for some records; that run becomes the suggester."""
    if project.db.execute("SELECT 1 FROM runs WHERE id = ?", [RUN]).fetchone() is None:
        project.db.execute(
            "INSERT INTO runs(id, kind, status, created_at, metrics, config, model_path) "
            "VALUES (?, 'train', 'completed', ?, ?, ?, 'p.models/run-50')",
            [RUN, now_iso(), json.dumps({"macro_f1": 0.9}),
             json.dumps({"labels": LABELS, "multi_label": multi})],
        )
    ids = list(probs_by_record)
    assist.store_predictions(project, RUN, ids, LABELS,
                             np.array([probs_by_record[i] for i in ids]), multi_label=multi)
    project.set_meta(assist.META_RUN, str(RUN))


@pytest.fixture
def project(project_path):
    proj = _make(project_path)
    _store(proj, {1: [0.05, 0.87, 0.08], 2: [0.7, 0.2, 0.1]})
    yield proj
    proj.close()


@pytest.fixture
def panel(qtbot):
    widget = LabelPanel()
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


def ann(project, rid):
    return project.get_annotation(rid, ME)


def test_suggestion_is_shown_with_its_model(panel, project):
    panel.set_project(project)
    assert panel.current.id == 1
    label = panel.suggestion_label
    assert label.isVisible()
    assert label.plain_text() == "Suggested: delivery (87%)"
    assert "delivery" in label.text() and "87%" in label.text() and "Enter accepts" in label.text()
    assert "Model of run 50" in label.toolTip()
    assert panel.label_buttons.suggested() == {"delivery"}
    assert panel.label_buttons.buttons["delivery"].suggested
    assert not panel.label_buttons.buttons["billing"].suggested
    assert "Suggested (87%)" in panel.label_buttons.buttons["delivery"].toolTip()
    assert "Suggested" not in panel.label_buttons.buttons["billing"].toolTip()
    assert panel.suggester_label.text() == "Suggestions: Model of run 50 (int8 ONNX, macro-F1 0.90)"
    assert "accept the suggested label" in panel.help_view.toPlainText()
    assert panel.act_save.isEnabled() and "suggest" in panel.act_save.toolTip()
    assert panel.save_button.isVisible() and panel.save_button.text().startswith("Accept")


def test_no_model_no_accept_button(panel, project_path):
    project = _make(project_path)
    panel.set_project(project)
    assert panel.suggester_label.text().startswith("Suggestions: No suggestions yet")
    assert not panel.save_button.isVisible() and not panel.suggestion_label.isVisible()
    _store(project, {1: [0.1, 0.8, 0.1]})
    panel.reload_suggestion()
    assert panel.save_button.isVisible()
    assert panel.suggestion_label.plain_text() == "Suggested: delivery (80%)"
    project.close()


def test_enter_accepts_through_the_undo_stack(qtbot, panel, project):
    panel.set_project(project)
    press(qtbot, Qt.Key.Key_Return)
    saved = ann(project, 1)
    assert saved.labels == ("delivery",) and saved.status == "labelled"
    assert saved.provenance == assist.ACCEPTED_PROVENANCE
    assert panel.current.id == 2
    assert panel.suggestion_label.plain_text() == "Suggested: billing (70%)"
    assert panel.counts.by_label["delivery"] == 1
    press(qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert ann(project, 1) is None
    assert panel.current.id == 1  # the undone record is shown again, with its suggestion
    assert panel.suggestion_label.plain_text() == "Suggested: delivery (87%)"
    assert panel.counts.by_label["delivery"] == 0
    press(qtbot, Qt.Key.Key_Z,
          Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert ann(project, 1).provenance == "accepted suggestion"


def test_a_label_key_overrides_the_suggestion(qtbot, panel, project):
    panel.set_project(project)
    press(qtbot, Qt.Key.Key_1)
    saved = ann(project, 1)
    assert saved.labels == ("billing",) and saved.provenance == "manual"
    assert panel.current.id == 2


def test_no_suggestion_shows_nothing_and_enter_saves_nothing(qtbot, panel, project):
    messages = []
    panel.status_message.connect(messages.append)
    panel.set_project(project)
    panel.show_records([3])
    assert panel.current.id == 3
    assert not panel.suggestion_label.isVisible()
    assert panel.suggestion_label.plain_text() == ""
    assert panel.label_buttons.suggested() == set()
    assert not panel.act_save.isEnabled()
    press(qtbot, Qt.Key.Key_Return)
    press(qtbot, Qt.Key.Key_Enter)
    assert ann(project, 3) is None
    assert panel.current.id == 3
    panel.save_selection()  # called directly: explains instead of saving
    assert ann(project, 3) is None and "No suggestion" in messages[-1]


def test_enter_never_replaces_an_own_label(qtbot, panel, project):
    project.annotate(1, ["account"], annotator=ME)
    panel.set_project(project)
    panel.show_records([1])
    assert panel.suggestion_label.plain_text() == "Suggested: delivery (87%)"
    assert "Enter accepts" not in panel.suggestion_label.text()
    press(qtbot, Qt.Key.Key_Return)
    assert ann(project, 1).labels == ("account",) and ann(project, 1).provenance == "manual"
    assert panel.current.id == 1


def test_reload_suggestion_picks_up_new_predictions(panel, project):
    panel.set_project(project)
    panel.show_records([4])
    assert not panel.suggestion_label.isVisible()
    _store(project, {4: [0.1, 0.1, 0.8]})
    panel.reload_suggestion()
    assert panel.suggestion_label.plain_text() == "Suggested: account (80%)"
    assert panel.act_save.isEnabled()


def test_multi_label_enter_accepts_the_suggested_set(qtbot, panel, project_path):
    project = _make(project_path, multi=True)
    _store(project, {1: [0.9, 0.2, 0.7], 2: [0.9, 0.2, 0.7]}, multi=True)
    panel.set_project(project)
    assert panel.suggestion_label.plain_text().startswith("Suggested: billing, account (")
    assert panel.label_buttons.suggested() == {"billing", "account"}
    assert "with none chosen, accept the suggested labels" in panel.help_view.toPlainText()
    press(qtbot, Qt.Key.Key_Return)  # nothing toggled: the suggestion is accepted
    saved = ann(project, 1)
    assert set(saved.labels) == {"billing", "account"}
    assert saved.provenance == "accepted suggestion"
    assert panel.current.id == 2
    assert "Enter accepts" in panel.suggestion_label.text()
    press(qtbot, Qt.Key.Key_2)  # toggled labels win over the suggestion
    assert "Enter accepts" not in panel.suggestion_label.text()
    press(qtbot, Qt.Key.Key_Return)
    assert ann(project, 2).labels == ("delivery",) and ann(project, 2).provenance == "manual"
    press(qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    press(qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert ann(project, 1) is None and ann(project, 2) is None
    project.close()


def test_cold_start_suggestions_reach_the_panel(qtbot, panel, project_path):
    project = Project.create(project_path, ["billing", "delivery"])
    texts = ["I was charged twice for my order", "refund the payment on my card",
             "my invoice shows a wrong charge", "my package has not arrived",
             "the delivery is late again", "where is my parcel, shipping is slow",
             "please refund the double charge on my card"]
    ids = add_texts(project, texts)
    for rid in ids[:3]:
        project.annotate(rid, ["billing"], annotator="someone")
    for rid in ids[3:6]:
        project.annotate(rid, ["delivery"], annotator="someone")
    assert assist.ensure_predictions(project) is not None
    panel.set_project(project)
    assert panel.suggester_label.text().startswith("Suggestions: Cold-start model")
    panel.show_records([ids[6]])
    assert panel.suggestion_label.plain_text().startswith("Suggested: billing (")
    assert panel.suggestion_label.toolTip().startswith("Suggested by: Cold-start model")
    press(qtbot, Qt.Key.Key_Return)
    saved = ann(project, ids[6])
    assert saved.labels == ("billing",) and saved.provenance == "accepted suggestion"
    project.close()
