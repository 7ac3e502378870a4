"""Distilling a span (entity) run into a smaller student on token logits, with the tiny
random BERT: a normal span run with its parent recorded, exported as a variant bundle that
runs without torch, and listed with entity F1 in the variants table."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.core.compress.distill import DistillConfig, distill_job
from workbench.core.spans.span_demo import SpanDemoConfig, create_span_demo_job
from workbench.core.store.project import Project
from workbench.core.training.config import TrainConfig
from workbench.core.training.loop import train_project
from workbench.core.training.runs import get_run


@pytest.fixture(scope="module")
def span_teacher(tmp_path_factory, tiny_base_model):
    path = tmp_path_factory.mktemp("span_distill") / "notes.wbproj"
    create_span_demo_job(path, SpanDemoConfig(prelabelled=30))
    result = train_project(path, TrainConfig(base_model=str(tiny_base_model), threads=1, epochs=1,
                                             max_length=32, batch_size=8))
    return path, result


def test_span_student_on_token_logits_exported_and_run_without_torch(span_teacher):
    from workbench.core.compress.variant_export import export_variant
    from workbench.core.compress.variants import list_variants, variant_rows
    from workbench.core.deploy.project_data import unlabelled_records

    path, teacher = span_teacher
    with Project.open(path) as project:
        n_unlabelled = len(unlabelled_records(project))
    assert n_unlabelled > 0, "the demo keeps records without spans: the student learns from them too"
    events = []
    result = distill_job(path, DistillConfig(run=teacher.run_id, student="layers=1", epochs=1, threads=1),
                         progress=events.append)
    d = result.details
    assert d["unlabelled_texts"] == n_unlabelled and d["labelled_texts"] > 0
    assert d["student_params"] < d["teacher_params"]
    assert 0.0 <= result.metrics["entity_f1"] <= 1.0 and d["agreement_with_teacher"] is not None
    folder = result.model_path
    info = json.loads((folder / "workbench_run.json").read_text())
    assert info["task"] == "spans" and info["parent_run"] == teacher.run_id and info["tags"][0] == "O"
    assert json.loads((folder / "config.json").read_text())["num_hidden_layers"] == 1
    with Project.open(path) as project:
        row = get_run(project, result.run_id)
        assert row["config"]["parent_run"] == teacher.run_id and row["config"]["task"] == "spans"
        stored = project.db.execute("SELECT COUNT(*) FROM predictions WHERE run_id = ?",
                                    [result.run_id]).fetchone()[0]
        assert stored > 0, "the student's test predictions are stored like a span run's"
        rows = {r["name"]: r for r in variant_rows(list_variants(project, teacher.run_id))}
    assert {"fp32", "int8", "student", "student-int8"} <= set(rows) and "student-int4" not in rows

    figures = export_variant(path, teacher.run_id, "student-int8")
    out = figures["bundle_dir"]
    config = json.loads((Path(out) / "bundle.json").read_text())
    assert config["task"] == "spans" and config["variant"]["name"] == "student-int8"
    assert config["variant"]["parent_run"] == teacher.run_id and config["fp32_model_file"] is None
    assert figures["f1_kind"] == "entity F1" and figures["entity_f1"] is not None
    assert figures["agreement"] is not None and figures["size_mb"] > 0 and figures["b1_p50_ms"] > 0
    with Project.open(path) as project:
        row = {r["name"]: r for r in variant_rows(list_variants(project, teacher.run_id))}["student-int8"]
    assert row["entity_f1"] == figures["entity_f1"] and row["f1_kind"] == "entity F1"
    text = "Started metformin 500 mg twice daily for type 2 diabetes."
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": ""}
    code = ("import sys, runpy; sys.modules['torch'] = None; sys.modules['workbench'] = None; "
            "sys.argv = ['predict.py', '--json', sys.argv[1]]; runpy.run_path('predict.py', run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", code, text], cwd=out, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    (printed,) = json.loads(proc.stdout)
    assert printed["text"] == text and isinstance(printed["spans"], list)
    for span in printed["spans"]:
        assert text[span["start"]:span["end"]] == span["text"]
