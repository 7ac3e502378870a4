"""Run tracking: each run's curve is stored with the run, MLflow-compatible run folders and
TensorBoard event files when turned on, and the learning curve of the run history."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from test_training import make_project

from workbench.core.store.project import Project
from workbench.core.training import TrainConfig, get_run, list_runs, train_project
from workbench.core.training.runs import create_run, finish_run
from workbench.core.training.tracking import (
    MAX_POINTS,
    TENSORBOARD_MISSING,
    learning_curve,
    run_curve,
    store_run_extras,
    thin,
    write_mlflow_run,
    write_tensorboard,
)


def _scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar series of the TensorBoard event files in ``folder``, read back with
    TensorBoard's own reader: {tag: [(step, value)]}."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    yield


def test_curve_counts_and_exports_are_stored_with_the_run(tmp_path, tiny_base_model):
    path = make_project(tmp_path / "t.wbproj")
    seen = []
    config = TrainConfig(method="finetune", base_model=str(tiny_base_model), threads=1, epochs=2,
                         batch_size=8, mlflow=True, tensorboard=True)
    result = train_project(path, config, progress=seen.append)
    assert result.status == "completed"
    assert seen, "the caller's progress callback still receives every event"
    assert "curve" not in result.metrics  # kept in the project, not in --json output
    with Project.open(path) as project:
        run = get_run(project, result.run_id)
        models = project.models_dir
    curve = run_curve(run)
    live_loss = [e for e in seen if e.phase == "train" and e.loss is not None]
    assert len(curve["loss"]) == len(live_loss) > 0
    assert curve["loss"][-1] == [float(live_loss[-1].done), pytest.approx(live_loss[-1].loss)]
    assert len(curve["validation"]) >= 1 and all(0 <= f1 <= 1 for _s, f1 in curve["validation"])
    metrics = run["metrics"]
    assert metrics["n_labelled"] == 80 and 0 < metrics["n_train"] < 80
    assert metrics["macro_f1"] == result.metrics["macro_f1"]  # the merge kept the figures

    # MLflow file-store layout: experiment meta, run meta, params, metrics by step, tags.
    folder = models / "mlruns" / "0"
    assert 'name: "t"' in (folder / "meta.yaml").read_text()
    (run_dir,) = [p for p in folder.iterdir() if p.is_dir()]
    assert str(run_dir) == metrics["tracking"]["mlflow"]
    meta = (run_dir / "meta.yaml").read_text()
    assert "status: 3" in meta and f"run_uuid: \"{run_dir.name}\"" in meta
    assert (run_dir / "params" / "method").read_text() == "finetune"
    lines = (run_dir / "metrics" / "train_loss").read_text().splitlines()
    assert len(lines) == len(curve["loss"])
    _ts, value, step = lines[-1].split()
    assert float(value) == pytest.approx(curve["loss"][-1][1]) and int(step) == curve["loss"][-1][0]
    assert float((run_dir / "metrics" / "macro_f1").read_text().split()[1]) == pytest.approx(metrics["macro_f1"])
    assert (run_dir / "tags" / "mlflow.runName").read_text() == f"run-{result.run_id}"

    where = metrics["tracking"]["tensorboard"]
    if importlib.util.find_spec("tensorboard") is None:  # the extra workbench[tracking] is missing
        assert where == TENSORBOARD_MISSING
        return
    # TensorBoard's reader finds the loss at every optimizer step and validation macro-F1
    # at every evaluation, as the run reported them, and the final figures.
    assert where == str(models / "tensorboard" / f"run-{result.run_id}")
    scalars = _scalars(Path(where))
    loss = scalars["train/loss"]
    assert [step for step, _v in loss] == [e.done for e in live_loss]
    assert [v for _s, v in loss] == pytest.approx([e.loss for e in live_loss], rel=1e-6)
    evaluated = [e for e in seen if e.phase == "evaluate" and e.val_metrics]
    assert len(evaluated) == len(curve["validation"]) >= 2  # two epochs
    assert scalars["validation/macro_f1"] == [(e.done, pytest.approx(e.val_metrics["macro_f1"], rel=1e-6))
                                              for e in evaluated]
    assert scalars["final/macro_f1"] == [(0, pytest.approx(metrics["macro_f1"], rel=1e-6))]
    assert scalars["final/accuracy"] == [(0, pytest.approx(metrics["accuracy"], rel=1e-6))]


def test_missing_tensorboard_is_one_line_and_the_run_goes_on(tmp_path, tiny_base_model, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if not installed
    path = make_project(tmp_path / "notb.wbproj", {"billing": 12, "delivery": 12, "account": 12})
    seen = []
    config = TrainConfig(method="linear", base_model=str(tiny_base_model), threads=1, tensorboard=True)
    result = train_project(path, config, progress=seen.append)
    assert result.status == "completed"
    notes = [e.message for e in seen if TENSORBOARD_MISSING in (e.message or "")]
    assert notes == [f"Note: {TENSORBOARD_MISSING}"] and seen[0].message == notes[0]  # once, first
    assert "\n" not in TENSORBOARD_MISSING and 'pip install "workbench[tracking]"' in TENSORBOARD_MISSING
    assert result.metrics["tracking"] == {"tensorboard": TENSORBOARD_MISSING}
    with Project.open(path) as project:
        assert not (project.models_dir / "tensorboard").exists()


def test_span_runs_are_tracked_too(tmp_path, tiny_base_model):
    pytest.importorskip("tensorboard")
    from workbench.core.spans.span_demo import SpanDemoConfig, create_span_demo_job

    path = tmp_path / "spans.wbproj"
    create_span_demo_job(path, SpanDemoConfig(prelabelled=16))
    seen = []
    config = TrainConfig(base_model=str(tiny_base_model), threads=1, epochs=2, max_length=32, batch_size=8,
                         tensorboard=True, mlflow=True)
    result = train_project(path, config, progress=seen.append)
    assert result.status == "completed"
    with Project.open(path) as project:
        run = get_run(project, result.run_id)
    curve = run_curve(run)
    live_loss = [e for e in seen if e.phase == "train" and e.loss is not None]
    assert len(curve["loss"]) == len(live_loss) > 0 and len(curve["validation"]) == 2
    assert run["metrics"]["n_labelled"] == 16
    scalars = _scalars(Path(run["metrics"]["tracking"]["tensorboard"]))
    assert [step for step, _v in scalars["train/loss"]] == [e.done for e in live_loss]
    assert [step for step, _v in scalars["validation/macro_f1"]] == [int(s) for s, _v in curve["validation"]]
    assert scalars["final/entity_f1"] == [(0, pytest.approx(result.metrics["entity_f1"], rel=1e-6))]
    mlflow = Path(run["metrics"]["tracking"]["mlflow"])
    assert (mlflow / "params" / "method").read_text() == "auto"
    assert len((mlflow / "metrics" / "train_loss").read_text().splitlines()) == len(curve["loss"])


def test_a_run_folder_written_again_is_replaced_whole(tmp_path):
    """A project file replaced by another restarts run numbers: run 1's tracking output
    from before must not mix with the new run 1's."""
    pytest.importorskip("tensorboard")
    folder = tmp_path / "tensorboard" / "run-1"
    write_tensorboard(folder, {"loss": [[1, 0.9], [2, 0.8], [3, 0.7]], "validation": [[3, 0.4]]},
                      {"macro_f1": 0.4})
    write_tensorboard(folder, {"loss": [[1, 0.5]], "validation": []}, {"accuracy": 0.9})
    scalars = _scalars(folder)
    assert scalars == {"train/loss": [(1, 0.5)], "final/accuracy": [(0, pytest.approx(0.9))]}

    old = {"id": 1, "status": "completed", "config": {"epochs": 3, "method": "finetune"},
           "metrics": {"macro_f1": 0.4, "curve": {"loss": [[1, 0.9]]}}}
    first = write_mlflow_run(tmp_path / "mlruns", "p", old)
    second = write_mlflow_run(tmp_path / "mlruns", "p", {"id": 1, "status": "failed", "config": {"method": "linear"},
                                                          "metrics": {}})
    assert first == second
    assert sorted(p.name for p in (second / "params").iterdir()) == ["method"]
    assert not any((second / "metrics").iterdir()) and "status: 4" in (second / "meta.yaml").read_text()


