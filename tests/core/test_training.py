"""Training core: a tiny random BERT trains, evaluates, cancels and saves safely."""
from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.core.data.importer import add_texts
from workbench.core.errors import WorkbenchError
from workbench.core.store.project import Project
from workbench.core.training import (
    TrainConfig,
    TrainEvent,
    data_summary,
    evaluate_run,
    list_runs,
    train_project,
)

KEYWORDS = {
    "billing": ["refund", "money", "charge", "card", "payment", "bill", "invoice"],
    "delivery": ["delivery", "shipping", "package", "late", "arrived", "broken", "damaged"],
    "account": ["account", "login", "password", "reset", "app", "crash", "error"],
}
FILLER = "the a my your is was it this that please help thanks very not can cannot".split()


def make_texts(label: str, n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        words = rng.sample(KEYWORDS[label], 3) + rng.sample(FILLER, 5)
        rng.shuffle(words)
        out.append(" ".join(words) + f" {i}")
    return out


def make_project(
    path: Path, counts: dict[str, int] | None = None, *, multi_label: bool = False, seed: int = 0
) -> Path:
    """A project whose records are labelled by keyword class (imbalanced by default)."""
    counts = counts or {"billing": 40, "delivery": 25, "account": 15}
    project = Project.create(path, list(KEYWORDS), multi_label=multi_label)
    with project:
        for k, (label, n) in enumerate(counts.items()):
            texts = make_texts(label, n, seed + k)
            ids = add_texts(project, texts)
            for j, rid in enumerate(ids):
                labels = [label]
                if multi_label and j % 4 == 0:
                    other = list(KEYWORDS)[(k + 1) % len(KEYWORDS)]
                    labels.append(other)
                project.annotate(rid, labels)
    return path


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    yield


def _config(tiny, **kw) -> TrainConfig:
    kw.setdefault("epochs", 2)
    kw.setdefault("batch_size", 8)
    return TrainConfig(method="finetune", base_model=str(tiny), threads=1, **kw)


def test_single_label_run_writes_model_record_and_predictions(tmp_path, tiny_base_model):
    path = make_project(tmp_path / "p.wbproj")
    events: list[TrainEvent] = []
    result = train_project(path, _config(tiny_base_model), progress=events.append)

    assert result.status == "completed"
    assert result.model_path == tmp_path / "p.models" / f"run-{result.run_id}"
    files = {p.name for p in result.model_path.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "workbench_run.json"} <= files
    assert not list((tmp_path / "p.models").glob(".*partial"))
    cfg = json.loads((result.model_path / "config.json").read_text())
    assert cfg["id2label"] == {"0": "billing", "1": "delivery", "2": "account"}
    assert cfg["label2id"] == {"billing": 0, "delivery": 1, "account": 2}
    info = json.loads((result.model_path / "workbench_run.json").read_text())
    assert info["run_id"] == result.run_id
    assert info["labels"] == ["billing", "delivery", "account"]
    assert info["multi_label"] is False and info["thresholds"] is None
    assert 16 <= info["max_length"] <= 128

    for key in ("accuracy", "macro_f1", "micro_f1", "weighted_f1"):
        assert 0.0 <= result.metrics[key] <= 1.0
    assert set(result.metrics["per_label"]) == {"billing", "delivery", "account"}
    cm = result.metrics["confusion_matrix"]
    assert len(cm) == 3 and sum(map(sum, cm)) == result.metrics["n"]

    phases = [e.phase for e in events]
    assert phases[0] == "prepare" and phases[-1] == "done"
    assert {"train", "evaluate", "save"} <= set(phases)
    train_events = [e for e in events if e.phase == "train" and e.step]
    assert train_events[-1].step == train_events[-1].total_steps
    assert all(e.loss is not None and e.samples_per_s for e in train_events)
    assert any(e.val_metrics and "macro_f1" in e.val_metrics for e in events if e.phase == "evaluate")

    with Project.open(path) as project:
        runs = list_runs(project)
        assert len(runs) == 1
        run = runs[0]
        assert run["status"] == "completed" and run["id"] == result.run_id
        assert run["config"]["base_model"] == str(tiny_base_model)
        assert run["config"]["effective"]["learning_rate"] == pytest.approx(1e-4)
        assert run["snapshot_hash"] and run["device"] == "cpu"
        assert run["timings"]["train_s"] > 0 and run["finished_at"]
        assert run["metrics"]["macro_f1"] == pytest.approx(result.metrics["macro_f1"])
        test_ids = {
            r[0] for r in project.db.execute("SELECT id FROM records WHERE split = 'test'")
        }
        preds = project.db.execute(
            "SELECT record_id, probs, label FROM predictions WHERE run_id = ?", [result.run_id]
        ).fetchall()
        assert {p[0] for p in preds} == test_ids and len(test_ids) == result.metrics["n"]
        probs = json.loads(preds[0][1])
        assert set(probs) == {"billing", "delivery", "account"}
        assert sum(probs.values()) == pytest.approx(1.0, abs=1e-4)
        splits = project.stats()["splits"]
        assert splits["unassigned"] == 0 and splits["validation"] > 0

    again = evaluate_run(path)
    assert again["run_id"] == result.run_id and again["source"] == "test split"
    assert again["macro_f1"] == pytest.approx(result.metrics["macro_f1"])
    assert again["labels"] == ["billing", "delivery", "account"]


def test_multi_label_trains_with_tuned_thresholds(tmp_path, tiny_base_model):
    path = make_project(tmp_path / "m.wbproj", multi_label=True)
    result = train_project(path, _config(tiny_base_model))
    assert result.status == "completed"
    m = result.metrics
    assert m["multi_label"] is True and "subset_accuracy" in m
    assert len(m["thresholds"]) == 3 and all(0 < t < 1 for t in m["thresholds"])
    assert len(m["confusion_matrix"]) == 3 and len(m["confusion_matrix"][0]) == 2
    info = json.loads((result.model_path / "workbench_run.json").read_text())
    assert info["multi_label"] is True and info["thresholds"] == m["thresholds"]
    cfg = json.loads((result.model_path / "config.json").read_text())
    assert cfg["problem_type"] == "multi_label_classification"
    ev = evaluate_run(path, result.run_id)
    assert ev["subset_accuracy"] == pytest.approx(m["subset_accuracy"])


def test_cancel_mid_epoch_keeps_best_checkpoint(tmp_path, tiny_base_model):
    path = make_project(tmp_path / "p.wbproj")
    first = train_project(path, _config(tiny_base_model, max_steps=2))
    first_files = {p.name: p.stat().st_mtime_ns for p in first.model_path.iterdir()}

    state = {"evaluated": False, "checks_after": 0}

    def progress(event: TrainEvent) -> None:
        if event.phase == "evaluate" and event.val_metrics:
            state["evaluated"] = True

    def should_stop() -> bool:  # checked before every step
        if state["evaluated"]:
            state["checks_after"] += 1
        return state["checks_after"] > 2

    # Batch 4 gives 14 steps per epoch; stop two steps into the second epoch.
    cfg = _config(tiny_base_model, epochs=3, batch_size=4)
    result = train_project(path, cfg, progress=progress, should_stop=should_stop)
    assert result.status == "cancelled"
    assert result.model_path is not None and (result.model_path / "model.safetensors").exists()
    assert result.metrics["best_epoch"] == 1 and len(result.metrics["history"]) == 1
    assert result.metrics["steps"] == 14 + 2
    ev = evaluate_run(path, result.run_id)
    assert ev["n"] == result.metrics["n"]
    # The earlier run is untouched.
    assert {p.name: p.stat().st_mtime_ns for p in first.model_path.iterdir()} == first_files
    with Project.open(path) as project:
        statuses = {r["id"]: r["status"] for r in list_runs(project)}
    assert statuses == {first.run_id: "completed", result.run_id: "cancelled"}


def test_cancel_before_first_evaluation_saves_no_model(tmp_path, tiny_base_model):
    path = make_project(tmp_path / "p.wbproj")
    result = train_project(path, _config(tiny_base_model), should_stop=lambda: True)
    assert result.status == "cancelled" and result.model_path is None
    assert not (tmp_path / "p.models" / f"run-{result.run_id}").exists()
    with pytest.raises(WorkbenchError, match="no trained model"):
        evaluate_run(path)


def test_stored_split_is_reused_and_new_records_assigned(tmp_path, tiny_base_model):
    path = make_project(tmp_path / "p.wbproj")
    train_project(path, _config(tiny_base_model, max_steps=1))
    with Project.open(path) as project:
        before = dict(project.db.execute("SELECT id, split FROM records").fetchall())
        new_ids = add_texts(project, [f"refund charge card payment please {i}" for i in range(20)])
        for rid in new_ids:
            project.annotate(rid, ["billing"])
    second = train_project(path, _config(tiny_base_model, max_steps=1))
    with Project.open(path) as project:
        after = dict(project.db.execute("SELECT id, split FROM records").fetchall())
        runs = list_runs(project)
    assert {rid: after[rid] for rid in before} == before
    new_splits = [after[rid] for rid in new_ids]
    assert "unassigned" not in new_splits and "train" in new_splits and "test" in new_splits
    assert runs[0]["snapshot_hash"] != runs[1]["snapshot_hash"]
    assert second.status == "completed"

    train_project(path, _config(tiny_base_model, max_steps=1, reshuffle_split=True, seed=7))
    with Project.open(path) as project:
        shuffled = dict(project.db.execute("SELECT id, split FROM records").fetchall())
    assert shuffled != after
    assert set(shuffled.values()) == {"train", "validation", "test"}


def test_too_few_labels_give_clear_errors_and_change_nothing(tmp_path, tiny_base_model):
    one_label = make_project(tmp_path / "one.wbproj", {"billing": 30})
    with pytest.raises(WorkbenchError, match="at least two labels.*only 'billing'"):
        train_project(one_label, _config(tiny_base_model))
    few = make_project(tmp_path / "few.wbproj", {"billing": 3, "delivery": 3})
    with pytest.raises(WorkbenchError, match="Only 6 labelled record"):
        train_project(few, _config(tiny_base_model))
    for path in (one_label, few):
        with Project.open(path) as project:
            assert list_runs(project) == []
            assert project.stats()["splits"]["unassigned"] == project.record_count()
        assert not path.with_name(path.stem + ".models").exists()


def test_data_summary_counts_and_warnings(tmp_path):
    path = make_project(tmp_path / "p.wbproj", {"billing": 60, "delivery": 30, "account": 4})
    with Project.open(path) as project:
        s = data_summary(project)
    assert s.n_labelled == 94 and s.by_label == {"billing": 60, "delivery": 30, "account": 4}
    assert sum(s.splits.values()) == 94 and s.splits["test"] > 0
    assert s.split_by_label["account"]["train"] >= 1
    text = " ".join(s.warnings)
    assert "'account' has only 4 example" in text
    assert "imbalanced" in text
    with Project.open(make_project(tmp_path / "tiny.wbproj", {"billing": 12})) as project:
        s = data_summary(project)
    assert any("at least two labels" in w for w in s.warnings)


def test_evaluate_on_labelled_file(tmp_path, tiny_base_model):
    path = make_project(tmp_path / "p.wbproj")
    train_project(path, _config(tiny_base_model, max_steps=2))
    csv = tmp_path / "eval.csv"
    csv.write_text(
        "message,intent\nrefund my card payment,billing\npackage arrived broken,delivery\n"
        "login password reset,account\nmoney charge bill,billing\n",
        encoding="utf-8",
    )
    m = evaluate_run(path, "latest", csv, "message", "intent")
    assert m["n"] == 4 and m["source"] == str(csv)
    assert sum(map(sum, m["confusion_matrix"])) == 4
    assert m["per_label"]["billing"]["support"] == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("message,intent\nhello,weather\n", encoding="utf-8")
    with pytest.raises(WorkbenchError, match="weather.*not labels of this model"):
        evaluate_run(path, "latest", bad, "message", "intent")
    with pytest.raises(WorkbenchError, match="no column 'text'"):
        evaluate_run(path, "latest", csv, "text", "intent")
    with pytest.raises(WorkbenchError, match="no run 99"):
        evaluate_run(path, 99)


def test_class_weighting_none_and_explicit_settings_are_recorded(tmp_path, tiny_base_model):
    path = make_project(tmp_path / "p.wbproj")
    cfg = _config(tiny_base_model, class_weighting="none", learning_rate=3e-4, max_length=32,
                  max_steps=3)
    result = train_project(path, cfg)
    assert result.metrics["steps"] == 3
    with Project.open(path) as project:
        run = list_runs(project)[0]
    assert run["config"]["class_weighting"] == "none"
    assert run["config"]["effective"]["learning_rate"] == pytest.approx(3e-4)
    assert run["config"]["effective"]["max_length"] <= 32


def test_importing_training_does_not_import_torch():
    code = (
        "import sys, workbench.core.training, workbench.cli.train; "
        "print('torch' in sys.modules, 'transformers' in sys.modules, 'PySide6' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "False"]
