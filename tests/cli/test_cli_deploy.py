"""`workbench export PROJECT --out DIR` and `workbench predict BUNDLE`."""
from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest
from deploy_fixtures import LABELS, make_project_with_run

from workbench.cli import main


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_base_model):
    import torch

    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("cli_deploy")
    project = make_project_with_run(tiny_base_model, folder)
    return project, folder / "bundle"


def test_export_json_then_predict(exported, capsys):
    project, bundle = exported
    assert main(["export", str(project), "--out", str(bundle), "--run", "1", "--zip", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["parity_ok"] is True and figures["parity_max_abs_diff"] <= 1e-4
    assert figures["run_id"] == 1 and figures["test_texts"] == 6
    assert 0 <= figures["agreement"] <= 1 and figures["f1_int8"] is not None
    assert (bundle / "model.onnx").is_file() and bundle.with_suffix(".zip").is_file()

    assert main(["predict", str(bundle), "--json", "refund my money", "app crash"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["text"] for r in results] == ["refund my money", "app crash"]
    assert all(r["label"] in LABELS for r in results)

    assert main(["predict", str(bundle), "where is my order"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.endswith("where is my order") and line.split(" ")[0] in LABELS


def test_export_human_output_and_predict_file(exported, capsys, tmp_path):
    project, _bundle = exported
    out = tmp_path / "plain"
    assert main(["export", str(project), "--out", str(out), "--no-optimize"]) == 0
    captured = capsys.readouterr()
    assert "passed" in captured.out and "int8 vs fp32" in captured.out
    assert "graph fused before quantizing: no" in captured.out
    assert "[1/7]" in captured.err

    src = tmp_path / "texts.jsonl"
    src.write_text("".join(json.dumps({"id": i, "text": f"refund order {i}"}) + "\n" for i in range(5)))
    dst = tmp_path / "pred.csv"
    assert main(["predict", str(out), "--input", str(src), "--output", str(dst)]) == 0
    assert "Wrote 5 predictions" in capsys.readouterr().out
    rows = list(csv.DictReader(dst.open()))
    assert [r["id"] for r in rows] == ["0", "1", "2", "3", "4"]
    assert all(r["label"] in LABELS for r in rows)


def test_errors_are_one_line(exported, capsys, tmp_path):
    project, _bundle = exported
    assert main(["predict", str(tmp_path), "hello"]) == 1
    assert "bundle.json is missing" in capsys.readouterr().err
    assert main(["export", str(project), "--out", str(tmp_path / "x"), "--run", "99"]) == 1
    assert "Run 99 does not exist" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_predict_command_does_not_import_torch(exported):
    project, bundle = exported
    if not (bundle / "bundle.json").exists():
        assert main(["export", str(project), "--out", str(bundle), "--json"]) == 0
    code = (
        "import sys; from workbench.cli import main; "
        f"rc = main(['predict', {str(bundle)!r}, 'refund my money']); "
        "sys.exit(rc or (3 if 'torch' in sys.modules else 0))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split(" ")[0] in LABELS
