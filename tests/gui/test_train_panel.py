"""Train panel: real training of a tiny BERT in a child process, cancel, results, errors,
and a child that crashes while the window stays up."""
from __future__ import annotations

import json
import os

import pytest
from PySide6.QtCore import Qt

from workbench.core.data.importer import add_texts
from workbench.core.store.project import Project
from workbench.gui.train.train_panel import TrainPanel

pytestmark = pytest.mark.timeout(240)


TEXTS = {
    "billing": [
        "I was charged twice for my order",
        "refund the extra charge on my card please",
        "why is my bill so high this month",
        "the invoice shows a payment I did not make",
        "my card was charged but the order was cancelled",
        "please send me the invoice for my payment",
        "the charge on my account is wrong",
        "I want my money back for the double payment",
        "bill paid but the account says not paid",
        "how do I change the card for payment",
        "refund has not arrived on my card",
        "the payment failed but money was taken",
    ],
    "delivery": [
        "my package is late and has not arrived",
        "the delivery was damaged and broken",
        "where is my package it is very late",
        "shipping is so slow for my order",
        "the package arrived broken please help",
        "delivery said arrived but I have no package",
        "how long is shipping to my address",
        "my order shipping has not moved",
        "the package was left at the wrong door",
        "late delivery again this is terrible",
        "can you ship my order faster",
        "the delivery was damaged in the box",
    ],
    "account": [
        "I cannot login to my account",
        "reset my password please",
        "the app says my password is wrong",
        "login error when I open the app",
        "how do I delete my account",
        "my account was locked after the password reset",
        "I want to change the email of my account",
        "cannot reset the password the link is broken",
        "the app crash when I login",
        "help me with my account login",
        "two accounts with the same email how to merge",
        "password reset email never came",
    ],
}


def _make_project(path, per_label: dict[str, int] | None = None) -> Project:
    """A single-label project with up to 12 labelled records per label."""
    project = Project.create(path, list(TEXTS))
    for name, texts in TEXTS.items():
        n = len(texts) if per_label is None else per_label.get(name, 0)
        ids = add_texts(project, texts)
        for rid in ids[:n]:
            project.annotate(rid, [name])
    return project


@pytest.fixture
def project(tmp_path):
    project = _make_project(tmp_path / "train.wbproj")
    yield project
    project.close()


@pytest.fixture
def panel(qtbot):
    widget = TrainPanel()
    qtbot.addWidget(widget)
    widget.resize(1200, 800)
    yield widget
    widget.shutdown()


def _quick_settings(panel, model_folder, *, max_steps: int = 4) -> None:
    panel.set_base_model(str(model_folder))
    panel.set_setting("method", "finetune")
    panel.set_setting("max_steps", max_steps)
    panel.set_setting("batch_size", 8)
    panel.set_setting("threads", 1)
    panel.set_setting("max_length", 32)


def _start_and_wait(qtbot, panel, timeout=180_000):
    with qtbot.waitSignal(panel.run_finished, timeout=timeout) as blocker:
        qtbot.mouseClick(panel.start_button, Qt.LeftButton)
    return blocker.args[0]


def _train(qtbot, panel):
    """Start a run that must complete; returns its TrainResult."""
    result = _start_and_wait(qtbot, panel)
    assert result is not None, panel.error_banner.text()
    assert result.status == "completed", panel.error_banner.text()
    return result


def _run_row(project: Project, run_id: int) -> tuple:
    return project.db.execute(
        "SELECT status, metrics, model_path FROM runs WHERE id = ?", [run_id]
    ).fetchone()


def test_form_offers_every_setting_with_help(panel, project):
    import dataclasses

    from workbench.core.training import TrainConfig

    panel.set_project(project)
    for f in dataclasses.fields(TrainConfig):
        if f.name == "base_model":
            continue
        widget = panel.form.inputs[f.name]
        assert widget.toolTip() == f.metadata["help"], f.name
    # Advanced settings are folded away until asked for.
    assert panel.form.advanced.body.isHidden()
    panel.form.advanced.toggle.click()
    assert not panel.form.advanced.body.isHidden()
    # The form's values make a valid config, defaults included.
    assert panel.config() == TrainConfig()


