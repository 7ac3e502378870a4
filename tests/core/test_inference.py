"""The torch-free predictor: results, batching, files and clear errors for bad bundles."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from deploy_fixtures import LABELS, export_tiny_project

from workbench.core.deploy.inference import (
    BundleError,
    Cancelled,
    InputFileError,
    Predictor,
    predict_file,
    read_texts,
)
from workbench.core.errors import WorkbenchError


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, tiny_base_model):
    import torch

    torch.set_num_threads(1)
    _path, report = export_tiny_project(tiny_base_model, tmp_path_factory.mktemp("inference"))
    return report.bundle_dir


@pytest.fixture
def broken(bundle, tmp_path):
    """A fresh copy of the bundle that a test may damage."""
    target = tmp_path / "bundle"
    shutil.copytree(bundle, target)
    return target


def test_importing_inference_does_not_import_torch():
    code = (
        "import sys, workbench.core.deploy.inference as m; "
        "bad = [x for x in ('torch', 'transformers', 'PySide6') if x in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_predictions_and_probabilities(bundle):
    predictor = Predictor.load(bundle, threads=1)
    assert predictor.labels == LABELS and predictor.multi_label is False
    texts = ["refund my money", "the package arrived late and broken", "", "app " * 200]
    probs = predictor.predict_proba(texts)
    assert probs.shape == (4, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    results = predictor.predict(texts)
    assert [r["label"] for r in results] == [LABELS[i] for i in probs.argmax(axis=1)]
    assert results[0]["probs"]["billing"] == pytest.approx(float(probs[0, 0]))


def test_length_sorted_batches_give_the_same_results_as_single_texts(bundle):
    # fp32: padding and batch order must not change the outputs. (int8 dynamic quantization
    # scales activations per batch, so there batching moves logits slightly.)
    predictor = Predictor.load(bundle, model_file="model.fp32.onnx", threads=1)
    texts = ["a", "the delivery was slow and the package damaged and late", "login error",
             "refund", "my card payment failed because of an error in the app"] * 3
    together = predictor.predict_logits(texts, batch_size=4)
    alone = np.vstack([predictor.predict_logits([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-4)
    seen = []
    predictor.predict_logits(texts, batch_size=4, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (15, 15) and len(seen) == 4


def test_read_texts_formats(tmp_path):
    (tmp_path / "a.txt").write_text("first line\n\nsecond line\n")
    assert read_texts(tmp_path / "a.txt")[0] == ["first line", "second line"]
    (tmp_path / "b.csv").write_text("id,body\n1,hello\n2,\"with, comma\"\n")
    texts, rows, col = read_texts(tmp_path / "b.csv", "body")
    assert texts == ["hello", "with, comma"] and rows[0]["id"] == "1" and col == "body"
    (tmp_path / "ragged.csv").write_text("text\nfine\ntoo,many,values\n")
    texts, rows, _ = read_texts(tmp_path / "ragged.csv")
    assert texts == ["fine", "too"] and rows[1] == {"text": "too"}
    with pytest.raises(InputFileError, match="several columns"):
        read_texts(tmp_path / "b.csv")
    with pytest.raises(InputFileError, match="no column 'text'"):
        read_texts(tmp_path / "b.csv", "text")
    (tmp_path / "c.jsonl").write_text('{"text": "x", "id": 3}\n"plain string"\n')
    assert read_texts(tmp_path / "c.jsonl")[0] == ["x", "plain string"]
    (tmp_path / "d.jsonl").write_text('{"text": "x"}\n{broken\n')
    with pytest.raises(InputFileError, match="line 2"):
        read_texts(tmp_path / "d.jsonl")
    with pytest.raises(InputFileError, match="unsupported input format"):
        read_texts(tmp_path / "e.xlsx")


def test_predict_file_csv_and_cancel(bundle, tmp_path):
    predictor = Predictor.load(bundle, threads=1)
    src = tmp_path / "in.txt"
    src.write_text("\n".join(f"where is my order {i}" for i in range(40)) + "\n")
    out = tmp_path / "out.csv"
    assert predict_file(predictor, src, out, batch_size=8) == 40
    import csv

    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 40 and rows[3]["text"] == "where is my order 3"
    assert rows[0]["label"] in LABELS
    assert {f"p_{n}" for n in LABELS} <= set(rows[0])
    out2 = tmp_path / "cancelled.jsonl"
    with pytest.raises(Cancelled):
        predict_file(predictor, src, out2, batch_size=8, should_stop=lambda: True)
    assert not out2.exists() and not (tmp_path / "cancelled.jsonl.partial").exists()
    with pytest.raises(InputFileError, match="unsupported output format"):
        predict_file(predictor, src, tmp_path / "out.xlsx")


def test_missing_bundle_and_missing_files(broken, tmp_path):
    with pytest.raises(BundleError, match="does not exist"):
        Predictor.load(tmp_path / "nowhere")
    (broken / "tokenizer.json").unlink()
    with pytest.raises(BundleError, match="tokenizer.json is missing"):
        Predictor.load(broken)
    (broken / "model.onnx").unlink()
    (broken / "bundle.json").unlink()
    with pytest.raises(BundleError, match="bundle.json is missing"):
        Predictor.load(broken)


def test_missing_model_file(broken):
    (broken / "model.onnx").unlink()
    with pytest.raises(BundleError, match="model.onnx is missing"):
        Predictor.load(broken)


def test_corrupt_onnx(broken):
    data = (broken / "model.onnx").read_bytes()
    (broken / "model.onnx").write_bytes(data[: len(data) // 3])
    with pytest.raises(BundleError, match="not a valid ONNX model"):
        Predictor.load(broken)
    (broken / "model.onnx").write_bytes(b"this is not onnx")
    with pytest.raises(BundleError, match="not a valid ONNX model"):
        Predictor.load(broken)


def test_label_map_not_matching_model_outputs(broken):
    config = json.loads((broken / "bundle.json").read_text())
    config["labels"] = ["only", "two"]
    (broken / "bundle.json").write_text(json.dumps(config))
    with pytest.raises(BundleError, match="lists 2 labels but model.onnx outputs 3 scores"):
        Predictor.load(broken)


def test_damaged_config_and_tokenizer(broken):
    (broken / "tokenizer.json").write_text("{not json")
    with pytest.raises(BundleError, match="tokenizer.json is damaged"):
        Predictor.load(broken)
    (broken / "bundle.json").write_text("[1, 2")
    with pytest.raises(BundleError, match="bundle.json is damaged"):
        Predictor.load(broken)


def test_bundle_errors_are_workbench_errors(tmp_path):
    # Inside Workbench the CLI and GUI show them as ordinary one-line messages.
    assert issubclass(BundleError, WorkbenchError)
    assert issubclass(InputFileError, WorkbenchError)


def test_model_from_a_newer_onnxruntime_says_so(broken):
    config = json.loads((broken / "bundle.json").read_text())
    assert config["onnxruntime_version"]  # recorded at export
    config["onnxruntime_version"] = "99.0.0"
    (broken / "bundle.json").write_text(json.dumps(config))
    (broken / "model.onnx").write_bytes(b"an operator this onnxruntime does not know")
    with pytest.raises(BundleError, match="written for onnxruntime 99.0.0 .* upgrade onnxruntime"):
        Predictor.load(broken)


# ---------------------------------------------------------------- issue 11: hostile bundles
def _set(**values):
    def change(bundle, _outside):
        config = json.loads((bundle / "bundle.json").read_text())
        config.update(values)
        (bundle / "bundle.json").write_text(json.dumps(config))
    return change


def _model_file_outside(bundle, outside):
    (bundle.parent / "other").mkdir()
    shutil.copyfile(bundle / "model.onnx", bundle.parent / "other" / "model.onnx")
    _set(model_file="../other/model.onnx")(bundle, outside)


def _model_file_absolute(bundle, outside):
    shutil.copyfile(bundle / "model.onnx", outside / "model.onnx")
    _set(model_file=str(outside / "model.onnx"))(bundle, outside)


def _symlink(name):
    def change(bundle, outside):
        shutil.copyfile(bundle / name, outside / name)
        (bundle / name).unlink()
        (bundle / name).symlink_to(outside / name)
    return change


#: (case id, change, words the one-line message must contain)
HOSTILE_BUNDLES = [
    ("multi_label_string", _set(multi_label="no"), "multi_label"),
    ("max_length_text", _set(max_length="abc"), "max_length"),
    ("max_length_negative", _set(max_length=-5), "max_length"),
    ("max_length_bool", _set(max_length=True), "max_length"),
    ("pad_id_text", _set(pad_id="x"), "pad_id"),
    ("thresholds_text", _set(thresholds=["x", "y", "z"]), "thresholds"),
    ("thresholds_out_of_range", _set(thresholds=[0.5, 2, 0.5]), "thresholds"),
    ("model_file_number", _set(model_file=5), "model_file"),
    ("model_file_parent", _model_file_outside, "../other/model.onnx' points outside"),
    ("model_file_absolute", _model_file_absolute, "points outside"),
    ("model_file_etc_passwd", _set(model_file="/etc/passwd"), "/etc/passwd' points outside"),
    ("fp32_model_file_parent", _set(fp32_model_file="../x.onnx"), "fp32_model_file"),
    ("labels_not_strings", _set(labels=[1, 2, 3]), "labels"),
    ("config_is_a_list", lambda b, o: (b / "bundle.json").write_text("[1, 2]"), "bundle.json"),
    ("tokenizer_symlink_outside", _symlink("tokenizer.json"), "tokenizer.json' points outside"),
    ("model_symlink_outside", _symlink("model.onnx"), "model.onnx' points outside"),
]


@pytest.mark.parametrize("case,change,words", HOSTILE_BUNDLES, ids=[c[0] for c in HOSTILE_BUNDLES])
def test_hostile_bundle_is_one_clear_error(broken, tmp_path, case, change, words):
    from deploy_fixtures import BLOCKED_RUNNER

    outside = tmp_path / "outside"
    outside.mkdir()
    change(broken, outside)
    with pytest.raises(BundleError) as exc:
        Predictor.load(broken)
    assert "\n" not in str(exc.value) and words in str(exc.value), str(exc.value)

    # The bundle's own predict.py (standalone: no Workbench, no torch) refuses it the same way.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    cmd = [sys.executable, "-I", "-c", BLOCKED_RUNNER, str(broken / "predict.py"), "some text"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert out.returncode not in (0, 99), out.stdout + out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], out.stderr


def test_bundle_with_valid_optional_values_loads(broken):
    _set(multi_label=False, pad_id=None, thresholds=None, max_length=32)(broken, None)
    assert Predictor.load(broken).max_length == 32
