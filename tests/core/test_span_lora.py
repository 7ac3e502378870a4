"""Entity (span) models trained with method 'lora': adapters + the token-classification
head trained in the worker thread, only those saved, merged before the ONNX export; the
bundle predicts without torch/peft and matches the merged PyTorch model. Methods that
classify whole texts are refused on a span project in one line, nothing written."""
from __future__ import annotations

import json

import numpy as np
import pytest
from deploy_fixtures import BLOCKED_RUNNER, run_copied_bundle
from worker_threads import in_worker as _in_worker

from workbench.core.errors import WorkbenchError
from workbench.core.spans.span_demo import SpanDemoConfig, create_span_demo_job
from workbench.core.spans.span_methods import choose_span_method
from workbench.core.store.project import Project
from workbench.core.training import TrainConfig, list_runs, train_job, train_project

pytest.importorskip("peft")

TEXTS = ["Started metformin 500 mg twice daily for type 2 diabetes.",
         "Continue lisinopril 10 mg daily for HTN; aspirin 81 mg at bedtime."]
#: The bundle's runner with peft blocked as well (it needs torch anyway).
RUNNER = BLOCKED_RUNNER.replace("'workbench')", "'workbench', 'peft')")


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    yield




def test_span_lora_stores_adapters_and_the_bundle_matches_the_merged_model(tmp_path, tiny_base_model):
    import torch
    from safetensors.torch import load_file

    from workbench.core.deploy.inference import FP32_MODEL_FILE, Predictor
    from workbench.core.deploy.onnx_export import export_run
    from workbench.core.deploy.span_runtime import encode_windows
    from workbench.core.spans.span_evaluate import load_span_model
    from workbench.core.spans.span_predict import torch_spans, torch_window_logits
    from workbench.core.training.methods import lora_folder

    path = tmp_path / "notes.wbproj"
    create_span_demo_job(path, SpanDemoConfig(prelabelled=30))
    events = []
    # A small step keeps the tiny model tagging words (at LoRA's automatic 1e-3 it learns
    # to say "O" everywhere), so the spans below are compared with something in them.
    config = TrainConfig(base_model=str(tiny_base_model), method="lora", threads=1, epochs=2,
                         max_length=32, batch_size=8, learning_rate=1e-4)
    result = _in_worker(train_job, path, config, progress=events.append)
    assert result.status == "completed" and result.metrics["task"] == "spans"
    method = result.metrics["method"]
    assert method["chosen"] == "lora" and method["sentence"].startswith("Method: LoRA (rank-8 adapters on query, value")
    assert any("LoRA: training" in (e.message or "") for e in events)
    folder = result.model_path
    assert lora_folder.is_lora_folder(folder)
    assert json.loads((folder / "config.json").read_text())["head"] == "token"
    assert json.loads((folder / "workbench_run.json").read_text())["method"] == "lora"
    # Adapters and the token head only: no base weight in the checkpoint, and far smaller.
    state = load_file(str(folder / "model.safetensors"))
    assert state and all(".lora_A." in k or ".lora_B." in k or ".classifier." in k for k in state)
    assert any(float(v.abs().max()) > 0 for k, v in state.items() if ".lora_B." in k)  # trained (init 0)
    assert (folder / "model.safetensors").stat().st_size < (tiny_base_model / "model.safetensors").stat().st_size / 2
    with Project.open(path) as project:
        run = list_runs(project)[0]
    lora_info = run["config"]["effective"]["lora"]
    assert 0 < lora_info["trainable_params"] < lora_info["all_params"]

    report = export_run(path, result.run_id, out_dir=tmp_path / "bundle")
    assert report.parity_ok and report.quantized
    merged, tokenizer, info = load_span_model(folder)
    assert type(merged).__name__ == "BertForTokenClassification"
    assert not any("lora" in name for name, _p in merged.named_parameters())  # merged, no peft inside
    # The fp32 bundle's token logits and spans are the merged model's.
    fp32 = Predictor.load(report.bundle_dir, model_file=FP32_MODEL_FILE)
    windows = encode_windows(fp32.tokenizer, TEXTS, fp32.max_length, fp32.config["stride"])
    want = torch_window_logits(merged, windows, pad_id=int(tokenizer.pad_token_id or 0))
    for w, ref in zip(windows, want, strict=True):
        feeds = {"input_ids": [w.ids], "attention_mask": [[1] * len(w.ids)], "token_type_ids": [w.type_ids]}
        got = fp32.session.run(["logits"], {k: np.asarray(v, dtype=np.int64) for k, v in feeds.items()
                                            if k in fp32.input_names})[0][0]
        np.testing.assert_allclose(got, ref, atol=1e-4)
    with torch.no_grad():
        torch_pred = torch_spans(merged, tokenizer, TEXTS, info["tags"], max_length=int(info["max_length"]),
                                 stride=info.get("stride"), alignment=info.get("alignment", "first"))
    bundle_pred = fp32.predict(TEXTS)
    assert [[(s["start"], s["end"], s["label"]) for s in r["spans"]] for r in bundle_pred] == [
        [(s.start, s.end, s.label) for s, _p in spans] for spans, _u in torch_pred]
    assert any(r["spans"] for r in bundle_pred), "the seeded tiny model tags words: spans get compared"
    # The int8 bundle's own predict.py with torch, transformers, peft and workbench blocked.
    rows = run_copied_bundle(report.bundle_dir, tmp_path, TEXTS, RUNNER)
    expected = Predictor.load(report.bundle_dir).predict(TEXTS)
    assert [r["spans"] for r in rows] == [[{**s, "score": pytest.approx(s["score"], abs=1e-5)} for s in e["spans"]]
                                          for e in expected]