def test_data_summary_shows_counts_and_warnings(panel, tmp_path):
    project = _make_project(tmp_path / "few.wbproj", {"billing": 12, "delivery": 12, "account": 3})
    try:
        panel.set_project(project)
        assert "27" in panel.form.data_text.text()  # labelled records
        assert not panel.form.data_warnings.isHidden()
        assert "account" in panel.form.data_warnings.text()
        assert "only 3" in panel.form.data_warnings.text()
    finally:
        panel.set_project(None)
        project.close()


def test_training_run_fills_results_and_curves(qtbot, panel, project, tiny_base_model):
    panel.set_project(project)
    _quick_settings(panel, tiny_base_model, max_steps=6)
    assert not panel.cancel_button.isEnabled()

    result = _train(qtbot, panel)

    status, metrics_json, model_path = _run_row(project, result.run_id)
    assert status == "completed" and model_path
    metrics = json.loads(metrics_json)
    # Back to idle, results shown for the new run.
    assert panel.start_button.isEnabled() and not panel.cancel_button.isEnabled()
    assert panel.history.selected_run_ids() == [result.run_id]
    assert panel.metrics_table.value("Accuracy") == f"{metrics['accuracy']:.3f}"
    assert panel.metrics_table.value("Macro-F1") == f"{metrics['macro_f1']:.3f}"
    assert panel.per_label.rowCount() == len(metrics["per_label"])
    n_loss, _n_val = panel.curves.point_counts()
    assert n_loss >= 1
    assert panel.confusion.table.rowCount() == len(metrics["labels"])
    assert panel.error_banner.isHidden()
    # One duration everywhere: the finished message says what the results table says.
    duration = panel.metrics_table.value("Duration")
    assert f"Run #{result.run_id} finished in {duration}" in panel.progress_text.text()
    assert "The model gets about" in panel.progress_text.text()


def test_confusion_cell_opens_its_records(qtbot, panel, project, tiny_base_model):
    panel.set_project(project)
    _quick_settings(panel, tiny_base_model, max_steps=2)
    result = _train(qtbot, panel)

    labels = json.loads(_run_row(project, result.run_id)[1])["labels"]
    predicted = dict(
        project.db.execute(
            "SELECT record_id, label FROM predictions WHERE run_id = ?", [result.run_id]
        ).fetchall()
    )
    truth = {rid: labs[0] for rid, _t, labs, _s in project.labelled_examples()}
    table = panel.confusion.table
    # Every test prediction is in exactly one cell, with the right numbers.
    assert sum(int(table.item(r, c).text()) for r in range(table.rowCount())
               for c in range(table.columnCount())) == len(predicted)
    row, col = next(
        (r, c)
        for r in range(table.rowCount())
        for c in range(table.columnCount())
        if int(table.item(r, c).text()) > 0
    )
    expected = sorted(
        rid for rid, pred in predicted.items() if truth[rid] == labels[row] and pred == labels[col]
    )
    assert expected
    rect = table.visualItemRect(table.item(row, col))
    with qtbot.waitSignal(panel.open_records, timeout=5000) as blocker:
        qtbot.mouseClick(table.viewport(), Qt.LeftButton, pos=rect.center())
    assert sorted(blocker.args[0]) == expected
    # Long predicted-label titles read bottom to top instead of being cut off.
    header = table.horizontalHeader()
    assert header.rotated and header.sizeHint().height() > table.rowHeight(0)


