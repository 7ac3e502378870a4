"""Train tab and run tracking: selecting an earlier run redraws that run's stored curves,
and the learning-curve tab plots macro-F1 against the labels of several runs."""
from __future__ import annotations

import os

import pytest
from test_train_panel import _make_project

from workbench.core.store.project import Project
from workbench.core.training import TrainConfig, get_run, train_project
from workbench.core.training.tracking import run_curve
from workbench.gui.train.train_panel import TrainPanel

pytestmark = pytest.mark.timeout(240)


def _train(path, tiny, epochs: int) -> int:
    config = TrainConfig(method="finetune", base_model=str(tiny), threads=1, epochs=epochs,
                         batch_size=4)
    result = train_project(path, config)
    assert result.status == "completed"
    return result.run_id


def test_earlier_run_curves_are_redrawn_and_learning_curve_has_a_point_per_run(
        qtbot, tmp_path, tiny_base_model):
    import torch

    torch.set_num_threads(1)
    path = tmp_path / "track.wbproj"
    project = _make_project(path, {"billing": 6, "delivery": 6, "account": 6})
    project.close()
    first = _train(path, tiny_base_model, epochs=1)
    project = Project.open(path)  # label the rest, then train again
    labelled_before = len(project.labelled_examples())
    names = project.label_names()
    ids = [r.id for r in project.get_records(list(range(1, project.max_record_id() + 1)))]
    done = {ex[0] for ex in project.labelled_examples()}
    rest = [rid for rid in ids if rid not in done]
    for k, rid in enumerate(rest):
        project.annotate(rid, [names[k % len(names)]])
    project.close()
    second = _train(path, tiny_base_model, epochs=3)
    project = Project.open(path)
    curves = {rid: run_curve(get_run(project, rid)) for rid in (first, second)}
    assert len(curves[first]["loss"]) != len(curves[second]["loss"])  # the two runs differ

    panel = TrainPanel()
    qtbot.addWidget(panel)
    panel.resize(1200, 800)
    try:
        panel.set_project(project)
        panel.show()
        for rid in (first, second, first):
            panel.tabs.setCurrentIndex(1)  # Results: pick the run ...
            panel.history.select_runs([rid])
            panel.tabs.setCurrentIndex(0)  # ... and look at its curves under Progress
            assert panel.curves.is_built
            loss_x, loss_y = panel.curves.loss_curve.getData()
            f1_x, _f1_y = panel.curves.f1_curve.getData()
            assert [[float(x), float(y)] for x, y in zip(loss_x, loss_y, strict=True)] == curves[rid]["loss"]
            assert len(f1_x) == len(curves[rid]["validation"]) >= 1
            assert f"run #{rid}" in panel.curves_caption.text()
        panel.tabs.setCurrentWidget(panel.learning)
        qtbot.waitUntil(lambda: panel.learning.curve is not None)
        points = panel.learning.drawn_points()
        assert [x for x, _y in points] == [labelled_before, len(ids)]
        assert all(0.0 <= y <= 1.0 for _x, y in points)
        assert "2 runs" in panel.learning.caption.text()
        shots = os.environ.get("WORKBENCH_SHOTS")
        if shots:
            qtbot.wait(300)
            panel.grab().save(os.path.join(shots, "train_learning_curve.png"))
            panel.tabs.setCurrentIndex(0)
            qtbot.wait(300)
            panel.grab().save(os.path.join(shots, "train_earlier_curves.png"))
    finally:
        panel.shutdown()
        project.close()
