"""The data commands end to end, in a subprocess: new, import, stats, export, errors."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest


def wb(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "workbench", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, timeout=120,
    )


def assert_one_line_error(result, *fragments):
    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_new_import_stats_export(tmp_path):
    proj = tmp_path / "demo.wbproj"
    data = tmp_path / "data.csv"
    data.write_text(
        "id,text,intent,channel\n"
        "1,Where is my parcel?,shipping,email\n"
        "2,I was charged twice,billing,chat\n"
        "3,Where is  my parcel?,shipping,email\n"
        "4,Can I change my address?,,phone\n",
        encoding="utf-8",
    )
    r = wb("new", proj, "--labels", "shipping,billing,account")
    assert r.returncode == 0, r.stderr
    assert "Created" in r.stdout

    r = wb("import", proj, data, "--text-col", "text", "--id-col", "id", "--label-col", "intent")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == (
        "data.csv: 3 records added, 2 with labels, 1 duplicates skipped"
    )

    r = wb("stats", proj, "--json")
    assert r.returncode == 0, r.stderr
    stats = json.loads(r.stdout)
    assert stats["records"] == 3
    assert stats["labelled"] == 2
    assert stats["by_label"] == {"shipping": 1, "billing": 1, "account": 0}
    assert stats["by_annotator"] == {"tester": 2}
    assert stats["splits"]["unassigned"] == 3

    r = wb("stats", proj)
    assert r.returncode == 0 and "records:" in r.stdout

    out = tmp_path / "labels.jsonl"
    r = wb("export", proj, out, "--final")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(row["id"], row["label"], row["channel"]) for row in rows] == [
        ("1", "shipping", "email"), ("2", "billing", "chat"),
    ]

    # The export imports back into a new project with the same records and labels.
    proj2 = tmp_path / "again.wbproj"
    assert wb("new", proj2, "--labels", "shipping,billing,account").returncode == 0
    r = wb("import", proj2, out, "--id-col", "id", "--label-col", "label", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["added"] == 2


def test_multi_label_project_and_add_labels(tmp_path):
    proj = tmp_path / "m.wbproj"
    data = tmp_path / "m.jsonl"
    data.write_text('{"text": "late and broken", "tags": ["late", "damaged"]}\n')
    assert wb("new", proj, "--labels", "late", "--multi-label").returncode == 0
    r = wb("import", proj, data, "--label-col", "tags")
    assert_one_line_error(r, "m.jsonl, row 1", "'damaged'")
    r = wb("import", proj, data, "--label-col", "tags", "--add-labels")
    assert r.returncode == 0, r.stderr
    stats = json.loads(wb("stats", proj, "--json").stdout)
    assert stats["task_type"] == "multi_label"
    assert stats["by_label"] == {"late": 1, "damaged": 1}


def test_failures_are_one_line_without_traceback(tmp_path):
    proj = tmp_path / "p.wbproj"
    assert wb("new", proj, "--labels", "a,b").returncode == 0
    before = proj.read_bytes()
    bad = tmp_path / "bad.csv"
    bad.write_text("body\nhello\n")
    assert_one_line_error(wb("import", proj, bad), "bad.csv", "no text column 'text'")
    assert_one_line_error(wb("import", proj, tmp_path / "missing.csv"), "missing.csv")
    assert_one_line_error(wb("new", proj, "--labels", "a"), "already exists")
    assert_one_line_error(wb("new", tmp_path / "x.txt", "--labels", "a"), ".wbproj")
    notproj = tmp_path / "notes.wbproj"
    notproj.write_text("just text")
    assert_one_line_error(wb("stats", notproj), "not a Workbench project")
    assert notproj.read_text() == "just text"
    assert_one_line_error(wb("export", proj, tmp_path / "out.xlsx"), ".csv, .jsonl or .parquet")
    assert_one_line_error(wb("export", proj), "--out DIR")
    assert_one_line_error(wb("export", proj, tmp_path / "o.csv", "--out", tmp_path / "m"),
                          "not both")
    assert proj.read_bytes() == before


def test_bad_arguments_exit_nonzero(tmp_path):
    r = wb("new", tmp_path / "p.wbproj")  # --labels is required
    assert r.returncode == 2
    assert "--labels" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("command", ["new", "import", "export", "stats"])
def test_command_help(command):
    r = wb(command, "--help")
    assert r.returncode == 0
    assert "usage: workbench " + command in r.stdout


def test_export_accepts_model_export_options(tmp_path):
    """``export`` also parses the model-export flags (handled by the deploy commands)."""
    from workbench.cli import build_parser

    args = build_parser().parse_args(
        ["export", "p.wbproj", "--out", str(tmp_path), "--run", "3", "--no-quantize",
         "--no-optimize", "--zip", "--json"]
    )
    assert (args.output, args.out, args.run) == (None, str(tmp_path), "3")
    # The export flags are generated from ExportOptions (dest = field name).
    assert (args.quantize, args.optimize, args.zip_bundle, args.json) == (False, False, True, True)


def test_help_and_version_do_not_import_torch_or_qt():
    code = (
        "import sys\n"
        "from workbench.cli import main\n"
        "for argv in (['--help'], ['--version'], ['stats', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = sorted(m for m in ('torch', 'PySide6', 'transformers', 'onnxruntime', 'pandas')\n"
        "               if m in sys.modules)\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "HEAVY []" in r.stderr
    r = wb("--version")
    assert r.returncode == 0 and r.stdout.startswith("workbench ")
