"""Training through a child process: progress, cancel with the best model kept, crashes."""
from __future__ import annotations

import threading

import pytest
from process_jobs import aborting_train_job
from test_training import _config, make_project

from workbench.core.errors import Cancelled
from workbench.core.jobs import JobCrashed, run_in_process
from workbench.core.store.project import Project
from workbench.core.training import TrainEvent, train_job

pytestmark = pytest.mark.timeout(240)


def _status(path, run_id: int) -> str:
    with Project.open(path) as project:
        return project.db.execute("SELECT status FROM runs WHERE id = ?", [run_id]).fetchone()[0]


def test_train_job_in_a_child_reports_every_epoch_and_cancels(tmp_path, tiny_base_model):
    path = make_project(tmp_path / "p.wbproj")
    stop = threading.Event()
    events: list[TrainEvent] = []

    def progress(event: TrainEvent) -> None:
        events.append(event)
        if event.phase == "evaluate" and event.val_metrics and event.epoch >= 2:
            stop.set()  # cancel once two epochs have been evaluated

    config = _config(tiny_base_model, epochs=50, early_stopping_patience=0)
    # A throttle interval longer than the run: only the last event of each phase run is
    # delivered, yet every epoch still reaches the chart (loss point, then its evaluation).
    with pytest.raises(Cancelled) as info:
        run_in_process(train_job, path, config, progress=progress, should_stop=stop.is_set,
                       interval=3600)
    result = info.value.result
    assert result.status == "cancelled" and result.model_path is not None
    assert result.model_path.is_dir()  # the best model so far was kept
    assert _status(path, result.run_id) == "cancelled"
    assert all(isinstance(e, TrainEvent) for e in events)
    evaluated = [e for e in events if e.phase == "evaluate" and e.val_metrics]
    losses = [e for e in events if e.phase == "train" and e.loss is not None]
    assert len(evaluated) >= 2
    assert len(losses) >= len(evaluated)
    # the last loss point of an epoch comes before that epoch's evaluation
    first_eval = events.index(evaluated[0])
    assert any(e.loss is not None for e in events[:first_eval])


def test_a_crashed_training_child_leaves_an_interrupted_run(tmp_path, tiny_base_model):
    path = make_project(tmp_path / "p.wbproj")
    with pytest.raises(JobCrashed, match="stopped unexpectedly"):
        run_in_process(aborting_train_job, path, _config(tiny_base_model), name="training")
    with Project.open(path) as project:
        rows = project.db.execute("SELECT status, error FROM runs").fetchall()
        assert [r[0] for r in rows] == ["interrupted"]
        assert not list(project.models_dir.glob(".run-*.partial")) if project.models_dir.is_dir() else True
