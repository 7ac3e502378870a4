"""Training figures that do not mislead: ETA with early stopping, the real epoch count,
run numbering from 1, plain-language summaries."""
from __future__ import annotations

import pytest

from workbench.core.plain_words import confidence_words, epochs_summary, what_this_means
from workbench.core.training.estimate import time_left


def test_time_left_counts_early_stopping():
    # 10 steps per epoch, 20 epochs planned, patience 2, in epoch 3 (0-based), 0 bad epochs.
    likely, at_most = time_left(seconds_per_step=1.0, step=35, total=200, steps_per_epoch=10,
                                epoch=3, patience=2, bad=0)
    assert at_most == 165
    assert likely == 15  # the rest of epoch 3 and epoch 4, then it stops without a gain
    likely, _ = time_left(seconds_per_step=1.0, step=35, total=200, steps_per_epoch=10,
                          epoch=3, patience=2, bad=1)
    assert likely == 5
    assert time_left(seconds_per_step=2.0, step=0, total=10, steps_per_epoch=5, epoch=0,
                     patience=0, bad=0) == (20.0, 20.0)


def test_epochs_summary_says_it_stopped_early():
    metrics = {"history": [{}] * 7, "best_epoch": 4, "stopped_early": True}
    assert epochs_summary(metrics, 20) == "7 of 20 (stopped early: no gain after epoch 4)"
    assert epochs_summary({"history": [{}] * 3, "stopped_early": False}, 20) == "3 of 20"
    assert epochs_summary({"history": [{}] * 20}, 20) == "20"


def test_what_this_means_names_the_weakest_label():
    metrics = {"accuracy": 0.91, "n": 60, "per_label": {
        "billing": {"recall": 0.95, "support": 20}, "feedback": {"recall": 0.7, "support": 10},
        "delivery": {"recall": 0.93, "support": 30}}}
    assert what_this_means(metrics, "messages") == (
        "The model gets about 9 in 10 messages right; it is weakest on feedback (7 of 10) "
        "(measured on 60 held-out messages).")
    assert confidence_words(0.95) == "almost certain"
    assert confidence_words(0.5) == "unsure"


def test_loss_axis_starts_at_zero():
    from workbench.gui.train.train_charts import loss_axis_range

    lo, hi = loss_axis_range([1.801, 1.782])
    assert lo == 0.0 and hi == pytest.approx(1.801 * 1.1)


def test_first_trained_run_is_run_1_after_the_quick_model(tmp_path, tiny_base_model):
    import torch
    from test_training import _config, make_project

    from workbench.core.assist.suggestions import coldstart_predict
    from workbench.core.data.importer import add_texts
    from workbench.core.store.project import Project
    from workbench.core.training import train_project

    torch.set_num_threads(1)
    path = make_project(tmp_path / "p.wbproj")
    with Project.open(path) as project:
        add_texts(project, ["where is my package", "reset my password"])
        quick = coldstart_predict(project)
        assert quick is not None and quick < 1
    result = train_project(path, _config(tiny_base_model, epochs=6, early_stopping_patience=1))
    assert result.run_id == 1
    history = result.metrics["history"]
    # This seed stops after 2 of 6 epochs (validation stops improving, patience 1).
    assert len(history) < 6 and result.metrics["stopped_early"] is True
    assert epochs_summary(result.metrics, 6).startswith(f"{len(history)} of 6 (stopped early")
    # Temperature scaling was fitted on validation and travels with the model folder.
    calibration = result.metrics["calibration"]
    assert calibration["temperature"] > 0 and 0 <= calibration["ece_after"] <= 1
    import json

    info = json.loads((result.model_path / "workbench_run.json").read_text())
    assert info["temperature"] == pytest.approx(calibration["temperature"], rel=1e-5)