def test_multi_label_run_shows_per_label_outcomes(qtbot, panel, tmp_path, tiny_base_model):
    project = Project.create(tmp_path / "multi.wbproj", list(TEXTS), multi_label=True)
    try:
        for name, texts in TEXTS.items():
            for rid in add_texts(project, texts):
                extra = ["account"] if name == "billing" and rid % 3 == 0 else []
                project.annotate(rid, [name, *extra])
        panel.set_project(project)
        _quick_settings(panel, tiny_base_model, max_steps=3)
        result = _train(qtbot, panel)

        table = panel.confusion.table
        headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
        assert headers == ["Correct", "Missed", "False alarm"]
        assert not table.horizontalHeader().rotated
        labels = result.metrics["labels"]
        assert table.rowCount() == len(labels)
        predicted = {
            rid: set(filter(None, (label or "").split("|")))
            for rid, label in project.db.execute(
                "SELECT record_id, label FROM predictions WHERE run_id = ?", [result.run_id]
            )
        }
        truth = {rid: set(labs) for rid, _t, labs, _s in project.labelled_examples()}
        for row, name in enumerate(labels):
            expected = {
                "Correct": [r for r in predicted if name in truth[r] and name in predicted[r]],
                "Missed": [r for r in predicted if name in truth[r] and name not in predicted[r]],
                "False alarm": [
                    r for r in predicted if name not in truth[r] and name in predicted[r]
                ],
            }
            for col, kind in enumerate(headers):
                assert int(table.item(row, col).text()) == len(expected[kind]), (name, kind)
                assert sorted(panel.confusion.record_ids(row, col)) == sorted(expected[kind])
    finally:
        panel.set_project(None)
        project.close()


def test_cancel_mid_run_returns_to_idle(qtbot, panel, project, tiny_base_model):
    panel.set_project(project)
    _quick_settings(panel, tiny_base_model, max_steps=100_000)
    panel.set_setting("epochs", 1000)
    panel.set_setting("early_stopping_patience", 0)

    with qtbot.waitSignal(panel.run_finished, timeout=180_000) as blocker:
        qtbot.mouseClick(panel.start_button, Qt.LeftButton)
        assert panel.is_running() and not panel.start_button.isEnabled()
        qtbot.waitUntil(lambda: panel.curves.point_counts()[0] >= 2, timeout=120_000)
        # The trainer runs in a child process (its owner tag names another pid).
        owner = project.db.execute("SELECT owner FROM runs WHERE status = 'running'").fetchone()[0]
        assert owner.split(":")[1] != str(os.getpid())
        # Labelling goes on while the model trains (the GUI's own connection).
        rid = add_texts(project, ["a new message about my late package"])[0]
        project.annotate(rid, ["delivery"])
        qtbot.mouseClick(panel.cancel_button, Qt.LeftButton)
        assert panel.cancel_button.text() == "Cancelling…"

    result = blocker.args[0]
    assert result is not None and result.status == "cancelled"
    assert _run_row(project, result.run_id)[0] == "cancelled"
    assert not panel.is_running()
    assert panel.start_button.isEnabled() and not panel.cancel_button.isEnabled()
    assert panel.cancel_button.text() == "Cancel"
    assert project.get_annotation(rid).labels == ("delivery",)


def test_two_runs_compared_side_by_side(qtbot, panel, project, tiny_base_model):
    panel.set_project(project)
    _quick_settings(panel, tiny_base_model, max_steps=2)
    first = _train(qtbot, panel)
    panel.set_setting("max_steps", 3)
    second = _train(qtbot, panel)

    assert panel.history.rowCount() == 2
    panel.history.select_runs([first.run_id, second.run_id])
    table = panel.metrics_table
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert headers[:2] == [f"Run #{second.run_id}", f"Run #{first.run_id}"]
    assert headers[2] == f"#{second.run_id} − #{first.run_id}"
    m2 = second.metrics["macro_f1"]
    m1 = first.metrics["macro_f1"]
    assert table.value("Macro-F1", 2) == f"{m2 - m1:+.3f}"


