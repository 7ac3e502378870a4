"""Hostile model folders and bundles: each is one clear error and nothing is written.

Base-model folders go through ``workbench train``, trained-model folders through
``workbench export`` and bundles through ``workbench predict`` (the bundle's own
``predict.py`` is checked case by case in tests/core/test_inference.py).
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from deploy_fixtures import export_tiny_project

from workbench.cli import main


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_base_model):
    """(project with run 1, its exported bundle) made once; tests work on copies."""
    return export_tiny_project(tiny_base_model, tmp_path_factory.mktemp("hostile"))


@pytest.fixture
def project(exported, tmp_path):
    src, _report = exported
    target = tmp_path / "project"
    shutil.copytree(src.parent, target, ignore=shutil.ignore_patterns("exports"))
    path = target / src.name
    # The run's model folder is recorded with an absolute path: point it at the copy.
    model_dir = path.with_name(path.stem + ".models") / "run-1"
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE runs SET model_path = ? WHERE id = 1", [str(model_dir)])
    conn.close()
    return path


def _state(project: Path) -> tuple[str, list]:
    conn = sqlite3.connect(project)
    try:
        runs = conn.execute("SELECT id, status FROM runs ORDER BY id").fetchall()
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    return hashlib.sha256(project.read_bytes()).hexdigest(), runs


def _one_error(capsys, code: int) -> str:
    captured = capsys.readouterr()
    assert code == 1, captured.out + captured.err
    assert "Traceback" not in captured.err and "HACKED" not in captured.out
    errors = [line for line in captured.err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, captured.err
    # Nothing after the message: it is the whole of the error, on one line.
    assert captured.err.rstrip().endswith(errors[0]), captured.err
    return errors[0]


# ------------------------------------------------------------------ model folder damage
def _index_outside(folder: Path) -> str:
    (folder / "model.safetensors").rename(folder.parent / "outside.safetensors")
    index = {"metadata": {}, "weight_map": {"embeddings.word_embeddings.weight": "../outside.safetensors"}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    return "points outside"


def _link_outside(name: str):
    def change(folder: Path) -> str:
        target = folder.parent / f"outside-{name}"
        (folder / name).rename(target)
        (folder / name).symlink_to(target)
        return "points outside"
    return change


def _pickle_with_code(folder: Path) -> str:
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo HACKED",))

    (folder / "model.safetensors").unlink()
    with open(folder / "pytorch_model.bin", "wb") as fh:
        pickle.dump({"x": Evil()}, fh, protocol=2)
    return "pickled code"


def _truncated_weights(folder: Path) -> str:
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    return "damaged or incomplete"


def _config(text: str, words: str):
    def change(folder: Path) -> str:
        (folder / "config.json").write_text(text)
        return words
    return change


MODEL_CASES = [
    ("weight_index_outside", _index_outside),
    ("config_symlink_outside", _link_outside("config.json")),
    ("tokenizer_symlink_outside", _link_outside("tokenizer.json")),
    ("weights_symlink_outside", _link_outside("model.safetensors")),
    ("pickle_with_code", _pickle_with_code),
    ("truncated_safetensors", _truncated_weights),
    ("config_not_json", _config("{not json", "cannot be read")),
    ("config_json_list", _config("[1, 2, 3]", "not a JSON object")),
    ("config_huge", _config('{"model_type": "bert", "x": "' + "y" * (11 << 20) + '"}', "too large")),
]
IDS = [c[0] for c in MODEL_CASES]


@pytest.mark.parametrize("case,change", MODEL_CASES, ids=IDS)
def test_hostile_base_model_is_refused_before_any_run(project, tiny_base_model, tmp_path, capfd,
                                                      case, change):
    folder = tmp_path / "base"
    shutil.copytree(tiny_base_model, folder)
    words = change(folder)
    before = _state(project)
    code = main(["train", str(project), "--base-model", str(folder), "--epochs", "1", "--threads", "1"])
    message = _one_error(capfd, code)  # capfd: output of code run by a pickle shows too
    assert words in message
    assert _state(project) == before  # no run created, not even a failed one


@pytest.mark.parametrize("case,change", MODEL_CASES, ids=IDS)
def test_hostile_trained_model_is_refused_by_export(project, tmp_path, capsys, case, change):
    folder = project.with_name(project.stem + ".models") / "run-1"
    words = change(folder)
    before = _state(project)
    out = tmp_path / "bundle"
    message = _one_error(capsys, main(["export", str(project), "--out", str(out), "--no-quantize"]))
    assert words in message
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".bundle")]
    assert _state(project) == before


# ------------------------------------------------------------------ bundle damage
def _bundle_setting(**values):
    def change(bundle: Path) -> str:
        config = json.loads((bundle / "bundle.json").read_text())
        config.update(values)
        (bundle / "bundle.json").write_text(json.dumps(config))
        return next(iter(values))
    return change


def _corrupt_onnx(bundle: Path) -> str:
    data = (bundle / "model.onnx").read_bytes()
    (bundle / "model.onnx").write_bytes(data[: len(data) // 3])
    return "not a valid ONNX model"


def _bundle_link_outside(bundle: Path) -> str:
    shutil.move(bundle / "model.onnx", bundle.parent / "elsewhere.onnx")
    (bundle / "model.onnx").symlink_to(bundle.parent / "elsewhere.onnx")
    return "points outside"


BUNDLE_CASES = [
    ("model_file_parent", _bundle_setting(model_file="../other/model.onnx")),
    ("model_file_absolute", _bundle_setting(model_file="/etc/passwd")),
    ("model_symlink_outside", _bundle_link_outside),
    ("multi_label_no", _bundle_setting(multi_label="no")),
    ("max_length_text", _bundle_setting(max_length="abc")),
    ("max_length_negative", _bundle_setting(max_length=-5)),
    ("pad_id_text", _bundle_setting(pad_id="x")),
    ("thresholds_text", _bundle_setting(thresholds=["x"])),
    ("model_file_number", _bundle_setting(model_file=5)),
    ("corrupt_onnx", _corrupt_onnx),
    ("bundle_json_list", lambda b: (b / "bundle.json").write_text("[]") and "not a JSON object"),
]


@pytest.mark.parametrize("case,change", BUNDLE_CASES, ids=[c[0] for c in BUNDLE_CASES])
def test_hostile_bundle_is_one_error(exported, tmp_path, capsys, case, change):
    _project, report = exported
    bundle = tmp_path / "bundle"
    shutil.copytree(report.bundle_dir, bundle)
    words = change(bundle)
    out = tmp_path / "predictions.csv"
    (tmp_path / "in.txt").write_text("refund my money\n")
    code = main(["predict", str(bundle), "--input", str(tmp_path / "in.txt"), "--output", str(out)])
    assert words in _one_error(capsys, code)
    assert not out.exists()


# ------------------------------------------------------------------ no network
def test_hub_id_without_network_is_not_called_missing(project):
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update(HF_HUB_ETAG_TIMEOUT="1", HF_HUB_DOWNLOAD_TIMEOUT="1", OMP_NUM_THREADS="1")
    before = _state(project)
    proc = subprocess.run(
        [sys.executable, "-m", "workbench", "train", str(project), "--base-model", "distilbert-base-uncased"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "no network connection" in last, proc.stderr
    assert "There is no model" not in proc.stderr and "Traceback" not in proc.stderr
    assert _state(project) == before
