"""LoRA (method 'lora'): adapters trained in the worker-thread loop, only adapters and head
saved, merged into the base model for export; the bundle predicts without torch and
matches the merged PyTorch model; cancel keeps the best adapters; auto's rule."""
from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np
import pytest
from deploy_fixtures import run_copied_bundle
from worker_threads import in_worker as _in_worker

from workbench.core.data.importer import add_texts
from workbench.core.deploy.inference import FP32_MODEL_FILE, Predictor
from workbench.core.deploy.onnx_export import export_run
from workbench.core.errors import Cancelled, WorkbenchError
from workbench.core.store.project import Project
from workbench.core.training import TrainConfig, evaluate_run, list_runs, train_job, train_project
from workbench.core.training.methods import lora, lora_folder

pytest.importorskip("peft")

WORDS = {
    "billing": ["refund", "money", "charge", "card", "payment", "bill", "invoice"],
    "delivery": ["delivery", "shipping", "package", "late", "arrived", "courier", "parcel"],
    "account": ["account", "login", "password", "reset", "username", "email", "profile"],
}
FILLER = "the a my your is was it this that please help very not can cannot".split()
TEXTS = ["refund my money for the card payment", "my parcel arrived late with the courier",
         "reset the password of my account"]


def make_project(path: Path, per_label: int, *, multi_label: bool = False) -> Path:
    rng = random.Random(0)
    labels = list(WORDS)
    with Project.create(path, labels, multi_label=multi_label) as project:
        for k, label in enumerate(labels):
            texts = [" ".join(rng.sample(WORDS[label], 3) + rng.sample(FILLER, 4)) + f" {i}"
                     for i in range(per_label)]
            for j, rid in enumerate(add_texts(project, texts)):
                extra = [labels[(k + 1) % 3]] if multi_label and j % 3 == 0 else []
                project.annotate(rid, [label, *extra])
    return path


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    yield




def _config(base: Path, **kw) -> TrainConfig:
    return TrainConfig(base_model=str(base), method="lora", threads=1, epochs=2, batch_size=8, **kw)


