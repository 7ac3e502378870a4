"""Span projects on the command line: new --task spans, import of span files (a bad file is
one clear line and changes nothing), export to span formats, stats."""
from __future__ import annotations

import json
import subprocess
import sys

from tests.project_dump import project_dump
from workbench.cli import main

CONLL = "Take O\naspirin B-drug\n81 B-dose\nmg I-dose\n. O\n\nStop O\nwarfarin S-drug\n"


def test_new_import_export_stats(tmp_path, capsys):
    path = tmp_path / "notes.wbproj"
    assert main(["new", str(path), "--task", "spans", "--labels", "drug"]) == 0
    src = tmp_path / "notes.conll"
    src.write_text(CONLL, encoding="utf-8")
    assert main(["import", str(path), str(src), "--add-labels", "--json"]) == 0
    out = capsys.readouterr().out
    report = json.loads(out[out.index("{"):])
    assert report["added"] == 2 and report["labelled"] == 2 and report["new_labels"] == ["dose"]
    out_file = tmp_path / "out.jsonl"
    assert main(["export", str(path), str(out_file), "--format", "doccano"]) == 0
    rows = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert rows[0] == {"text": "Take aspirin 81 mg.", "label": [[5, 12, "drug"], [13, 18, "dose"]]}
    assert main(["stats", str(path), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert stats["task_type"] == "spans" and stats["labelled"] == 2


def test_bad_span_file_is_one_line_and_changes_nothing(tmp_path):
    path = tmp_path / "p.wbproj"
    assert main(["new", str(path), "--task", "spans", "--labels", "drug,dose"]) == 0
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "aspirin", "spans": [{"start": 0, "end": 7, "label": "drug"}]}\n'
                   '{"text": "81 mg", "spans": [{"start": 3, "end": 40, "label": "dose"}]}\n',
                   encoding="utf-8")
    before = project_dump(path)
    result = subprocess.run([sys.executable, "-m", "workbench", "import", str(path), str(bad)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "bad.jsonl, line 2" in lines[0] and "does not match the text" in lines[0]
    assert project_dump(path) == before


def test_demo_spans_and_plain_records(tmp_path, capsys):
    from workbench.core.spans.span_snapshot import resolved_spans
    from workbench.core.store.project import Project

    path = tmp_path / "demo.wbproj"
    assert main(["demo", str(path), "--kind", "spans"]) == 0
    assert "clinical notes" in capsys.readouterr().out
    plain = tmp_path / "more.txt"
    plain.write_text("Started apixaban 5 mg BID for afib.\nNo new medicines.\n", encoding="utf-8")
    assert main(["import", str(path), str(plain)]) == 0
    with Project.open(path) as project:
        assert project.is_spans and project.label_names() == ["drug", "dose", "frequency",
                                                                "condition"]
        stats = project.stats()
        assert 0 < stats["labelled"] < stats["records"]  # partly labelled
        records = resolved_spans(project)
        assert all(r.text[s.start:s.end].strip() == r.text[s.start:s.end]
                   for r in records for s in r.spans)
        assert {s.label for r in records for s in r.spans} == {"drug", "dose", "frequency",
                                                               "condition"}
        assert project.search("apixaban")


def test_adjudicate_and_agreement_of_spans(tmp_path, capsys):
    from workbench.core.data.importer import add_texts
    from workbench.core.store import span_operations as ops
    from workbench.core.store.project import Project
    from workbench.core.store.spans import Span

    path = tmp_path / "t.wbproj"
    with Project.create(path, ["drug", "dose"], task="spans") as project:
        add_texts(project, ["aspirin 81 mg daily"])
        ops.set_spans(project, 1, [Span(0, 7, "drug")], annotator="ann")
        ops.set_spans(project, 1, [Span(0, 7, "drug"), Span(8, 13, "dose")], annotator="bob")
    assert main(["agreement", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["pairs"][0]["f1"] == 2 / 3
    assert main(["adjudicate", str(path), "--id", "1", "--pick", "ann:all",
                 "--pick", "bob:8-13:dose"]) == 0
    assert "final spans drug 0-7, dose 8-13" in capsys.readouterr().out
    assert main(["adjudicate", str(path), "--id", "1", "--pick", "ann:8-13:dose"]) != 0


def test_train_and_evaluate_print_entity_figures(tmp_path, capsys, tiny_base_model):
    from workbench.core.spans.span_demo import SpanDemoConfig, create_span_demo_job

    path = tmp_path / "d.wbproj"
    create_span_demo_job(path, SpanDemoConfig(prelabelled=12))
    assert main(["train", str(path), "--base-model", str(tiny_base_model), "--epochs", "1",
                 "--max-length", "32", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "entity F1 (micro)" in out and "partial-overlap F1" in out
    assert main(["evaluate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "on the test split" in out and "drug" in out
