"""The Review panel: the review queue flow (keep, fix, show) and background assistance."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from workbench.core.data.importer import add_texts, import_rows
from workbench.core.store.project import Project
from workbench.gui.review.review_panel import ReviewPanel

BILLING = ["invoice", "charged", "card", "payment", "bill", "fee", "price", "refund"]
DELIVERY = ["parcel", "courier", "tracking", "arrived", "package", "shipping", "late", "box"]


@pytest.fixture
def project(tmp_path):
    """60 labelled records; X4 (billing text) and X11 (delivery text) carry the wrong label."""
    path = tmp_path / "review.wbproj"
    rows = []
    for i in range(60):
        words, label = (BILLING, "billing") if i % 2 == 0 else (DELIVERY, "delivery")
        if i in (4, 11):
            label = "delivery" if label == "billing" else "billing"
        rows.append({"id": f"X{i}", "text": f"note {i} " + " ".join(words[(i + j) % 8] for j in range(4)),
                     "label": label})
    rows.append({"id": "U1", "text": "where is my parcel", "label": ""})
    proj = Project.create(path, ["billing", "delivery"])
    import_rows(proj, rows, text_col="text", id_col="id", label_col="label", source="test")
    yield proj
    proj.close()


@pytest.fixture
def panel(qtbot, project):
    widget = ReviewPanel()
    qtbot.addWidget(widget)
    widget.set_project(project)
    yield widget
    widget.set_project(None)


def _run_review(qtbot, panel):
    with qtbot.waitSignal(panel.review_finished, timeout=120_000) as blocker:
        qtbot.mouseClick(panel.find_button, Qt.MouseButton.LeftButton)
    return blocker.args[0]


def test_review_queue_keep_and_fix(qtbot, panel, project):
    assert not panel.keep_button.isEnabled()
    assert "Find likely label errors" in panel.list.placeholder()
    assert panel.text_view.placeholderText()
    n = _run_review(qtbot, panel)
    assert n == len(panel.issues) == panel.list.count() >= 2
    flagged = {issue.external_id for issue in panel.issues[:2]}
    assert flagged == {"X4", "X11"}
    first = panel.current_issue()
    assert panel.text_view.toPlainText() == first.text
    assert panel.current_label.text().startswith(first.label)
    assert panel.suggested_label.text() == first.suggested_label != first.label
    assert panel.reason.text() == first.reason and "leans to" in first.reason
    assert "to review" in panel.summary.text()

    # Fix: the suggested label is saved and the item leaves the queue.
    with qtbot.waitSignal(panel.changed, timeout=5000):
        qtbot.mouseClick(panel.fix_button, Qt.MouseButton.LeftButton)
    ann = project.get_annotation(first.id)
    assert ann.labels == first.suggested_labels and ann.provenance == "review fix"
    assert panel.list.count() == n - 1
    assert all(issue.id != first.id for issue in panel.issues)

    # Keep (with the K key): the label is remembered and the item leaves the queue.
    second = panel.current_issue()
    qtbot.keyClick(panel.list, Qt.Key.Key_K)
    assert panel.list.count() == n - 2
    assert project.get_annotation(second.id).labels == second.labels  # unchanged
    # A new review does not bring either back.
    _run_review(qtbot, panel)
    assert {first.id, second.id}.isdisjoint({issue.id for issue in panel.issues})


def test_fix_with_another_label_and_show_in_label_panel(qtbot, panel, project):
    _run_review(qtbot, panel)
    issue = panel.current_issue()
    with qtbot.waitSignal(panel.open_records, timeout=5000) as blocker:
        qtbot.mouseClick(panel.show_button, Qt.MouseButton.LeftButton)
    assert blocker.args == [[issue.id]]
    panel.other_label.setCurrentText(issue.labels[0])  # set it to the same label explicitly
    qtbot.mouseClick(panel.set_button, Qt.MouseButton.LeftButton)
    assert project.get_annotation(issue.id).provenance == "review fix"
    assert all(x.id != issue.id for x in panel.issues)


def test_review_can_be_cancelled(qtbot, panel):
    with qtbot.waitSignal(panel.review_finished, timeout=120_000) as blocker:
        panel.start_review()
        assert panel.cancel_button.isEnabled() and not panel.find_button.isEnabled()
        panel.cancel_review()
    assert blocker.args == [-1]
    assert panel.summary.text() == "Review cancelled."
    qtbot.waitUntil(lambda: panel.find_button.isEnabled(), timeout=10_000)


def test_coldstart_suggestions_refresh_in_the_background(qtbot, panel, project):
    from workbench.core.assist.autoretrain import AutoRetrainPolicy, retrain_state

    # Labels are there, the quick model not fitted yet: "Preparing", not "No suggestions yet".
    assert panel.suggester.text().startswith("Preparing suggestions")
    # 60 new labels, 30 per label: the automatic rule asks for a retrain.
    assert AutoRetrainPolicy().should_retrain(retrain_state(project))
    panel.mode.setCurrentIndex(panel.mode.findData("off"))  # no real training in this test
    assert panel.retrain_status.text() == "Auto-retrain is off."
    with qtbot.waitSignal(panel.changed, timeout=60_000):
        assert panel.check_assistance() == "coldstart"
    assert panel.suggester.text().startswith("Cold-start model")
    from workbench.core.assist.suggestions import suggestion_for

    unlabelled = project.db.execute("SELECT id FROM records WHERE external_id = 'U1'").fetchone()[0]
    assert suggestion_for(project, unlabelled).labels == ("delivery",)
    qtbot.waitUntil(lambda: not panel.assist_running(), timeout=10_000)
    assert panel.check_assistance() == ""  # up to date: nothing to do


def test_auto_retrain_settings_are_saved(qtbot, panel, project):
    from workbench.core.assist.autoretrain import load_policy

    panel.mode.setCurrentIndex(panel.mode.findData("on"))
    panel.every.setValue(120)
    assert load_policy(project).mode == "on" and load_policy(project).every == 120
    # Only labels added since the project was opened count.
    assert panel.retrain_status.text() == "Auto-retrain after 120 more labels."
    other = ReviewPanel()
    qtbot.addWidget(other)
    other.set_project(project)
    assert other.mode.currentData() == "on" and other.every.value() == 120
    other.set_project(None)
    assert not other.find_button.isEnabled()


def test_auto_retrain_runs_in_the_background(qtbot, panel, project, tiny_base_model):
    import json

    from workbench.core.assist.autoretrain import AutoRetrainPolicy, save_policy
    from workbench.core.store.project import now_iso

    # An earlier run supplies the training settings (a tiny model, one epoch).
    config = {"base_model": str(tiny_base_model), "threads": 1, "epochs": 1, "batch_size": 16,
              "max_length": 32}
    project.db.execute(
        "INSERT INTO runs(kind, status, created_at, config, model_path) "
        "VALUES ('train', 'completed', ?, ?, 'elsewhere/run-0')",
        [now_iso(), json.dumps(config)],
    )
    panel.mode.setCurrentIndex(panel.mode.findData("on"))
    panel.every.setValue(5)
    ids = add_texts(project, [f"card payment invoice {i}" for i in range(5)])
    assert panel.check_assistance() in ("", "coldstart")
    qtbot.waitUntil(lambda: not panel.assist_running(), timeout=60_000)
    for rid in ids[:4]:
        project.annotate(rid, ["billing"])
    assert panel.check_assistance() != "retrain"  # 4 new labels: not yet
    qtbot.waitUntil(lambda: not panel.assist_running(), timeout=60_000)
    project.annotate(ids[4], ["billing"])
    messages = []
    panel.status_message.connect(messages.append)
    with qtbot.waitSignal(panel.changed, timeout=240_000):
        assert panel.check_assistance() == "retrain"
        assert not panel.retrain_button.isEnabled()
    assert any(m.startswith("Auto-retrain: training") for m in messages)
    assert messages[-1].startswith("Auto-retrain done: suggestions now come from run")
    assert panel.suggester.text().startswith("Model of run")
    qtbot.waitUntil(lambda: not panel.assist_running(), timeout=10_000)
    assert panel.retrain_status.text() == "Auto-retrain after 5 more labels."
    save_policy(project, AutoRetrainPolicy())
