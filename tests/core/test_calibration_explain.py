"""Calibrated confidence and word explanations, the same in the app and in a bundle's
predict.py (run without torch or Workbench)."""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from deploy_fixtures import BLOCKED_RUNNER, LABELS, make_classifier

from workbench.core.deploy.explain import explain, top_words
from workbench.core.deploy.inference import Predictor, predict_file
from workbench.core.deploy.onnx_export import export_model
from workbench.core.training.calibration import (
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
    scale_thresholds,
)

TEMPERATURE = 2.5


def test_temperature_scaling_recovers_overconfidence():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0.0, 1.5, size=(2000, 4))
    y = np.array([rng.choice(4, p=p) for p in apply_temperature(true_logits, 1.0, False)])
    shown = true_logits * 3.0  # a model three times too sure of itself
    t = fit_temperature(shown, y)
    assert t == pytest.approx(3.0, rel=0.15)
    before = expected_calibration_error(apply_temperature(shown, 1.0, False), y)
    after = expected_calibration_error(apply_temperature(shown, t, False), y)
    assert before > 0.1 and after < 0.05
    assert fit_temperature(shown[:3], y[:3]) == 1.0  # too few examples: unchanged
    # Multi-label thresholds move with the temperature: the same decisions.
    th = scale_thresholds([0.5, 0.8], 2.0)
    assert th[0] == pytest.approx(0.5) and 0.5 < th[1] < 0.8


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, tiny_base_model):
    import torch

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("calibrated")
    model_dir = make_classifier(tiny_base_model, root / "model")
    info = json.loads((model_dir / "workbench_run.json").read_text())
    info["temperature"] = TEMPERATURE  # as a training run writes it (calibration.py)
    (model_dir / "workbench_run.json").write_text(json.dumps(info))
    results = {"accuracy": 0.9, "n": 30, "calibration": {
        "method": "temperature scaling (fitted on validation)", "temperature": TEMPERATURE,
        "ece_before": 0.21, "ece_after": 0.04, "test_examples": 30}}
    report = export_model(model_dir, root / "bundle", training={
        "labelled": 40, "by_split": {}, "train_examples": 30, "train_by_label": {},
        "results": results})
    return report


def test_bundle_applies_the_temperature_like_the_app(bundle, tmp_path):
    config = json.loads((bundle.bundle_dir / "bundle.json").read_text())
    assert config["temperature"] == TEMPERATURE
    card = (bundle.bundle_dir / "model_card.md").read_text()
    assert card.index("## In plain words") < card.index("## Details")
    assert "The model gets about 9 in 10 texts right" in card
    assert "0.210 before, 0.040 after" in card
    app = Predictor.load(bundle.bundle_dir)
    texts = ["I was charged twice for my subscription", "the app crashes on login"]
    logits = app.predict_logits(texts)
    calibrated = app.predict_proba(texts)
    np.testing.assert_allclose(calibrated, apply_temperature(logits, TEMPERATURE, False), atol=1e-5)
    assert not np.allclose(calibrated, apply_temperature(logits, 1.0, False), atol=1e-3)

    copied = tmp_path / "bundle"
    shutil.copytree(bundle.bundle_dir, copied)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    cmd = [sys.executable, "-I", "-c", BLOCKED_RUNNER, str(copied / "predict.py"),
           "--json", "--explain", *texts]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    results = json.loads(out.stdout)
    for row, res in zip(calibrated, results, strict=True):
        assert [res["probs"][n] for n in LABELS] == pytest.approx(list(row), abs=1e-6)
        spans = res["explanation"]
        text = res["text"]
        words = [text[e["start"]:e["end"]] for e in spans]
        assert words == text.split()  # one weight per word, character offsets into the text
        assert all(isinstance(e["weight"], float) for e in spans)
    # The app's explanation is the bundle's.
    label, mine = explain(app, texts[0])
    assert label == results[0]["label"]
    assert [e["weight"] for e in mine] == pytest.approx(
        [e["weight"] for e in results[0]["explanation"]], abs=1e-6)
    assert all(w in texts[0] for w in top_words(texts[0], mine))
    # The thorough method (full occlusion) from the command line is the app's too.
    cmd = [*cmd[:-2], "--explain-method", "thorough", texts[0]]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    thorough = json.loads(out.stdout)[0]["explanation"]
    assert [e["weight"] for e in thorough] == pytest.approx(
        [e["weight"] for e in explain(app, texts[0], method="thorough")[1]], abs=1e-6)


def test_batch_file_marks_rows_that_need_review(bundle, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("id,text\n1,where is my order\n2,refund please\n3,app bug\n")
    out = tmp_path / "out.csv"
    predictor = Predictor.load(bundle.bundle_dir)
    predict_file(predictor, src, out, review_below=0.99)
    rows = list(csv.DictReader(out.open()))
    assert {r["needs_review"] for r in rows} == {"yes"}
    assert all(r["certainty"] in ("unsure", "possible", "likely", "almost certain") for r in rows)
    predict_file(predictor, src, out, review_below=0.0)
    assert {r["needs_review"] for r in csv.DictReader(out.open())} == {"no"}
