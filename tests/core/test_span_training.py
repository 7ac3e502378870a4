"""Training a tiny random BERT on a span project: windows, BIO targets, entity metrics,
stored test predictions and errors, the model folder; evaluate on a CoNLL file."""
from __future__ import annotations

import json

import pytest

from workbench.core.deploy.span_runtime import decode_spans, encode_windows
from workbench.core.spans.span_demo import SpanDemoConfig, create_span_demo_job
from workbench.core.spans.token_align import tag_names, window_targets
from workbench.core.store.project import Project
from workbench.core.store.spans import Span
from workbench.core.training.config import TrainConfig
from workbench.core.training.loop import train_job, train_project


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_base_model):
    folder = tmp_path_factory.mktemp("spans_train")
    path = folder / "demo.wbproj"
    create_span_demo_job(path, SpanDemoConfig(prelabelled=40))
    events = []
    config = TrainConfig(base_model=str(tiny_base_model), threads=1, epochs=2, max_length=32,
                         batch_size=8)
    result = train_project(path, config, progress=events.append)
    return path, result, events


def test_targets_and_decoding_round_trip(tiny_base_model):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tiny_base_model / "tokenizer.json"))
    text = "Started aspirin 81 mg daily for angina. " * 4
    spans = [Span(8, 15, "drug"), Span(16, 21, "dose"), Span(112, 118, "condition")]
    tags = tag_names(["drug", "dose", "condition"])
    index = {t: i for i, t in enumerate(tags)}
    windows = encode_windows(tok, [text], 16)
    assert len(windows) > 3  # a long record becomes overlapping windows
    import numpy as np

    for alignment in ("first", "all"):
        probs = []
        for w in windows:
            target = window_targets(w, spans, index, alignment)
            assert all(t == -100 for t, wid in zip(target, w.word_ids, strict=True) if wid is None)
            p = np.full((len(w.ids), len(tags)), 0.01)
            for j, t in enumerate(target):
                p[j, t if t >= 0 else 0] = 1.0
            probs.append(p)
        (decoded, _u), = decode_spans([text], windows, probs, tags, alignment)
        got = [(d["start"], d["end"], d["label"]) for d in decoded]
        assert got == [(s.start, s.end, s.label) for s in spans], alignment
        assert all(text[d["start"]:d["end"]] == d["text"] for d in decoded)


def test_span_run_metrics_predictions_and_folder(trained):
    path, result, events = trained
    assert result.status == "completed"
    m = result.metrics
    assert m["task"] == "spans" and 0.0 <= m["entity_f1"] <= 1.0
    assert set(m["per_type"]) == {"drug", "dose", "frequency", "condition"}
    assert {"precision", "recall", "f1"} <= set(m["partial"])
    assert m["counts"]["gold"] > 0
    assert m["errors"], "a 2-epoch tiny model makes mistakes"
    assert {e["kind"] for e in m["errors"]} <= {"missed", "spurious", "wrong_type"}
    assert set(m["errors"][0]) == {"record_id", "start", "end", "label", "kind", "predicted"}
    info = json.loads((result.model_path / "workbench_run.json").read_text())
    assert info["task"] == "spans" and info["tags"][0] == "O"
    assert any(e.phase == "evaluate" and e.val_metrics for e in events)
    with Project.open(path) as project:
        n_pred = project.db.execute(
            "SELECT count(*) FROM predictions WHERE run_id = ?", [result.run_id]).fetchone()[0]
        n_test = project.db.execute(
            "SELECT count(*) FROM records WHERE split = 'test'").fetchone()[0]
        assert n_pred == n_test > 0
        run = json.loads(project.db.execute(
            "SELECT metrics FROM runs WHERE id = ?", [result.run_id]).fetchone()[0])
        assert run["per_type"] and "errors" in run


def test_cancel_before_evaluation(tmp_path, tiny_base_model):
    from workbench.core.errors import Cancelled

    path = tmp_path / "d.wbproj"
    create_span_demo_job(path, SpanDemoConfig(prelabelled=12))
    config = TrainConfig(base_model=str(tiny_base_model), threads=1, epochs=1, max_length=32)
    with pytest.raises(Cancelled) as info:
        train_job(path, config, should_stop=lambda: True)
    assert info.value.result.status == "cancelled" and info.value.result.model_path is None


