"""The Deploy panel: export a run in a worker, show the figures and the model card."""
from __future__ import annotations

import pytest
from deploy_fixtures import make_project_with_run

from workbench.core.store.project import Project
from workbench.gui.deploy.deploy_panel import DeployPanel


@pytest.fixture
def project(tiny_base_model, tmp_path):
    import torch

    torch.set_num_threads(1)
    p = Project.open(make_project_with_run(tiny_base_model, tmp_path))
    yield p
    p.close()


@pytest.fixture
def panel(qtbot):
    widget = DeployPanel()
    qtbot.addWidget(widget)
    yield widget
    widget.shutdown()


def test_export_shows_figures_and_model_card(panel, project, qtbot):
    panel.set_project(project)
    assert panel.run_combo.count() == 1 and panel.run_combo.currentData() == 1
    assert panel.out_edit.text().endswith("run-1")
    assert not panel.open_button.isEnabled()
    assert panel.progress.isHidden()  # no idle "0%" bar
    with qtbot.waitSignal(panel.export_finished, timeout=120_000) as blocker:
        panel.export_button.click()
        assert panel.cancel_button.isEnabled() and not panel.export_button.isEnabled()
        assert not panel.progress.isHidden()
    assert panel.progress.isHidden()
    report = blocker.args[0]
    assert (report.bundle_dir / "model.onnx").is_file()
    assert "passed" in panel.figures_label.text()
    assert "int8 vs fp32" in panel.figures_label.text()
    assert "Macro-F1 on 6 test texts" in panel.figures_label.text()
    assert "Model card" in panel.card_view.toPlainText()
    assert panel.open_button.isEnabled() and panel.export_button.isEnabled()
    # Reopening the project shows the chosen run's existing export and its model card.
    panel.set_project(project)
    assert "Model card" in panel.card_view.toPlainText()
    assert "already exported" in panel.figures_label.text()
    assert panel.open_button.isEnabled()


def test_run_titles_are_short_and_local():
    import datetime as dt

    from workbench.gui.deploy.deploy_panel import run_title

    created = "2026-11-28T14:39:35.410+00:00"
    local = dt.datetime.fromisoformat(created).astimezone().strftime("%Y-%m-%d %H:%M")
    run = {"run_id": 1, "created_at": created, "base_model": "/tmp/shots/tiny",
           "macro_f1": 0.0333, "status": "completed"}
    assert run_title(run) == f"Run 1 · {local} · tiny · macro-F1 0.033"
    run.update(base_model="bundled", macro_f1=None, status="failed")
    assert run_title(run) == f"Run 1 · {local} · Bundled MiniLM (failed)"


def test_cancel_and_errors(panel, project, qtbot, tmp_path):
    panel.set_project(project)
    with qtbot.waitSignal(panel.export_stopped, timeout=120_000) as blocker:
        panel.export_button.click()
        panel.cancel_button.click()
    assert blocker.args[0][0] == "cancelled"
    assert not (project.models_dir / "exports" / "run-1").exists()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("x")
    panel.out_edit.setText(str(busy))
    with qtbot.waitSignal(panel.export_stopped, timeout=120_000) as blocker:
        panel.export_button.click()
    assert blocker.args[0][0] == "failed" and "not empty" in blocker.args[0][1]
    assert "not empty" in panel.message_label.text()


def test_project_without_runs_then_a_run_appears(panel, qtbot, tmp_path, tiny_base_model):
    from deploy_fixtures import make_classifier

    from workbench.core.store.project import now_iso

    with Project.create(tmp_path / "empty.wbproj", ["billing", "delivery", "technical"]) as empty:
        panel.set_project(empty)
        assert not panel.export_button.isEnabled()
        assert "Train a model first" in panel.message_label.text()
        make_classifier(tiny_base_model, empty.models_dir / "run-1")
        with empty.db.atomic():
            empty.db.execute(
                "INSERT INTO runs(id, kind, status, created_at, model_path) "
                "VALUES (1, 'train', 'completed', ?, 'empty.models/run-1')", [now_iso()])
        panel.show()  # showing the tab reloads the runs
        qtbot.waitExposed(panel)
        assert panel.run_combo.count() == 1 and panel.export_button.isEnabled()
        assert panel.message_label.text() == ""
        panel.set_project(None)


def test_figures_show_a_quantization_warning(tmp_path):
    from workbench.core.deploy.onnx_export import ExportReport
    from workbench.core.deploy.verify import f1_drop_warning
    from workbench.gui.deploy.deploy_panel import format_figures

    report = ExportReport(
        bundle_dir=tmp_path, labels=["a", "b"], multi_label=False, max_length=64, quantized=True,
        optimized=False, parity_max_abs_diff=2e-6, parity_texts=10, parity_ok=True, run_id=3,
        agreement=0.9, agreement_texts=20, test_texts=20, f1_fp32=0.9, f1_int8=0.85,
        f1_drop_points=5.0, warnings=[f1_drop_warning(0.9, 0.85)],
    )
    text = format_figures(report)
    assert "Warning" in text and "5.0 points" in text and "#b00020" in text
    assert "fp32 90.0%, int8 85.0%" in text


def test_export_options_are_generated_from_the_export_settings(qtbot):
    """The Deploy panel's export options are ExportOptions' fields, as in the CLI."""
    from dataclasses import fields

    from workbench.core.deploy.onnx_export import ExportOptions
    from workbench.gui.deploy.deploy_panel import DeployPanel

    panel = DeployPanel()
    qtbot.addWidget(panel)
    assert set(panel.options_form.inputs) == {f.name for f in fields(ExportOptions)}
    assert panel.options_form.config() == ExportOptions()
    panel.options_form.set_value("zip_bundle", True)
    panel.options_form.set_value("quantize", False)
    assert panel.options_form.config() == ExportOptions(quantize=False, zip_bundle=True)
