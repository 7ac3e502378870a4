"""The Inference tab: typed text shows probabilities, files are classified in a worker."""
from __future__ import annotations

import csv
import json
import shutil

import pytest
from deploy_fixtures import LABELS, export_tiny_project

from workbench.core.deploy.inference import Predictor
from workbench.core.store.project import Project
from workbench.gui.deploy.inference_panel import InferencePanel


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_base_model):
    import torch

    torch.set_num_threads(1)
    return export_tiny_project(tiny_base_model, tmp_path_factory.mktemp("inference_panel"))


@pytest.fixture
def panel(qtbot):
    widget = InferencePanel()
    qtbot.addWidget(widget)
    yield widget
    widget.shutdown()


def test_typed_text_shows_probabilities(panel, exported, qtbot):
    _project, report = exported
    assert not panel.text_edit.isEnabled()
    assert panel.open_bundle(report.bundle_dir)
    assert set(panel.bars.bars) == set(LABELS)
    with qtbot.waitSignal(panel.predicted, timeout=5000) as blocker:
        qtbot.keyClicks(panel.text_edit, "refund my money")
    result = blocker.args[0]
    expected = Predictor.load(report.bundle_dir).predict(["refund my money"])[0]
    assert result["label"] == expected["label"]
    shown = panel.bars.values()
    assert sum(shown.values()) == pytest.approx(1.0, abs=0.01)
    for name in LABELS:
        assert shown[name] == pytest.approx(expected["probs"][name], abs=0.002)
    assert panel.latency_label.text().endswith(" ms")
    # Confidence in words, and the words that drove the prediction highlighted.
    assert any(w in panel.result_label.text() for w in ("unsure", "possible", "likely", "certain"))
    qtbot.waitUntil(lambda: "<span style='background-color" in panel.explain_label.text(),
                    timeout=10_000)
    assert [e["start"] for e in panel.last_explanation] == [0, 7, 10]
    # The percentage stands beside each bar, not painted over its fill.
    assert not any(bar.isTextVisible() for bar in panel.bars.bars.values())
    assert panel.bars.percents[expected["label"]].text().endswith("%")
    assert expected["label"] in panel.result_label.text()
    # Debounced: a burst of typing gives one prediction, for the final text.
    with qtbot.waitSignal(panel.predicted, timeout=5000) as blocker:
        qtbot.keyClicks(panel.text_edit, " and the app crash")
    assert blocker.args[0]["probs"] == pytest.approx(
        Predictor.load(report.bundle_dir).predict(["refund my money and the app crash"])[0]["probs"], abs=1e-4
    )


def test_batch_file_gives_output_with_the_right_rows(panel, exported, qtbot, tmp_path):
    _project, report = exported
    panel.open_bundle(report.bundle_dir)
    src = tmp_path / "texts.csv"
    with open(src, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "message"])
        for i in range(57):
            writer.writerow([f"r{i}", f"where is my order number {i}"])
    panel.set_input_file(src)
    assert panel.column_combo.count() == 2
    panel.column_combo.setCurrentText("message")
    assert panel.output_edit.text().endswith("texts.predictions.csv")
    out = tmp_path / "out.csv"
    panel.output_edit.setText(str(out))
    with qtbot.waitSignal(panel.batch_finished, timeout=30_000) as blocker:
        panel.run_button.click()
    assert blocker.args[0] == ("done", 57)
    rows = list(csv.DictReader(out.open()))
    assert [r["id"] for r in rows] == [f"r{i}" for i in range(57)]
    assert all(r["label"] in LABELS for r in rows)
    assert "57" in panel.batch_label.text()


def test_batch_cancel_writes_nothing(panel, exported, qtbot, tmp_path):
    _project, report = exported
    panel.open_bundle(report.bundle_dir)
    src = tmp_path / "many.txt"
    src.write_text("".join(f"the package arrived late {i}\n" for i in range(20000)))
    panel.set_input_file(src)
    out = tmp_path / "many.jsonl"
    panel.output_edit.setText(str(out))
    with qtbot.waitSignal(panel.batch_finished, timeout=60_000) as blocker:
        panel.run_button.click()
        assert panel.cancel_button.isEnabled()
        panel.cancel_button.click()
    assert blocker.args[0][0] == "cancelled"
    assert not out.exists()
    assert panel.run_button.isEnabled()