def test_exports_are_off_unless_turned_on(tmp_path, tiny_base_model):
    path = make_project(tmp_path / "off.wbproj", {"billing": 12, "delivery": 12, "account": 12})
    config = TrainConfig(method="linear", base_model=str(tiny_base_model), threads=1)
    result = train_project(path, config)
    with Project.open(path) as project:
        run = get_run(project, result.run_id)
        assert not (project.models_dir / "mlruns").exists()
        assert not (project.models_dir / "tensorboard").exists()
    assert "tracking" not in run["metrics"] and run["metrics"]["n_labelled"] == 36


def test_learning_curve_points_from_several_runs(tmp_path):
    path = make_project(tmp_path / "lc.wbproj", {"billing": 3, "delivery": 3, "account": 3})
    with Project.open(path) as project:
        ids = []
        for n, f1, status in ((40, 0.61, "completed"), (20, 0.52, "completed"),
                              (80, 0.74, "completed"), (60, 0.9, "cancelled")):
            rid = create_run(project, base_model="bundled", config={"method": "auto"},
                             snapshot_hash="x", device="cpu")
            finish_run(project, rid, status=status,
                       metrics={"macro_f1": f1, "method": {"chosen": "linear"}})
            store_run_extras(project, rid, {"n_labelled": n, "curve": {"loss": [[1, 0.5]]}})
            ids.append(rid)
        old = create_run(project, base_model="bundled", config={}, snapshot_hash="x", device="cpu")
        finish_run(project, old, status="completed", metrics={"macro_f1": 0.3})  # no count
        runs = list_runs(project)
    points = learning_curve(runs)
    assert [(p.n_labelled, p.macro_f1, p.run_id) for p in points] == [
        (20, 0.52, ids[1]), (40, 0.61, ids[0]), (80, 0.74, ids[2])]
    assert {p.method for p in points} == {"linear"}
    assert run_curve(next(r for r in runs if r["id"] == ids[0]))["loss"] == [[1, 0.5]]
    assert run_curve(next(r for r in runs if r["id"] == old)) == {"loss": [], "validation": []}


def test_thin_keeps_first_and_last():
    points = [[float(i), float(i)] for i in range(2000)]
    out = thin(points)
    assert len(out) == MAX_POINTS and out[0] == points[0] and out[-1] == points[-1]
    assert thin(points[:10]) == points[:10]
