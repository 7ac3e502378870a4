"""Train panel with a few-label method: the run ends with one plain sentence saying which
method was used and how it was measured (cross-validation on a small project), and the
Results tab names that evaluation instead of a test split."""
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
        # The Results tab names the evaluation: out-of-fold predictions, not a test split.
        panel.history.set_runs(panel.history.runs(), select=[result.run_id])
        qtbot.waitUntil(lambda: "cross-validation" in panel.captions.confusion.text(), timeout=5000)
        n = result.metrics["n"]
        assert "test split" not in panel.captions.per_label.text()
        assert "cross-validation (out-of-fold predictions)" in panel.captions.per_label.text()
        assert "cross-validation" in panel.metrics_table.value("Evaluated on")
        assert panel.metrics_table.value("Records (out-of-fold)") == str(n)
        assert panel.metrics_table.value("Test records") is None
        if panel.confusion.caption.text():
            assert "test split" not in panel.confusion.caption.text()
        shots = os.environ.get("WORKBENCH_SHOTS")
        if shots:
            panel.grab().save(os.path.join(shots, "train_method.png"))
            tabs = panel.tabs
            tabs.setCurrentIndex(next(i for i in range(tabs.count()) if tabs.tabText(i) == "Results"))
            panel.grab().save(os.path.join(shots, "train_results_cv.png"))
    finally:
        panel.shutdown()
        project.close()
