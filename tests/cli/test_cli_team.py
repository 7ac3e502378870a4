"""The team commands, run as a user would: ``python -m workbench ...`` in a subprocess."""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys

import pytest

TEXTS = [f"support request about topic {i}" for i in range(8)]


def wb(*args, annotator: str = "tester", ok: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "WORKBENCH_ANNOTATOR": annotator}
    proc = subprocess.run(
        [sys.executable, "-m", "workbench", *map(str, args)],
        capture_output=True, text=True, env=env, timeout=120,
    )
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def write_csv(path, rows) -> None:
    lines = ["text,label"] + [f"{TEXTS[i]},{lab}" for i, lab in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def dump(path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """ours: ann labelled topics 0-5. theirs: bob labelled 4-7, ann labelled 1 and 3."""
    tmp_path = tmp_path_factory.mktemp("team_cli")
    ours, theirs = tmp_path / "ours.wbproj", tmp_path / "theirs.wbproj"
    write_csv(tmp_path / "ann.csv", [(0, "pos"), (1, "neg"), (2, "pos"), (3, "neg"), (4, "pos"), (5, "neg")])
    write_csv(tmp_path / "bob.csv", [(4, "neg"), (5, "neg"), (6, "pos"), (7, "pos")])
    write_csv(tmp_path / "ann2.csv", [(1, "neg"), (3, "pos")])
    wb("new", ours, "--labels", "pos,neg")
    wb("import", ours, tmp_path / "ann.csv", "--label-col", "label", annotator="ann")
    wb("new", theirs, "--labels", "pos,neg")
    wb("import", theirs, tmp_path / "bob.csv", "--label-col", "label", annotator="bob")
    wb("import", theirs, tmp_path / "ann2.csv", "--label-col", "label", annotator="ann")
    return ours, theirs


@pytest.fixture
def projects(built, tmp_path):
    """Fresh copies of the two project files for one test."""
    copies = []
    for path in built:
        assert not path.with_name(path.name + "-wal").exists()
        copies.append(tmp_path / path.name)
        shutil.copy(path, copies[-1])
    return tuple(copies)


def test_merge_twice_then_adjudicate(projects):
    ours, theirs = projects
    first = json.loads(wb("merge", ours, theirs, "--json").stdout)
    assert first["records_added"] == 2
    assert first["records_matched"] == 4
    assert (first["new"], first["identical"], first["conflicting"]) == (4, 1, 1)

    before = dump(ours)
    second = json.loads(wb("merge", ours, theirs, "--json").stdout)
    assert (second["records_added"], second["new"], second["conflicting"]) == (0, 0, 0)
    assert second["identical"] == 5 and second["already_pending"] == 1
    assert dump(ours) == before
    assert "Nothing new" in wb("merge", ours, theirs).stdout

    items = json.loads(wb("disagreements", ours, "--json").stdout)
    by_text = {d["text"]: d for d in items}
    assert set(by_text) == {TEXTS[3], TEXTS[4]}
    conflict = by_text[TEXTS[3]]
    assert conflict["by_annotator"] == {"ann": ["neg"]}
    assert conflict["conflicts"] == [
        {"annotator": "ann", "kind": "annotation", "labels": ["pos"], "status": "labelled",
         "source": "theirs.wbproj"}
    ]
    assert by_text[TEXTS[4]]["by_annotator"] == {"ann": ["pos"], "bob": ["neg"]}

    agreement = json.loads(wb("agreement", ours, "--json").stdout)
    assert agreement["overlap"] == 2
    assert agreement["pairs"][0]["a"] == "ann" and agreement["pairs"][0]["overlap"] == 2
    assert agreement["pairs"][0]["percent_agreement"] == 0.5

    counts = json.loads(wb("final", ours, "--json").stdout)
    assert counts["rule"] == "adjudicated-first" and counts["ties"] == 1
    rid = conflict["record_id"]
    out = wb("adjudicate", ours, "--id", rid, "--label", "pos", annotator="lead").stdout
    assert "final label pos (by lead)" in out
    rid4 = by_text[TEXTS[4]]["record_id"]
    wb("adjudicate", ours, "--id", rid4, "--label", "neg", annotator="lead")
    assert json.loads(wb("disagreements", ours, "--json").stdout) == []
    counts = json.loads(wb("final", ours, "--json").stdout)
    assert (counts["adjudicated"], counts["ties"], counts["records"]) == (2, 0, 8)
    counts = json.loads(wb("final", ours, "--rule", "majority", "--json").stdout)
    assert (counts["rule"], counts["adjudicated"], counts["ties"]) == ("majority", 0, 1)
    assert "final rule: majority" in wb("final", ours).stdout


def test_merge_refuses_other_label_schema(projects, tmp_path):
    ours, _ = projects
    odd = tmp_path / "odd.wbproj"
    wb("new", odd, "--labels", "pos,neg,meh")
    before = dump(ours)
    proc = wb("merge", ours, odd, ok=False)
    assert proc.returncode == 1
    assert "Labels only in odd.wbproj: meh" in proc.stderr
    assert proc.stderr.count("\n") == 1  # one readable line
    assert dump(ours) == before


def test_annotators_and_adjudicate_errors(projects):
    ours, _ = projects
    data = json.loads(
        wb("annotators", ours, "--add", "ann", "--add", "bob", "--assign", "split", "--blind", "off",
           "--json").stdout
    )
    assert data["annotators"] == ["ann", "bob"]
    assert (data["assignment"], data["k"], data["blind"]) == ("split", 1, False)
    assert data["annotations"] == {"ann": 6}
    text = wb("annotators", ours, "--assign", "k", "--k", "2").stdout
    assert "each record by 2 annotators" in text and "Blind labelling: off" in text

    bad = wb("annotators", ours, "--assign", "k", "--k", "0", ok=False)
    assert bad.returncode == 1 and "at least 1" in bad.stderr
    bad = wb("adjudicate", ours, "--id", "1", "--label", "maybe", ok=False)
    assert bad.returncode == 1 and "'maybe' is not in the project's label schema" in bad.stderr
    bad = wb("adjudicate", ours, "--id", "999", "--label", "pos", ok=False)
    assert "No record with id '999'" in bad.stderr
