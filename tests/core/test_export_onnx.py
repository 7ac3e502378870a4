"""Export to a verified ONNX bundle: files, parity with PyTorch, int8 figures, errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from deploy_fixtures import (
    BLOCKED_RUNNER,
    LABELS,
    export_tiny_project,
    make_classifier,
    make_project_with_run,
)

from workbench.core.data.importer import add_texts
from workbench.core.deploy.inference import Predictor
from workbench.core.deploy.onnx_export import PARITY_TOLERANCE, export_model, export_run
from workbench.core.errors import Cancelled, ModelError, WorkbenchError
from workbench.core.store.project import Project


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_base_model):
    return export_tiny_project(tiny_base_model, tmp_path_factory.mktemp("export"), zip_bundle=True,
                               optimize=True)


def _split_texts(project_path: Path, split: str) -> tuple[list[str], list[str]]:
    with Project.open(project_path) as project:
        rows = [(t, labels[0]) for _r, t, labels, s in project.labelled_examples() if s == split]
    return [t for t, _ in rows], [g for _, g in rows]


def test_bundle_has_every_file_and_config(exported):
    _path, report = exported
    bundle = report.bundle_dir
    names = {p.name for p in bundle.iterdir()}
    assert names == {
        "model.onnx", "model.fp32.onnx", "tokenizer.json", "bundle.json",
        "model_card.md", "predict.py", "inference.py", "predict_cli.py", "bundle_config.py",
        "explain.py", "explainer.onnx",
        "span_runtime.py", "span_explain.py",
    }
    config = json.loads((bundle / "bundle.json").read_text())
    assert config["labels"] == LABELS
    assert config["max_length"] == 64
    assert config["input_names"] == ["input_ids", "attention_mask", "token_type_ids"]
    assert config["run_id"] == 1
    assert config["verification"]["parity_ok"] is True
    # The bundle's inference.py is the library module itself, not a second copy to maintain.
    source = Path(__file__).resolve().parents[2] / "workbench" / "core" / "deploy" / "inference.py"
    assert (bundle / "inference.py").read_text() == source.read_text()
    for name in ("bundle_config.py", "predict_cli.py", "span_runtime.py", "span_explain.py"):
        assert (bundle / name).read_text() == source.with_name(name).read_text()
    assert report.zip_path is not None and report.zip_path.is_file()
    with zipfile.ZipFile(report.zip_path) as zf:
        assert "run-1/model.onnx" in zf.namelist()
    # The int8 file is the smaller one.
    assert (bundle / "model.onnx").stat().st_size < (bundle / "model.fp32.onnx").stat().st_size
    # No staging folders left behind.
    assert not [p for p in bundle.parent.iterdir() if p.name.startswith(".")]


def test_fp32_onnx_matches_pytorch_on_validation_texts(exported):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path, report = exported
    texts, _ = _split_texts(path, "validation")
    model_dir = path.with_name("support.models") / "run-1"
    model = AutoModelForSequenceClassification.from_pretrained(str(model_dir)).eval()
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    with torch.no_grad():
        ref = model(**tok(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")).logits.numpy()
    onnx_logits = Predictor.load(report.bundle_dir, model_file="model.fp32.onnx").predict_logits(texts)
    diff = float(np.abs(onnx_logits - ref).max())
    assert diff <= PARITY_TOLERANCE
    # The logits are not trivially equal (the check can fail): they differ between texts.
    assert np.ptp(ref, axis=0).max() > 1e-3
    assert report.parity_texts == len(texts) == 6
    assert report.parity_max_abs_diff <= PARITY_TOLERANCE


def test_int8_figures_are_recorded_and_correct(exported):
    from sklearn.metrics import f1_score

    path, report = exported
    texts, gold = _split_texts(path, "test")
    fp32 = Predictor.load(report.bundle_dir, model_file="model.fp32.onnx").predict(texts)
    int8 = Predictor.load(report.bundle_dir).predict(texts)
    agree = np.mean([a["label"] == b["label"] for a, b in zip(fp32, int8, strict=True)])
    assert report.agreement == pytest.approx(agree)
    assert report.agreement_texts == report.test_texts == len(texts)
    present = sorted(set(gold) | {r["label"] for r in int8})
    f1 = f1_score(gold, [r["label"] for r in int8], labels=present, average="macro", zero_division=0)
    assert report.f1_int8 == pytest.approx(f1)
    assert report.f1_drop_points == pytest.approx(100 * (report.f1_fp32 - report.f1_int8))
    assert set(report.latency_ms) == {"fp32", "int8"}
    assert report.quantization["per_channel"] is True
    assert report.optimized is True  # the fixture asked for the fused graph
    card = (report.bundle_dir / "model_card.md").read_text()
    assert f"{report.f1_int8:.3f}" in card
    assert f"{100 * report.agreement:.1f}%" in card
    assert "tiny-test-bert" in card and "| billing | 2 |" in card
    assert "Intended use" in card and "Limits" in card


def test_predict_py_runs_without_torch_or_workbench(exported, tmp_path):
    _path, report = exported
    bundle = tmp_path / "copied bundle"
    import shutil

    shutil.copytree(report.bundle_dir, bundle)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    cmd = [sys.executable, "-I", "-c", BLOCKED_RUNNER, str(bundle / "predict.py")]
    out = subprocess.run(cmd + ["--json", "my package arrived late", "refund my money"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    results = json.loads(out.stdout)
    assert [r["text"] for r in results] == ["my package arrived late", "refund my money"]
    assert all(r["label"] in LABELS and sum(r["probs"].values()) == pytest.approx(1, abs=1e-5) for r in results)
    expected = Predictor.load(report.bundle_dir).predict(["my package arrived late"])[0]
    assert results[0]["label"] == expected["label"]

    src = tmp_path / "in.csv"
    src.write_text("id,message\n7,where is my order\n8,app crash\n9,\"refund, please\"\n")
    dst = tmp_path / "out.jsonl"
    out = subprocess.run(cmd + ["--input", str(src), "--text-col", "message", "--output", str(dst)],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in dst.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["7", "8", "9"]
    assert all(r["prediction"] in LABELS for r in rows)

    out = subprocess.run(cmd + ["--input", str(src), "--output", str(dst)],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert out.returncode == 1 and "--text-col" in out.stderr


def test_export_without_quantization(exported, tmp_path):
    path, _report = exported
    report = export_run(path, run=1, out_dir=tmp_path / "fp32", quantize=False, optimize=False)
    names = {p.name for p in report.bundle_dir.iterdir()}
    assert "model.onnx" in names and "model.fp32.onnx" not in names
    assert report.quantized is False and report.optimized is False and report.agreement is None
    assert Predictor.load(report.bundle_dir).predict(["refund my money"])[0]["label"] in LABELS


def test_export_model_folder_without_project(tiny_base_model, tmp_path):
    folder = make_classifier(tiny_base_model, tmp_path / "model", multi_label=True, run_id=5)
    report = export_model(folder, tmp_path / "bundle")
    assert report.run_id == 5 and report.multi_label
    assert report.f1_fp32 is None and report.agreement is not None
    result = Predictor.load(report.bundle_dir).predict(["the app crash"])[0]
    assert set(result) == {"labels", "probs"}
    assert all(0 <= p <= 1 for p in result["probs"].values())
    assert "not measured" in (report.bundle_dir / "model_card.md").read_text()


def test_bad_run_and_destination_change_nothing(exported, tmp_path):
    path, _report = exported
    with pytest.raises(WorkbenchError, match="Run 99 does not exist"):
        export_run(path, run=99, out_dir=tmp_path / "x")
    assert not (tmp_path / "x").exists()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("keep me")
    with pytest.raises(WorkbenchError, match="not empty"):
        export_run(path, out_dir=busy)
    assert [p.name for p in busy.iterdir()] == ["notes.txt"]
    with pytest.raises(ModelError, match="workbench_run.json is missing"):
        export_model(tmp_path, tmp_path / "y")


def test_project_without_runs(tmp_path):
    with Project.create(tmp_path / "empty.wbproj", ["a", "b"]):
        pass
    with pytest.raises(WorkbenchError, match="no trained model"):
        export_run(tmp_path / "empty.wbproj")


def test_cancel_leaves_nothing(tiny_base_model, tmp_path):
    path = make_project_with_run(tiny_base_model, tmp_path)
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 2

    out = tmp_path / "cancelled"
    with pytest.raises(Cancelled):
        export_run(path, out_dir=out, should_stop=stop)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def _trained_project(tmp_path: Path, base_model: str, *, n: int, multi_label: bool = False, **config) -> tuple[Path, object]:
    """A project of keyword-labelled support texts, trained with the real training core."""
    import random

    from workbench.core.training import TrainConfig, train_project

    words = {
        "billing": ["refund", "money", "charge", "card", "payment", "invoice"],
        "delivery": ["delivery", "shipping", "package", "late", "arrived", "damaged"],
        "technical": ["login", "password", "reset", "app", "crash", "error"],
    }
    filler = "the a my your is was it this that please help thanks very not can".split()
    rng = random.Random(0)
    path = tmp_path / "trained.wbproj"
    with Project.create(path, list(words), multi_label=multi_label) as project:
        for label, keys in words.items():
            texts = [" ".join(rng.sample(keys, 2) + rng.sample(filler, 4)) + f" {i}" for i in range(n)]
            for rid in add_texts(project, texts):
                project.annotate(rid, [label])
    result = train_project(path, TrainConfig(method="finetune", base_model=base_model, threads=1, **config))
    assert result.status == "completed"
    return path, result


def test_export_after_a_real_training_run(tiny_base_model, tmp_path):
    path, result = _trained_project(tmp_path, str(tiny_base_model), n=30, epochs=2, batch_size=8)
    report = export_run(path)
    assert report.run_id == result.run_id
    assert report.bundle_dir == path.with_name("trained.models") / "exports" / f"run-{result.run_id}"
    assert report.parity_ok and report.parity_max_abs_diff <= PARITY_TOLERANCE
    assert report.parity_texts > 0 and report.test_texts > 0
    # ONNX fp32 reproduces the training core's own test-split evaluation.
    assert result.metrics["split"] == "test"
    assert report.f1_fp32 == pytest.approx(result.metrics["macro_f1"], abs=0.02)
    config = json.loads((report.bundle_dir / "bundle.json").read_text())
    info = json.loads((result.model_path / "workbench_run.json").read_text())
    assert config["labels"] == info["labels"] and config["max_length"] == info["max_length"]


@pytest.mark.slow
def test_bundled_minilm_fine_tuned_then_exported(tmp_path):
    path, result = _trained_project(tmp_path, "bundled", n=24, epochs=1, batch_size=16, max_length=32)
    report = export_run(path, out_dir=tmp_path / "minilm")
    assert report.optimized is False  # the default (see benchmarks/serve.py)
    assert report.parity_max_abs_diff <= PARITY_TOLERANCE
    assert report.agreement is not None and report.agreement >= 0.9
    assert report.sizes_bytes["int8"] < 0.35 * report.sizes_bytes["fp32"]
    assert report.f1_fp32 == pytest.approx(result.metrics["macro_f1"], abs=0.05)
    predictor = Predictor.load(report.bundle_dir)
    assert predictor.predict(["please refund the charge on my card"])[0]["label"] in ("billing", "delivery", "technical")


def test_f1_drop_warning_threshold():
    from workbench.core.deploy.verify import f1_drop_warning

    assert f1_drop_warning(0.90, 0.895) is None  # half a point: fine
    assert f1_drop_warning(0.90, 0.89) is None  # exactly one point: still fine
    message = f1_drop_warning(0.90, 0.87)
    assert message is not None and "3.0 points" in message and "90.0 -> 87.0" in message
    assert f1_drop_warning(None, 0.5) is None


# ---------------------------------------------------------------- issue 11: hostile model folders
def _hostile_export(folder: Path, out: Path) -> str:
    with pytest.raises(ModelError) as exc:
        export_model(folder, out)
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]
    msg = str(exc.value)
    assert "\n" not in msg, msg
    return msg


def test_export_refuses_files_outside_the_model_folder(tiny_base_model, tmp_path):
    folder = make_classifier(tiny_base_model, tmp_path / "model")
    outside = tmp_path / "elsewhere.safetensors"
    (folder / "model.safetensors").rename(outside)
    index = {"metadata": {}, "weight_map": {"classifier.weight": "../elsewhere.safetensors"}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    msg = _hostile_export(folder, tmp_path / "bundle")
    assert "../elsewhere.safetensors" in msg and "outside" in msg and str(folder) in msg

    (folder / "model.safetensors.index.json").unlink()
    (folder / "model.safetensors").symlink_to(outside)
    msg = _hostile_export(folder, tmp_path / "bundle")
    assert "model.safetensors" in msg and "outside" in msg


def test_export_refuses_bad_config_and_truncated_weights(tiny_base_model, tmp_path):
    folder = make_classifier(tiny_base_model, tmp_path / "model")
    good = (folder / "config.json").read_text()
    (folder / "config.json").write_text("[1, 2, 3]")
    assert "not a JSON object" in _hostile_export(folder, tmp_path / "bundle")
    (folder / "config.json").write_text("{not json")
    assert "config.json cannot be read" in _hostile_export(folder, tmp_path / "bundle")
    (folder / "config.json").write_text(good)
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[:1000])
    assert "model.safetensors" in _hostile_export(folder, tmp_path / "bundle")
