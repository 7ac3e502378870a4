"""Long records: overlapping windows with pooled logits in training, evaluation, the
export's parity check, the bundle (predict.py without torch) and the app's Predictor;
the automatic choice and the setting that forces it."""
from __future__ import annotations

import json
import random
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from deploy_fixtures import run_copied_bundle

from workbench.core.data.importer import add_texts
from workbench.core.deploy.inference import Predictor
from workbench.core.deploy.onnx_export import export_run
from workbench.core.deploy.span_runtime import pool_logits, pooled_window_logits
from workbench.core.errors import WorkbenchError
from workbench.core.store.project import Project
from workbench.core.training import TrainConfig, evaluate_run, train_project
from workbench.core.training.evaluate import predict_proba
from workbench.core.training.long_records import (
    LONG_SHARE,
    choose_windows,
    plan_windows,
    torch_window_logits,
)

KEYWORDS = {
    "billing": ["refund", "money", "charge", "card", "payment", "bill", "invoice"],
    "delivery": ["delivery", "shipping", "package", "late", "arrived", "broken", "damaged"],
}
FILLER = "the a my your is was it this that please help very not can cannot".split()
MAX_LENGTH = 32


def long_text(label: str, rng: random.Random, filler_words: int = 45) -> str:
    """Neutral filler first; the words that decide the label only at the very end."""
    head = " ".join(rng.choice(FILLER) for _ in range(filler_words))
    return head + " " + " ".join(rng.sample(KEYWORDS[label], 4))


def make_long_project(path: Path, per_label: int = 30, seed: int = 0) -> Path:
    rng = random.Random(seed)
    project = Project.create(path, list(KEYWORDS))
    with project:
        for label in KEYWORDS:
            ids = add_texts(project, [long_text(label, rng) for _ in range(per_label)])
            for rid in ids:
                project.annotate(rid, [label])
    return path


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    yield


def _config(tiny, **kw) -> TrainConfig:
    kw.setdefault("epochs", 15)
    kw.setdefault("batch_size", 8)
    return TrainConfig(method="finetune", base_model=str(tiny), threads=1, max_length=MAX_LENGTH,
                       learning_rate=1e-3, early_stopping_patience=0, **kw)


def test_choice_rule_and_pooling():
    assert choose_windows("auto", 21, 100, 128)[0] is True  # more than 20 %
    assert choose_windows("auto", 20, 100, 128)[0] is False
    assert LONG_SHARE == 0.2
    assert choose_windows("windows", 0, 100, 128)[0] is True
    assert choose_windows("truncate", 100, 100, 128)[0] is False
    assert "100 of 100" in choose_windows("truncate", 100, 100, 128)[1]
    logits = np.array([[1.0, 0.0], [3.0, -2.0], [0.5, 0.5], [-1.0, 4.0]], dtype=np.float32)
    owner = [0, 0, 1, 1]
    np.testing.assert_allclose(pool_logits(logits, owner, "mean"), [[2.0, -1.0], [-0.25, 2.25]])
    np.testing.assert_allclose(pool_logits(logits, owner, "max"), [[3.0, 0.0], [0.5, 4.0]])
    with pytest.raises(WorkbenchError, match="must be one of"):
        TrainConfig(long_records="sometimes").validate()