def test_evaluate_on_a_conll_file(trained, tmp_path, capsys):
    from workbench.cli import main
    from workbench.core.spans.span_export import export_spans

    path, result, _events = trained
    conll = tmp_path / "test.conll"
    with Project.open(path) as project:
        export_spans(project, conll)
    assert main(["evaluate", str(path), "--run", "latest", "--input", str(conll),
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["run_id"] == result.run_id and out["source"] == str(conll)
    assert {"entity_f1", "entity_macro_f1", "per_type", "counts"} <= set(out)
    assert out["counts"]["gold"] > 0 and 0.0 <= out["entity_f1"] <= 1.0
    bad = tmp_path / "bad.conll"
    bad.write_text("aspirin B-drug\nmg\n", encoding="utf-8")
    assert main(["evaluate", str(path), "--input", str(bad)]) != 0
    assert "bad.conll, line 2" in capsys.readouterr().err


def test_export_bundle_predict_offsets_slice_the_text(trained, tmp_path):
    import subprocess
    import sys

    from workbench.core.deploy.inference import Predictor
    from workbench.core.deploy.onnx_export import export_run

    path, result, _events = trained
    report = export_run(path, "latest")  # the default folder: pre-annotation reuses it
    out = report.bundle_dir
    config = json.loads((out / "bundle.json").read_text())
    assert config["task"] == "spans" and config["tags"][0] == "O"
    ver = config["verification"]
    assert ver["parity_ok"] and ver["f1_fp32"] is not None and ver["f1_int8"] is not None
    assert ver["agreement"] is not None and report.agreement == ver["agreement"]
    card = (out / "model_card.md").read_text()
    assert "Span agreement of int8 with fp32" in card and "entity F1" in card
    text = "Started metformin 500 mg twice daily for type 2 diabetes. " * 12  # > window
    (res,) = Predictor.load(out).predict([text])
    assert res["text"] == text
    assert res["spans"], "the tiny model tags plenty of words (seeded): offsets get checked"
    for span in res["spans"]:
        assert text[span["start"]:span["end"]] == span["text"] and span["label"] in config["labels"]
    # The bundle's own predict.py, without Workbench on the path and without torch.
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": ""}
    code = ("import sys, runpy; sys.modules['torch'] = None; sys.modules['workbench'] = None; "
            "sys.argv = ['predict.py', '--json', sys.argv[1]]; "
            "runpy.run_path('predict.py', run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", code, text], cwd=out, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    (printed,) = json.loads(proc.stdout)
    assert printed["text"] == text and isinstance(printed["spans"], list)
    for span in printed["spans"]:
        assert text[span["start"]:span["end"]] == span["text"]
        assert {"start", "end", "label", "text", "score"} == set(span)
    assert [s["start"] for s in printed["spans"]] == [s["start"] for s in res["spans"]]
    # File input and output as for classification bundles: JSONL and CSV carry the spans.
    from workbench.core.deploy.inference import predict_file

    src = tmp_path / "in.txt"
    src.write_text("Started metformin 500 mg BID.\nNo acute distress.\n", encoding="utf-8")
    assert predict_file(Predictor.load(out), src, tmp_path / "out.jsonl") == 2
    rows = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["text"] for r in rows] == ["Started metformin 500 mg BID.", "No acute distress."]
    assert all(isinstance(r["spans"], list) for r in rows)
    assert predict_file(Predictor.load(out), src, tmp_path / "out.csv") == 2
    assert (tmp_path / "out.csv").read_text().splitlines()[0] == "text,spans"


def test_pre_annotation_and_uncertainty_order(trained):
    from workbench.core.assist.project_predictions import predict_project
    from workbench.core.assist.span_suggestions import span_suggestions
    from workbench.core.spans.span_assist import uncertainty_order

    path, result, _events = trained
    report = predict_project(path, "latest")
    with Project.open(path) as project:
        unlabelled = project.stats()["unlabelled"]
        assert report.run_id == result.run_id and report.n_predicted == unlabelled > 0
        (who,) = project.annotators()  # the demo's labels (made before the test's annotator)
        order = uncertainty_order(project, annotator=who, limit=1000)
        assert len(order) == unlabelled
        suggested = [span_suggestions(project, rid) for rid in order[:20]]
        assert any(suggested)
        for rid, sugg in zip(order[:20], suggested, strict=True):
            text = project.get_record(rid).text
            assert all(0 <= s.start < s.end <= len(text) for s, _score in sugg)


def test_data_summary_counts_spans(tmp_path):
    from workbench.core.training.data import data_summary

    path = tmp_path / "s.wbproj"
    create_span_demo_job(path, SpanDemoConfig(prelabelled=30))
    with Project.open(path) as project:
        summary = data_summary(project)
        spans = [s for ann in (project.get_annotation(r, project.annotators()[0])
                               for r in range(1, 31)) if ann for s in ann.spans]
    assert summary.n_labelled == 30
    assert sum(summary.splits.values()) == 30 and summary.splits["test"] > 0
    assert summary.by_label["drug"] == sum(1 for s in spans if s.label == "drug") > 0
    assert not any("at least" in w for w in summary.warnings)
