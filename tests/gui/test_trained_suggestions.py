"""After training, the trained run's suggestions take over in the Label panel by
themselves (export + prediction of the unlabelled records in a worker thread)."""
from __future__ import annotations

import pytest
from deploy_fixtures import make_project_with_run

from workbench.core.assist import suggestions as assist
from workbench.core.assist.suggestion_status import suggestion_status
from workbench.core.store.changes import Changes
from workbench.core.store.project import Project
from workbench.gui.label.label_panel import LabelPanel


@pytest.fixture
def panel(qtbot):
    widget = LabelPanel()
    qtbot.addWidget(widget)
    widget.resize(1000, 700)
    widget.show()
    return widget


def test_trained_run_suggests_after_training_without_asking(qtbot, panel, tmp_path, tiny_base_model):
    import torch

    torch.set_num_threads(1)
    path = make_project_with_run(tiny_base_model, tmp_path)
    project = Project.open(path)
    try:
        assert assist.coldstart_predict(project) is not None  # the quick model suggests first
        panel.set_project(project)
        assert not panel.trained.busy  # opening a project starts nothing
        assert "Run 1 is trained" in suggestion_status(project)
        messages, broadcast = [], []
        panel.status_message.connect(messages.append)
        panel.changed.connect(broadcast.append)
        panel.refresh(Changes(runs=True))  # as the Train tab's finished run announces itself
        assert panel.trained.busy
        qtbot.waitUntil(lambda: not panel.trained.busy, timeout=180_000)
        assert assist.prediction_run_id(project) == 1
        assert "run 1" in panel.suggester_label.text().lower()
        assert any("preparing its suggestions" in m for m in messages)
        assert any("Suggestions now come from run 1" in m for m in messages)
        assert broadcast and broadcast[-1].predictions
        assert (project.models_dir / "exports" / "run-1" / "bundle.json").is_file()
        # Once is enough: the run suggests now, another runs change starts nothing.
        panel.refresh(Changes(runs=True))
        assert not panel.trained.busy
    finally:
        panel.set_project(None)
        project.close()