@pytest.mark.parametrize("multi", [False, True], ids=["single", "multi"])
def test_lora_trains_saves_adapters_only_and_the_bundle_matches_the_merged_model(multi, tmp_path, tiny_base_model):
    path = make_project(tmp_path / "p.wbproj", 14, multi_label=multi)
    events = []
    result = _in_worker(train_job, path, _config(tiny_base_model), progress=events.append)
    assert result.status == "completed" and result.metrics["method"]["chosen"] == "lora"
    assert result.metrics["method"]["sentence"].startswith("Method: LoRA (rank-8 adapters on query, value")
    assert any("LoRA: training" in (e.message or "") for e in events)
    assert any(e.phase == "evaluate" and e.val_metrics for e in events)  # validation per epoch
    folder = result.model_path
    # Only adapters and the head are stored: no base weight is in the checkpoint.
    from safetensors.torch import load_file

    state = load_file(str(folder / "model.safetensors"))
    assert state and all(".lora_A." in k or ".lora_B." in k or ".classifier." in k or ".pooler." in k
                         for k in state)
    assert any(".lora_B." in k for k in state) and not any("embeddings" in k for k in state)
    assert any(float(v.abs().max()) > 0 for k, v in state.items() if ".lora_B." in k)  # trained (init 0)
    base_bytes = (tiny_base_model / "model.safetensors").stat().st_size
    assert (folder / "model.safetensors").stat().st_size < base_bytes / 2
    assert json.loads((folder / "config.json").read_text())["model_type"] == "workbench-lora"
    run = list_runs(Project.open(path))[0]
    assert run["config"]["effective"]["lora"]["trainable_params"] < run["config"]["effective"]["lora"]["all_params"]
    assert evaluate_run(path, result.run_id)["n"] > 0  # the torch path loads base + adapters

    # Export merges the adapters: the usual parity, int8 and model card.
    report = export_run(path, result.run_id, out_dir=tmp_path / "bundle")
    assert report.parity_ok and report.quantized
    assert "Method: LoRA" in (report.bundle_dir / "model_card.md").read_text()
    merged, tokenizer = lora_folder.load_merged(folder)
    assert type(merged).__name__ == "BertForSequenceClassification"  # plain model, no peft inside
    import torch

    with torch.no_grad():
        enc = tokenizer(TEXTS, padding=True, return_tensors="pt")
        want = merged(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits.numpy()
    got = Predictor.load(report.bundle_dir, model_file=FP32_MODEL_FILE).predict_logits(TEXTS)
    np.testing.assert_allclose(got, want, atol=1e-4)
    if multi:
        return  # the bundle's runtime without torch: once is enough (single-label)
    # The int8 bundle's predict.py runs with torch, transformers and workbench blocked.
    rows = run_copied_bundle(report.bundle_dir, tmp_path, TEXTS)
    expected = Predictor.load(report.bundle_dir).predict(TEXTS)
    assert [r["label"] for r in rows] == [e["label"] for e in expected]


def test_cancel_keeps_the_best_adapters_and_a_changed_base_is_refused(tmp_path, tiny_base_model):
    path = make_project(tmp_path / "c.wbproj", 12)
    evaluated: list = []

    def seen(event) -> None:
        if event.phase == "evaluate" and event.val_metrics:
            evaluated.append(event)

    with pytest.raises(Cancelled) as err:  # cancelled in epoch 2, after the first evaluation
        _in_worker(train_job, path, _config(tiny_base_model, early_stopping_patience=0),
                   progress=seen, should_stop=lambda: bool(evaluated))
    result = err.value.result
    assert result.status == "cancelled" and result.metrics["best_epoch"] == 1
    assert lora_folder.is_lora_folder(result.model_path)
    assert list_runs(Project.open(path))[0]["status"] == "cancelled"
    assert evaluate_run(path, result.run_id)["n"] > 0
    # The saved adapters load back unmerged and trainable (to train on from them).
    from safetensors.torch import load_file

    wrapped, _tok = lora_folder.load_wrapped(result.model_path, inference=False)
    saved = load_file(str(result.model_path / "model.safetensors"))
    again = lora.adapter_state(wrapped)
    assert set(again) == set(saved) and all(bool((again[k] == saved[k]).all()) for k in saved)
    assert 0 < lora.trainable_counts(wrapped)[0]
    # Adapters applied to other base weights would be garbage: refused in one message.
    cfg_file = result.model_path / "config.json"
    cfg = json.loads(cfg_file.read_text())
    cfg["base_fingerprint"][0][2] = "0" * 16
    cfg_file.write_text(json.dumps(cfg))
    with pytest.raises(WorkbenchError, match="needs its base model, which is not available unchanged"):
        evaluate_run(path, result.run_id)


def test_adapter_state_round_trip_and_bad_tensors(tiny_base_model):
    import torch
    from transformers import AutoModelForSequenceClassification

    def fresh():
        torch.manual_seed(0)
        model = AutoModelForSequenceClassification.from_pretrained(str(tiny_base_model), num_labels=3)
        return lora.wrap(model, lora.lora_settings(model, rank=4, targets="attention"))

    a = fresh()
    trainable, total = lora.trainable_counts(a)
    assert 0 < trainable < total / 2
    assert all(p.requires_grad == (".lora_" in n or "modules_to_save" in n) for n, p in a.named_parameters())
    with torch.no_grad():
        for p in a.parameters():
            if p.requires_grad:
                p.add_(0.05 * torch.randn_like(p))
    state = lora.adapter_state(a)
    assert any(k.endswith("key.lora_A.weight") for k in state)  # 'attention' targets include key
    b = fresh()
    lora.load_adapter_state(b, state)
    ids = torch.tensor([[2, 10, 11, 12, 3]])
    a.eval(), b.eval()
    with torch.no_grad():
        want = a(input_ids=ids).logits
        assert torch.allclose(b(input_ids=ids).logits, want, atol=1e-6)
        merged = lora.merge(b)  # adapters folded into the plain model's weights
        assert not lora.is_wrapped(merged)
        assert torch.allclose(merged(input_ids=ids).logits, want, atol=1e-5)
    c = fresh()
    bad = dict(state)
    bad.pop(next(iter(bad)))
    with pytest.raises(WorkbenchError, match="1 missing"):
        lora.load_adapter_state(c, bad)
    key = next(k for k in state if ".lora_A." in k)
    with pytest.raises(WorkbenchError, match="has shape"):
        lora.load_adapter_state(c, {**state, key: torch.zeros(2, 2)})
    with pytest.raises(WorkbenchError, match="not available for model type 'gpt2'"):
        lora.target_modules("gpt2")
    assert lora.target_modules("distilbert", "query-value") == ["q_lin", "v_lin"]


def test_missing_peft_is_one_message_and_nothing_is_written(tmp_path, tiny_base_model, monkeypatch):
    path = make_project(tmp_path / "m.wbproj", 4)
    monkeypatch.setitem(sys.modules, "peft", None)  # as if not installed
    with pytest.raises(WorkbenchError, match=r'pip install "workbench\[lora\]"'):
        train_project(path, _config(tiny_base_model))
    assert list_runs(Project.open(path)) == []
    assert not lora.peft_available()  # auto then fine-tunes a base-sized model in full


def test_auto_trains_lora_for_a_base_sized_model(tmp_path):
    from tiny_model import make_tiny_base_model

    from workbench.core.training.models import validate_base_model

    base = make_tiny_base_model(tmp_path / "base_sized", hidden=520, layers=1)
    assert validate_base_model(str(base)).size_class == "base" and lora.prefer_lora("base")
    assert not lora.prefer_lora("small")  # the bundled MiniLM stays with full fine-tuning
    path = make_project(tmp_path / "large.wbproj", 170)  # 510 records, 170 per label
    cfg = TrainConfig(base_model=str(base), threads=1, max_steps=2, epochs=1, batch_size=8)
    result = train_project(path, cfg)
    info = result.metrics["method"]
    assert info["requested"] == "auto" and "LoRA for a base-sized model" in info["reason"]
    # LoRA was trained, then compared with TF-IDF and embeddings on validation; the best
    # one is delivered (ties to the cheaper method).
    assert set(info["scores"]) == {"lora", "tfidf", "embeddings"}
    from workbench.core.training.methods import choose

    assert info["chosen"] == choose.pick_winner(info["scores"])
    run = list_runs(Project.open(path))[0]
    assert run["config"]["effective"]["lora"]["settings"]["r"] == 8
    assert lora_folder.is_lora_folder(result.model_path) == (info["chosen"] == "lora")
