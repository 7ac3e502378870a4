"""Variants of a run: CLI listing, measured export of a variant bundle, static vs dynamic
int8, cancel leaving nothing behind (tiny BERT, real ONNX)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from deploy_fixtures import BLOCKED_RUNNER, make_project_with_run

from workbench.cli import main
from workbench.core.compress.distill import DistillConfig, distill_job
from workbench.core.compress.trim import TrimConfig, trim_job
from workbench.core.compress.variant_export import export_variant
from workbench.core.errors import Cancelled


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def family(tmp_path_factory, tiny_base_model):
    """A teacher run 1, its student run 2 and the student's trimmed run 3."""
    path = make_project_with_run(tiny_base_model, tmp_path_factory.mktemp("variants"), unlabelled=6)
    student = distill_job(path, DistillConfig(run=1, student="layers=1", epochs=1, batch_size=4))
    trim_job(path, TrimConfig(run=student.run_id))
    return path


def _exports(path):
    return path.with_name(path.stem + ".models") / "exports"


def test_variants_are_listed_with_parents(family, capsys):
    assert main(["variants", str(family), "--run", "1", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert list(rows) == ["fp32", "int8", "int4", "student", "student-int8", "student-int4", "student-trimmed",
                          "student-trimmed-int8", "student-trimmed-int4"]
    assert rows["student-int4"]["bits"] == 4 and rows["student-int8"]["bits"] == 8
    assert rows["student-int8"]["run_id"] == 2 and rows["student-int8"]["parent_run"] == 1
    assert rows["student-trimmed"]["run_id"] == 3 and rows["student-trimmed"]["parent_run"] == 2
    assert rows["student-trimmed"]["method"] == "trim" and rows["fp32"]["method"] is None


def test_export_variant_records_it_and_runs_without_torch(family, capsys, tmp_path):
    assert main(["export", str(family), "--run", "1", "--variant", "student-trimmed-int8", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    bundle = _exports(family) / "run-1-student-trimmed-int8"
    assert figures["bundle_dir"] == str(bundle.resolve())
    for key in ("size_mb", "b1_p50_ms", "b32_texts_per_s", "macro_f1", "agreement"):
        assert figures[key] is not None, key
    assert figures["int8_method"] in ("dynamic", "static") and figures["int8_why"]
    assert set(figures["int8_trials"]) == {"dynamic", "static"}
    config = json.loads((bundle / "bundle.json").read_text())
    assert config["variant"]["name"] == "student-trimmed-int8"
    assert (config["variant"]["run_id"], config["variant"]["parent_run"], config["variant"]["teacher_run"]) == (3, 2, 1)
    assert config["fp32_model_file"] is None and not (bundle / "model.fp32.onnx").exists()
    assert not (bundle / "model.static.onnx").exists()
    # size is a variant's purpose: no explainer graph, and the bundle figure counts every file
    assert config["explainer_file"] is None and not (bundle / "explainer.onnx").exists()
    total = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file()) / 1e6
    assert figures["size_mb"] < figures["bundle_mb"] <= total
    assert total - figures["bundle_mb"] < 0.01  # (bundle.json / model card completed after measuring)
    assert "Variant: student-trimmed-int8 (run 3, derived from run 2 by trim" in (bundle / "model_card.md").read_text()
    assert not [p.name for p in bundle.parent.iterdir() if p.name.startswith(".")]

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-I", "-c", BLOCKED_RUNNER, str(bundle / "predict.py"), "--json",
                          "where is my order"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)[0]["label"]
    out = subprocess.run([sys.executable, "-I", "-c", BLOCKED_RUNNER, str(bundle / "predict.py"), "--json",
                          "--explain", "where is my order"], capture_output=True, text=True, env=env, cwd=tmp_path,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    words = [("where is my order")[e["start"]:e["end"]] for e in json.loads(out.stdout)[0]["explanation"]]
    assert words == ["where", "is", "my", "order"]  # by occlusion (the thorough method)

    assert main(["variants", str(family), "--run", "1", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["student-trimmed-int8"]["size_mb"] == figures["size_mb"]
    assert rows["student-trimmed-int8"]["bundle_mb"] == figures["bundle_mb"]
    assert rows["fp32"]["size_mb"] is None  # not measured yet


def test_unknown_variant_is_one_message_and_writes_nothing(family, capsys):
    before = sorted(p.name for p in _exports(family).iterdir()) if _exports(family).exists() else []
    assert main(["export", str(family), "--run", "1", "--variant", "huge"]) != 0
    assert "has no variant 'huge'" in capsys.readouterr().err
    after = sorted(p.name for p in _exports(family).iterdir()) if _exports(family).exists() else []
    assert after == before


def test_cancelled_variant_export_leaves_nothing(family, tmp_path):
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 3

    target = tmp_path / "cancelled"
    with pytest.raises(Cancelled):
        export_variant(family, 1, "int8", target, should_stop=stop)
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir()] == []


def test_int4_variant_stores_matrices_at_4_bits_and_reports_agreement(family, tmp_path):
    import onnx

    from workbench.core.deploy.inference import Predictor

    int8 = export_variant(family, 1, "int8", tmp_path / "int8")
    figures = export_variant(family, 1, "int4", tmp_path / "int4", int4_min_agreement=0.5)
    info = figures["int4"]
    assert 0 < info["matrices_4bit"] <= info["matrices"] and info["trials"] >= 1
    assert info["agreement_with_int8"] >= 0.5 and info["check_texts"] > 0
    assert info["position_rows_removed"] > 0, "the position table is cut to the bundle's max length"
    model = onnx.load(str(tmp_path / "int4" / "model.onnx"))
    ops = {n.op_type for n in model.graph.node}
    assert "MatMulNBits" in ops, ops
    assert figures["size_mb"] < int8["size_mb"]
    config = json.loads((tmp_path / "int4" / "bundle.json").read_text())
    assert config["variant"]["bits"] == 4 and config["variant"]["int4"]["matrices_4bit"] == info["matrices_4bit"]
    assert config["fp32_model_file"] is None and not (tmp_path / "int4" / "model.fp32.onnx").exists()
    probs = Predictor.load(tmp_path / "int4").predict_proba(["an example text", "another one"])
    assert probs.shape[0] == 2
    # Identical decisions only: a stricter floor never keeps more matrices.
    strict = export_variant(family, 1, "int4", tmp_path / "strict", int4_min_agreement=1.0)
    assert strict["int4"]["agreement_with_int8"] == 1.0
    assert strict["int4"]["matrices_4bit"] <= info["matrices_4bit"]