def test_bad_bundle_shows_a_clear_message(panel, exported, qtbot, tmp_path):
    _project, report = exported
    bad = tmp_path / "bad"
    shutil.copytree(report.bundle_dir, bad)
    config = json.loads((bad / "bundle.json").read_text())
    config["labels"] = ["a", "b", "c", "d"]
    (bad / "bundle.json").write_text(json.dumps(config))
    assert not panel.open_bundle(bad)
    assert "lists 4 labels but model.onnx outputs 3 scores" in panel.error_label.text()
    assert not panel.error_label.isHidden()
    (bad / "model.onnx").write_bytes(b"garbage")
    assert not panel.open_bundle(bad)
    assert "not a valid ONNX model" in panel.error_label.text()
    assert not panel.open_bundle(tmp_path / "missing")
    assert "does not exist" in panel.error_label.text()
    assert panel.predictor is None and not panel.run_button.isEnabled()


def test_latest_export_and_stored_predictions(panel, exported, qtbot):
    project_path, report = exported
    with Project.open(project_path) as project:
        panel.set_project(project)
        assert panel.latest_button.isEnabled()
        panel.latest_button.click()
        assert panel.bundle_dir == report.bundle_dir
        assert panel.store_button.isEnabled()
        with qtbot.waitSignal(panel.batch_finished, timeout=30_000) as blocker:
            panel.store_button.click()
        assert blocker.args[0] == ("done", 4)
        rows = project.db.execute(
            "SELECT p.run_id, p.label, p.probs FROM predictions p JOIN records r ON r.id = p.record_id "
            "WHERE r.text LIKE 'please help%'"
        ).fetchall()
        assert len(rows) == 4
        assert all(run_id == 1 and label in LABELS for run_id, label, _ in rows)
        assert set(json.loads(rows[0][2])) == set(LABELS)
        panel.set_project(None)


def test_file_text_column_is_the_text_not_the_id_and_no_silent_overwrite(
        panel, exported, qtbot, tmp_path, monkeypatch):
    """The import wizard's rule picks the longest text-like column (not the first, ``id``);
    the first texts are previewed; an existing output file is only replaced when confirmed."""
    _project, report = exported
    panel.open_bundle(report.bundle_dir)
    src = tmp_path / "tickets.csv"
    with open(src, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "note", "priority"])
        for i in range(5):
            writer.writerow([i + 1, f"the parcel never arrived, order {i}", "high"])
    panel.set_input_file(src)
    assert panel.column_combo.currentText() == "note"
    assert "the parcel never arrived, order 0" in panel.preview_label.text()
    out = tmp_path / "out.csv"
    out.write_text("keep me\n")
    panel.output_edit.setText(str(out))
    from PySide6.QtWidgets import QMessageBox

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.No)
    panel.run_button.click()
    assert out.read_text() == "keep me\n"
    assert "was kept" in panel.batch_label.text()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(panel.batch_finished, timeout=30_000) as blocker:
        panel.run_button.click()
    assert blocker.args[0] == ("done", 5)
    rows = list(csv.DictReader(out.open()))
    assert [r["note"] for r in rows][0] == "the parcel never arrived, order 0"
    assert rows[0]["needs_review"] in ("yes", "no") and rows[0]["certainty"]


def test_a_fresh_export_is_opened_without_asking(panel, exported):
    from workbench.core.store.changes import Changes

    project_path, report = exported
    with Project.open(project_path) as project:
        panel.set_project(project)
        assert panel.predictor is None
        panel.refresh(Changes(runs=True))
        assert panel.bundle_dir == report.bundle_dir
        panel.set_project(None)


def test_guess_text_column_rule():
    from workbench.core.data.columns import guess_text_column

    rows = [{"id": "1234567", "a": "ok", "b": "a longer sentence"}, {"id": "2", "a": "x", "b": "y"}]
    assert guess_text_column(["id", "a", "b"], rows) == "b"
    assert guess_text_column(["ID", "Message"], rows) == "Message"
    assert guess_text_column([], []) is None


def test_integrated_gradients_of_the_bundles_run(panel, exported, qtbot):
    """With the bundle's project open, the run's PyTorch model explains the typed text
    (captum); a bundle opened without its project offers nothing to follow."""
    project_path, report = exported
    assert panel.open_bundle(report.bundle_dir)
    assert panel.gradients.isHidden() and panel.gradients.model_dir is None
    with Project.open(project_path) as project:
        panel.set_project(project)
        assert not panel.gradients.isHidden() and panel.gradients.model_dir is not None
        text = "please help me with my invoice"
        panel.text_edit.setPlainText(text)
        panel.gradients.button.click()
        qtbot.waitUntil(lambda: panel.gradients.job is None, timeout=60_000)
        out = panel.gradients.last
        assert out["label"] in LABELS
        words = {text[s["start"]:s["end"]] for s in out["explanation"]}
        assert words <= set(text.split()) and "invoice" in words
        assert "Integrated gradients, why" in panel.gradients.label.text()
        panel.text_edit.setPlainText(text + " now")
        assert panel.gradients.label.text() == ""  # an answer for another text is not kept
        panel.set_project(None)
    assert panel.gradients.isHidden()
