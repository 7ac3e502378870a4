"""CSV export escapes spreadsheet formulas (OWASP CSV injection) unless asked not to."""
from __future__ import annotations

import csv
import json

import pyarrow.parquet as pq
import pytest

from workbench.core.data.exporter import export_labelled
from workbench.core.data.importer import import_rows
from workbench.core.store.project import Project

DANGEROUS = ["=cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0", "+1+2", "-2+3",
             "\t=1+1", "\r=2+2"]


@pytest.fixture
def project(tmp_path):
    p = Project.create(tmp_path / "f.wbproj", ["=HYPERLINK(\"http://x\")", "ok"],
                       multi_label=True)
    rows = [{"text": t, "id": f"=id{i}", "note": "+evil()", "plain": "fine"}
            for i, t in enumerate(DANGEROUS)]
    rows.append({"text": "harmless - dash inside", "id": "-5", "note": "ok", "plain": "x"})
    import_rows(p, rows, text_col="text", id_col="id")
    for rid in range(1, len(rows) + 1):
        p.annotate(rid, ["=HYPERLINK(\"http://x\")", "ok"], annotator="@admin")
    yield p
    p.close()


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_csv_export_escapes_formula_cells_in_every_text_column(project, tmp_path):
    out = tmp_path / "out.csv"
    export_labelled(project, out)
    rows = read_csv(out)
    texts = [r["text"] for r in rows]
    assert texts[: len(DANGEROUS)] == ["'" + t for t in DANGEROUS]
    assert texts[-1] == "harmless - dash inside"
    for r in rows:
        assert r["labels"].startswith("'=HYPERLINK")
        assert r["annotator"] == "'@admin"
        assert r["id"].startswith("'") or r["id"] == "-5"  # a plain number is left alone
        assert r["plain"] in ("fine", "x")
    assert rows[0]["note"] == "'+evil()"
    # Every cell: nothing a spreadsheet would evaluate.
    for r in rows:
        for value in r.values():
            assert not value or value[0] not in "=+-@\t\r" or value == "-5", value


def test_csv_export_raw_keeps_cells_as_they_are(project, tmp_path):
    out = tmp_path / "raw.csv"
    export_labelled(project, out, escape_formulas=False)
    rows = read_csv(out)
    assert [r["text"] for r in rows][: len(DANGEROUS)] == DANGEROUS
    assert rows[0]["annotator"] == "@admin"


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_jsonl_and_parquet_are_not_escaped(project, tmp_path, suffix):
    out = tmp_path / f"out{suffix}"
    export_labelled(project, out)
    if suffix == ".jsonl":
        rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    else:
        rows = pq.read_table(out).to_pylist()
    assert [r["text"] for r in rows][: len(DANGEROUS)] == DANGEROUS
    assert rows[0]["annotator"] == "@admin"


def test_cli_export_escapes_by_default_and_raw_turns_it_off(project, tmp_path):
    from workbench.cli import main

    project.close()
    for extra, expected in (([], "'=cmd"), (["--raw"], "=cmd")):
        out = tmp_path / f"cli{len(extra)}.csv"
        assert main(["export", str(project.path), str(out), *extra]) == 0
        assert read_csv(out)[0]["text"].startswith(expected)