def test_automatic_choice_counts_long_training_records(tiny_base_model):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_base_model))
    rng = random.Random(1)
    short = ["please help my card"] * 8
    notes: list[str] = []

    def plan(texts, setting):
        job = SimpleNamespace(config=TrainConfig(long_records=setting), max_length=MAX_LENGTH,
                              emit=lambda e: notes.append(e.message))
        plan_windows(job, tok, texts, MAX_LENGTH)
        return job

    few = plan(short + [long_text("billing", rng)], "auto")  # 1 of 9 long: cut
    assert few.windows is None and few.train_windows is None
    assert few.long_records["long"] == 1 and not few.long_records["windows"]
    many = plan(short[:6] + [long_text("billing", rng) for _ in range(3)], "auto")  # 3 of 9
    assert many.windows == {"stride": MAX_LENGTH // 4, "pooling": "max"}  # the default
    assert [len(w) for w in many.train_windows[:6]] == [1] * 6
    assert all(len(w) >= 3 and all(len(x) <= MAX_LENGTH for x in w) for w in many.train_windows[6:])
    assert plan(short, "windows").windows is not None  # forced on
    assert plan([long_text("billing", rng)] * 9, "truncate").windows is None  # forced off
    assert any("read in overlapping windows" in n for n in notes)


def test_label_at_the_end_is_learned_from_windows_and_bundle_agrees(tmp_path, tiny_base_model):
    path = make_long_project(tmp_path / "p.wbproj")
    # auto: every record is long. Mean pooling (the setting): on this tiny random model max
    # pooling learns too slowly for a short test; it is checked for parity below.
    result = train_project(path, _config(tiny_base_model, window_pooling="mean"))
    assert result.status == "completed"
    long_info = result.metrics["long_records"]
    assert long_info["windows"] is True and long_info["long"] == long_info["records"]
    run_info = json.loads((result.model_path / "workbench_run.json").read_text())
    assert run_info["windows"] == {"stride": MAX_LENGTH // 4, "pooling": "mean"}
    # The deciding words lie past the first window: the run learned them from windows.
    assert result.metrics["macro_f1"] >= 0.9
    # Evaluating the saved run reads the same windows as the run's own test evaluation.
    again = evaluate_run(path)
    assert again["macro_f1"] == pytest.approx(result.metrics["macro_f1"])
    # The same model reading only the first window sees filler: no better than chance.
    from workbench.core.training.evaluate import load_run_model

    model, tok, _ = load_run_model(result.model_path)
    rng = random.Random(7)
    texts = [long_text(label, rng) for label in KEYWORDS for _ in range(10)]
    gold = np.repeat([0, 1], 10)
    head_only = predict_proba(model, tok, texts, max_length=MAX_LENGTH, multi_label=False)
    windowed = predict_proba(model, tok, texts, max_length=MAX_LENGTH, multi_label=False,
                             windows=run_info["windows"])
    assert (windowed.argmax(1) == gold).mean() >= 0.8
    assert (head_only.argmax(1) == gold).mean() <= 0.65

    # The bundle records the windows; its parity check compared pooled logits with torch.
    report = export_run(path, out_dir=tmp_path / "bundle")
    bundle = json.loads((tmp_path / "bundle" / "bundle.json").read_text())
    assert bundle["windows"] == run_info["windows"] and report.parity_ok
    assert "read in windows of 32 tokens" in (tmp_path / "bundle" / "model_card.md").read_text()
    fp32 = Predictor.load(tmp_path / "bundle", model_file="model.fp32.onnx")
    reference = torch_window_logits(model, tok, texts, max_length=MAX_LENGTH, windows=run_info["windows"])
    np.testing.assert_allclose(fp32.predict_logits(texts), reference, atol=1e-4)
    as_max = {**run_info["windows"], "pooling": "max"}
    fp32.config = {**fp32.config, "windows": as_max}
    np.testing.assert_allclose(
        fp32.predict_logits(texts),
        torch_window_logits(model, tok, texts, max_length=MAX_LENGTH, windows=as_max), atol=1e-4)
    app = Predictor.load(tmp_path / "bundle")  # the app's inference (int8, as deployed)
    app_labels = [r["label"] for r in app.predict(texts)]
    assert sum(a == list(KEYWORDS)[g] for a, g in zip(app_labels, gold, strict=True)) >= 16
    standalone = run_copied_bundle(tmp_path / "bundle", tmp_path, texts[:4] + texts[-4:])
    assert [r["label"] for r in standalone] == app_labels[:4] + app_labels[-4:]
    # A damaged windows entry is one clear message.
    app.config = {**app.config, "windows": {"stride": 999, "pooling": "max"}}
    with pytest.raises(WorkbenchError, match="'windows' in bundle.json"):
        pooled_window_logits(app, texts[:1])


def test_truncate_setting_is_respected(tmp_path, tiny_base_model):
    path = make_long_project(tmp_path / "p.wbproj", per_label=12)
    result = train_project(path, _config(tiny_base_model, long_records="truncate", epochs=1, max_steps=2))
    assert result.status == "completed"
    assert result.metrics["long_records"]["windows"] is False
    info = result.metrics["long_records"]
    assert info["long"] == info["records"] > 0  # training records only
    assert json.loads((result.model_path / "workbench_run.json").read_text())["windows"] is None
