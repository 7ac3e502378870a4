"""``workbench train``, ``evaluate`` and ``runs`` end to end in a subprocess."""
from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys

import pytest

WORDS = {
    "billing": ["refund", "money", "charge", "card", "payment", "bill", "invoice"],
    "delivery": ["delivery", "shipping", "package", "late", "arrived", "broken", "damaged"],
    "account": ["account", "login", "password", "reset", "app", "crash", "error"],
}
FILLER = "the a my your is was it this that please help thanks very not".split()


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "workbench", *args],
        capture_output=True, text=True, env=env, timeout=240,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


@pytest.fixture
def labelled_project(tmp_path):
    rng = random.Random(0)
    data = tmp_path / "data.csv"
    rows = []
    for label, n in (("billing", 30), ("delivery", 20), ("account", 12)):
        for i in range(n):
            words = rng.sample(WORDS[label], 3) + rng.sample(FILLER, 4)
            rng.shuffle(words)
            rows.append({"text": " ".join(words) + f" {label[0]}{i}", "intent": label})
    with open(data, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["text", "intent"])
        writer.writeheader()
        writer.writerows(rows)
    project = tmp_path / "cli.wbproj"
    _run("new", str(project), "--labels", "billing,delivery,account")
    _run("import", str(project), str(data), "--label-col", "intent")
    return project, data


def test_train_evaluate_runs_end_to_end(labelled_project, tiny_base_model):
    project, data = labelled_project
    settings = project.parent / "settings.json"
    settings.write_text(json.dumps({"freeze_layers": 1}), encoding="utf-8")
    proc = _run("train", str(project), "--base-model", str(tiny_base_model), "--method", "finetune", "--epochs", "2",
                "--batch-size", "8", "--lr", "2e-4", "--max-length", "64", "--seed", "3",
                "--threads", "1", "--config", str(settings), "--json")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["status"] == "completed" and result["run_id"] == 1
    for key in ("accuracy", "macro_f1"):
        assert 0.0 <= result["metrics"][key] <= 1.0
    assert "step" in proc.stderr and "Epoch 1" in proc.stderr
    assert os.path.isdir(result["model_path"])

    ev = json.loads(_run("evaluate", str(project), "--json").stdout)
    for key in ("accuracy", "macro_f1", "per_label", "confusion_matrix", "labels"):
        assert key in ev
    assert ev["labels"] == ["billing", "delivery", "account"]
    assert ev["macro_f1"] == pytest.approx(result["metrics"]["macro_f1"])

    ev_file = json.loads(_run("evaluate", str(project), "--run", "1", "--input", str(data),
                              "--text-col", "text", "--label-col", "intent", "--json").stdout)
    assert ev_file["n"] == 62 and sum(map(sum, ev_file["confusion_matrix"])) == 62

    runs = json.loads(_run("runs", str(project), "--json").stdout)
    assert [r["id"] for r in runs] == [1] and runs[0]["status"] == "completed"
    assert runs[0]["config"]["learning_rate"] == pytest.approx(2e-4)
    assert runs[0]["config"]["seed"] == 3
    assert runs[0]["config"]["freeze_layers"] == 1
    assert runs[0]["config"]["effective"]["freeze_layers"] == 1
    table = _run("runs", str(project)).stdout
    assert "completed" in table and "macro_f1" in table


def test_train_errors_are_one_readable_line(labelled_project, tmp_path):
    project, _data = labelled_project
    proc = _run("train", str(project), "--base-model", str(tmp_path / "missing"), check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("error: Model folder")
    proc = _run("train", str(project), "--batch-size", "0", check=False)
    assert proc.returncode == 1 and "batch size must be at least 1" in proc.stderr
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"freeze_layers": -3}), encoding="utf-8")
    proc = _run("train", str(project), "--config", str(bad), check=False)
    assert proc.returncode == 1 and "freeze layers must be -1 (automatic), 0 or more" in proc.stderr
    proc = _run("evaluate", str(project), check=False)
    assert proc.returncode == 1 and "no trained model" in proc.stderr
    assert json.loads(_run("runs", str(project), "--json").stdout) == []