def test_bad_model_folder_shows_readable_error(qtbot, panel, project, tmp_path):
    empty = tmp_path / "not_a_model"
    empty.mkdir()
    panel.set_project(project)
    _quick_settings(panel, empty)

    result = _start_and_wait(qtbot, panel)

    assert result is None or result.status == "failed"
    assert not panel.error_banner.isHidden()
    assert "config.json" in panel.error_banner.text() or "not_a_model" in panel.error_banner.text()
    assert "Traceback" not in panel.error_banner.text()
    assert panel.start_button.isEnabled()


def test_too_few_labels_shows_readable_error(qtbot, panel, tmp_path, tiny_base_model):
    project = _make_project(tmp_path / "tiny.wbproj", {"billing": 2, "delivery": 2})
    try:
        panel.set_project(project)
        _quick_settings(panel, tiny_base_model)
        result = _start_and_wait(qtbot, panel)
        assert result is None or result.status == "failed"
        assert not panel.error_banner.isHidden()
        assert "labelled record" in panel.error_banner.text()
        assert panel.start_button.isEnabled()
    finally:
        panel.set_project(None)
        project.close()


def test_empty_hub_id_is_refused_before_starting(panel, project):
    panel.set_project(project)
    panel.form.base_kind.setCurrentIndex(panel.form.base_kind.findData("hub"))
    panel.form.base_value.setText("  ")
    panel.start_button.click()
    assert not panel.is_running()
    assert "model id" in panel.error_banner.text()


def test_refresh_updates_the_summary_after_labelling(qtbot, panel, project):
    panel.set_project(project)
    assert "<b>36</b> labelled" in panel.form.data_text.text()
    rid = add_texts(project, ["another question about my late parcel"])[0]
    project.annotate(rid, ["delivery"])
    panel.refresh()  # hidden: updated when shown
    assert "<b>36</b> labelled" in panel.form.data_text.text()
    panel.show()
    assert "<b>37</b> labelled" in panel.form.data_text.text()
    for n, text in enumerate(["one more refund on my card", "my parcel is late again"]):
        rid = add_texts(project, [text])[0]
        project.annotate(rid, ["billing"])
        panel.refresh()  # shown: at once, then at most one more update after a burst
        if n == 0:
            assert "<b>38</b> labelled" in panel.form.data_text.text()
    qtbot.waitUntil(lambda: "<b>39</b> labelled" in panel.form.data_text.text(), timeout=5000)


def test_a_crashing_training_process_fails_clearly_and_the_window_stays(qtbot, panel, project, tiny_base_model):
    from process_jobs import aborting_train_job

    panel.job = aborting_train_job  # trains, then os.abort() in the child after one step
    panel.set_project(project)
    _quick_settings(panel, tiny_base_model, max_steps=50)
    result = _start_and_wait(qtbot, panel)
    assert result is None
    text = panel.error_banner.text()
    assert not panel.error_banner.isHidden()
    assert "stopped unexpectedly" in text and "interrupted" in text
    assert "Traceback" not in text
    # The window is alive and usable; the run is recorded as interrupted.
    assert panel.start_button.isEnabled() and not panel.is_running()
    rows = project.db.execute("SELECT status FROM runs").fetchall()
    assert [r[0] for r in rows] == ["interrupted"]
    assert [r["status"] for r in panel.history.runs()] == ["interrupted"]
    panel.job = TrainPanel.job
    _quick_settings(panel, tiny_base_model, max_steps=2)
    assert _train(qtbot, panel).status == "completed"


def test_no_project_disables_start(panel):
    panel.set_project(None)
    assert not panel.start_button.isEnabled()
    assert "Open a project" in panel.form.data_text.text()


def test_curves_are_built_when_first_shown(qtbot, panel):
    # The window opens without building the plots (and importing pyqtgraph).
    assert not panel.curves.is_built and panel.curves.point_counts() == (0, 0)
    panel.tabs.setCurrentIndex(0)
    panel.show()
    qtbot.waitExposed(panel)
    assert panel.curves.is_built


def test_form_offers_layer_freezing_with_an_automatic_default(panel):
    spin = panel.form.inputs["freeze_layers"]
    assert spin.minimum() == -1
    assert spin.value() == -1 and spin.text() == "Automatic"