@pytest.mark.parametrize("method", ["setfit", "linear"])
def test_whole_text_methods_are_refused_on_a_span_project(method, tmp_path, tiny_base_model):
    path = tmp_path / "refuse.wbproj"
    create_span_demo_job(path, SpanDemoConfig(prelabelled=12))
    before = path.read_bytes()
    config = TrainConfig(base_model=str(tiny_base_model), method=method, threads=1, epochs=1)
    with pytest.raises(WorkbenchError) as err:
        train_project(path, config)
    message = str(err.value)
    assert "\n" not in message and f"'{method}'" in message and "'lora'" in message and "span project" in message
    assert path.read_bytes() == before  # no run row, no split written
    with Project.open(path) as project:
        assert list_runs(project) == []


def test_auto_on_span_projects_fine_tunes_small_models_and_uses_lora_for_larger_ones():
    assert choose_span_method("auto", "small")["chosen"] == "finetune"
    assert choose_span_method("auto", "base")["chosen"] == "lora"  # peft is installed here
    assert choose_span_method("auto", "large")["chosen"] == "lora"
    assert choose_span_method("finetune", "large")["chosen"] == "finetune"
    assert choose_span_method("lora", "small") == {"requested": "lora", "chosen": "lora",
                                                   "reason": "chosen in the settings"}


def test_cancelled_span_lora_run_keeps_the_best_adapters(tmp_path, tiny_base_model):
    from workbench.core.errors import Cancelled
    from workbench.core.spans.span_evaluate import evaluate_span_run
    from workbench.core.training.methods import lora_folder

    path = tmp_path / "cancel.wbproj"
    create_span_demo_job(path, SpanDemoConfig(prelabelled=16))
    evaluated: list = []

    def seen(event) -> None:
        if event.phase == "evaluate" and event.val_metrics:
            evaluated.append(event)

    config = TrainConfig(base_model=str(tiny_base_model), method="lora", threads=1, epochs=3,
                         max_length=32, batch_size=8, early_stopping_patience=0)
    with pytest.raises(Cancelled) as err:  # cancelled in epoch 2, after the first evaluation
        _in_worker(train_job, path, config, progress=seen, should_stop=lambda: bool(evaluated))
    result = err.value.result
    assert result.status == "cancelled" and result.metrics["best_epoch"] == 1
    assert lora_folder.is_lora_folder(result.model_path)
    assert evaluate_span_run(path, result.run_id)["n"] > 0  # the kept adapters load, merged
