"""Train panel with a few-label method: the run ends with one plain sentence saying which
method was used and how it was measured (cross-validation on a small project)."""
from __future__ import annotations

import os

import pytest
from PySide6.QtCore import Qt
from test_train_panel import _make_project

from workbench.gui.train.train_panel import TrainPanel

pytestmark = pytest.mark.timeout(240)


def test_linear_run_reports_method_and_cross_validation(qtbot, tmp_path, tiny_base_model):
    project = _make_project(tmp_path / "m.wbproj")
    panel = TrainPanel()
    qtbot.addWidget(panel)
    panel.resize(1200, 800)
    try:
        panel.set_project(project)
        panel.set_base_model(str(tiny_base_model))
        panel.set_setting("method", "linear")
        panel.set_setting("threads", 1)
        with qtbot.waitSignal(panel.run_finished, timeout=200_000) as blocker:
            qtbot.mouseClick(panel.start_button, Qt.LeftButton)
        result = blocker.args[0]
        assert result is not None and result.status == "completed", panel.error_banner.text()
        text = panel.progress_text.text()
        assert "cross-validated macro-F1" in text and ("Method: TF-IDF" in text or "Method: frozen" in text)
        shots = os.environ.get("WORKBENCH_SHOTS")
        if shots:
            panel.grab().save(os.path.join(shots, "train_method.png"))
    finally:
        panel.shutdown()
        project.close()
