"""Compression of a finished run: vocabulary trimming, distillation, pruning (tiny BERT).

Each derived model is a new run with its parent recorded, exported to a bundle and run
from the bundle with torch, transformers and workbench blocked.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from deploy_fixtures import BLOCKED_RUNNER, LABELS, make_project_with_run

from workbench.core.compress.distill import DistillConfig, distill_job
from workbench.core.compress.trim import TrimConfig, trim_job
from workbench.core.deploy.inference import Predictor
from workbench.core.deploy.onnx_export import export_run
from workbench.core.errors import Cancelled, WorkbenchError
from workbench.core.store.project import Project
from workbench.core.training.runs import get_run

TEXTS_NOT_IN_PROJECT = ["the app login crashes my order", "zzzq refund", "payment ☃ broken"]


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    torch.set_num_threads(1)


@pytest.fixture
def project(tmp_path, tiny_base_model):
    return make_project_with_run(tiny_base_model, tmp_path, unlabelled=6)


def _texts(path) -> list[str]:
    with Project.open(path) as p:
        return [r[0] for r in p.db.execute("SELECT text FROM records ORDER BY id")]


def _run_bundle_without_torch(bundle, tmp_path, texts) -> list[dict]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    cmd = [sys.executable, "-I", "-c", BLOCKED_RUNNER, str(bundle / "predict.py"), "--json", *texts]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _run_folders(path):
    return sorted(p.name for p in path.with_name(path.stem + ".models").iterdir() if p.name != "exports")


def test_trimmed_vocabulary_gives_identical_logits_and_runs_from_the_bundle(project, tmp_path):
    from tokenizers import Tokenizer

    from workbench.core.deploy import convert, verify

    result = trim_job(project, TrimConfig(run=1))
    assert result.parent_run == 1 and result.method == "trim"
    details = result.details
    assert details["vocab_after"] < details["vocab_before"]
    with Project.open(project) as p:
        run = get_run(p, result.run_id)
    assert run["config"]["parent_run"] == 1 and run["config"]["compression"]["method"] == "trim"

    texts = _texts(project)
    old_model, old_tok = convert.load_classifier(project.with_name("support.models") / "run-1")
    new_model, new_tok = convert.load_classifier(result.model_path)
    assert new_model.config.vocab_size == details["vocab_after"]
    assert new_model.get_input_embeddings().weight.shape[0] == details["vocab_after"]
    before = verify.torch_logits(old_model, old_tok, texts, 64)
    after = verify.torch_logits(new_model, new_tok, texts, 64)
    np.testing.assert_array_equal(before, after)

    # Unseen words: [UNK] exactly where the original tokenizer gives it, otherwise word pieces.
    old = Tokenizer.from_file(str(project.with_name("support.models") / "run-1" / "tokenizer.json"))
    new = Tokenizer.from_file(str(result.model_path / "tokenizer.json"))
    for text in TEXTS_NOT_IN_PROJECT:
        a, b = old.encode(text), new.encode(text)
        assert ("[UNK]" in b.tokens) == ("[UNK]" in a.tokens), text
        assert "".join(t.removeprefix("##") for t in b.tokens) == "".join(t.removeprefix("##") for t in a.tokens)

    parent_bundle = export_run(project, run=1, out_dir=tmp_path / "b1").bundle_dir
    trimmed = export_run(project, run=result.run_id, out_dir=tmp_path / "b2")
    assert trimmed.sizes_bytes["fp32"] < (parent_bundle / "model.fp32.onnx").stat().st_size
    want = Predictor.load(parent_bundle).predict(texts)
    got = _run_bundle_without_torch(trimmed.bundle_dir, tmp_path, texts)
    assert [r["label"] for r in got] == [r["label"] for r in want]


def test_trim_refuses_a_run_without_model_and_leaves_the_project_unchanged(project):
    before = _run_folders(project)
    with pytest.raises(WorkbenchError, match="Run 7 does not exist"):
        trim_job(project, TrimConfig(run=7))
    assert _run_folders(project) == before


def test_distilled_student_learns_from_labelled_and_unlabelled_records(project, tmp_path):
    seen = []
    result = distill_job(project, DistillConfig(run=1, student="layers=1;hidden=16", epochs=2, batch_size=4),
                         progress=seen.append)
    d = result.details
    assert d["labelled_texts"] == 6 and d["unlabelled_texts"] == 6
    assert d["student_params"] < d["teacher_params"]
    assert d["plan"] == {"layers": [1], "hidden": 16, "ffn": 32, "heads": 1}
    assert any(e.phase == "distill" and e.total and e.done == e.total for e in seen)
    with Project.open(project) as p:
        run = get_run(p, result.run_id)
        n_pred = p.db.execute("SELECT COUNT(*) FROM predictions WHERE run_id = ?", [result.run_id]).fetchone()[0]
    assert run["status"] == "completed" and run["kind"] == "train"
    assert run["config"]["parent_run"] == 1 and run["config"]["compression"]["method"] == "distill"
    assert run["metrics"]["macro_f1"] is not None and n_pred == 6
    info = json.loads((result.model_path / "workbench_run.json").read_text())
    assert info["run_id"] == result.run_id and info["parent_run"] == 1 and info["labels"] == LABELS

    report = export_run(project, run=result.run_id, out_dir=tmp_path / "student")
    texts = ["where is my order", "refund the charge"]
    got = _run_bundle_without_torch(report.bundle_dir, tmp_path, texts)
    want = Predictor.load(report.bundle_dir).predict(texts)
    assert [r["label"] for r in got] == [r["label"] for r in want]


def test_cancelled_distillation_leaves_no_run_and_no_folder(project):
    before = _run_folders(project)
    events = []

    def stop() -> bool:
        return len([e for e in events if e.phase == "distill" and e.done]) >= 2

    with pytest.raises(Cancelled):
        distill_job(project, DistillConfig(run=1, student="layers=1", epochs=3, batch_size=2),
                    progress=events.append, should_stop=stop)
    assert len([e for e in events if e.phase == "distill" and e.done]) == 2
    assert _run_folders(project) == before
    with Project.open(project) as p:
        assert p.db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1


@pytest.mark.parametrize("spec, message", [
    ("layers=9", "layers must be 1 to 2"),
    ("hidden=20", "multiple of 16"),
    ("depth=2", "Unknown student setting"),
])
def test_bad_student_spec_is_one_clear_message(project, spec, message):
    before = _run_folders(project)
    with pytest.raises(WorkbenchError, match=message):
        distill_job(project, DistillConfig(run=1, student=spec))
    assert _run_folders(project) == before


def test_pruned_model_is_smaller_dense_and_runs_from_the_bundle(project, tmp_path):
    from workbench.core.compress.prune import PruneConfig, prune_job
    from workbench.core.training.evaluate import load_run_model

    result = prune_job(project, PruneConfig(run=1, heads=0.5, ffn=0.5, epochs=1, batch_size=4))
    d = result.details
    assert (d["heads_per_layer"], d["heads_before"], d["ffn_per_layer"], d["ffn_before"]) == (1, 2, 32, 64)
    assert d["student_params"] < d["teacher_params"]
    model, _tok, info = load_run_model(result.model_path)  # the training side loads it too
    layer = model.base_model.encoder.layer[0]
    assert tuple(layer.attention.self.query.weight.shape) == (16, 32)  # one head of width 16
    assert tuple(layer.intermediate.dense.weight.shape) == (32, 32)
    assert info["parent_run"] == 1
    with Project.open(project) as p:
        assert get_run(p, result.run_id)["config"]["compression"]["method"] == "prune"

    report = export_run(project, run=result.run_id, out_dir=tmp_path / "pruned")
    assert report.parity_ok
    parent = export_run(project, run=1, out_dir=tmp_path / "parent")
    assert report.sizes_bytes["fp32"] < parent.sizes_bytes["fp32"]
    texts = ["my card payment failed", "the app crashes"]
    got = _run_bundle_without_torch(report.bundle_dir, tmp_path, texts)
    assert [r["label"] for r in got] == [r["label"] for r in Predictor.load(report.bundle_dir).predict(texts)]

    # The pruned run as the base of a further training run: its narrowed attention is kept.
    from workbench.core.training import TrainConfig, train_project

    again = train_project(project, TrainConfig(base_model=str(result.model_path), method="finetune", epochs=1,
                                               batch_size=4, threads=1, max_length=32))
    assert again.status == "completed"
    model, _tok, _info = load_run_model(again.model_path)
    assert tuple(model.base_model.encoder.layer[0].attention.self.query.weight.shape) == (16, 32)
    retrained = model.base_model.encoder.layer[0].intermediate.dense.weight
    assert tuple(retrained.shape) == (32, 32)


def test_prune_refuses_nothing_to_prune(project):
    from workbench.core.compress.prune import PruneConfig, prune_job

    with pytest.raises(WorkbenchError, match="Nothing to prune"):
        prune_job(project, PruneConfig(run=1, heads=0.0, ffn=0.0))
