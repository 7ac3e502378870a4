"""Exporting labelled data (all annotations / final labels) and the import round trip."""
from __future__ import annotations

import csv
import json

import pyarrow.parquet as pq
import pytest

from workbench.core.data.exporter import export_labelled
from workbench.core.data.importer import add_texts, import_file, import_rows
from workbench.core.errors import WorkbenchError
from workbench.core.store.project import Project
from workbench.core.store.snapshot import resolve_labels


def read(path):
    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return pq.read_table(path).to_pylist()


@pytest.fixture
def single(tmp_path):
    p = Project.create(tmp_path / "s.wbproj", ["pos", "neg", "neutral"])
    import_rows(
        p,
        [
            {"text": "I love it", "id": "a1", "source": "web", "split": "old"},
            {"text": "Terrible", "id": "a2", "source": "app"},
            {"text": "It is fine", "id": None, "stars": 3},
            {"text": "Never annotated", "id": "a4"},
        ],
        text_col="text",
        id_col="id",
    )
    p.annotate(1, ["pos"])
    p.annotate(1, ["pos"], annotator="bob")
    p.annotate(2, ["neg"])
    p.annotate(2, ["neutral"], annotator="bob")  # a tie: left out of the final labels
    p.annotate(3, [], status="skipped")
    p.annotate(3, ["neutral"], annotator="bob")
    p.set_splits({1: "train", 3: "test"})
    yield p
    p.close()


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_export_all_annotations(single, tmp_path, suffix):
    out = tmp_path / f"all{suffix}"
    summary = export_labelled(single, out)
    assert summary.rows == 6
    rows = read(out)
    assert list(rows[0])[:6] == ["id", "text", "label", "annotator", "status", "split"]
    # Metadata fields become columns; one clashing with a fixed column gets a prefix.
    assert list(rows[0])[6:] == ["source", "meta.split", "stars"]
    empty = "" if suffix == ".csv" else None
    got = [(r["text"], r["label"] or empty, r["annotator"], r["status"], r["split"]) for r in rows]
    assert got == [
        ("I love it", "pos", "bob", "labelled", "train"),
        ("I love it", "pos", "tester", "labelled", "train"),
        ("Terrible", "neutral", "bob", "labelled", "unassigned"),
        ("Terrible", "neg", "tester", "labelled", "unassigned"),
        ("It is fine", "neutral", "bob", "labelled", "test"),
        ("It is fine", empty, "tester", "skipped", "test"),
    ]
    assert rows[0]["id"] == "a1" and rows[0]["source"] == "web" and rows[0]["meta.split"] == "old"
    stars = rows[4]["stars"]
    assert stars == (3 if suffix == ".jsonl" else "3")
    assert not list(tmp_path.glob(".*.part"))


def test_export_final_matches_snapshot_rule(single, tmp_path):
    out = tmp_path / "final.jsonl"
    summary = export_labelled(single, out, mode="final")
    assert (summary.rows, summary.ties) == (2, 1)
    rows = read(out)
    assert [(r["text"], r["label"], r["annotator"]) for r in rows] == [
        ("I love it", "pos", "bob,tester"),
        ("It is fine", "neutral", "bob"),
    ]
    snap = resolve_labels(single)
    assert [(t, labels) for _rid, t, labels, _s in snap.examples] == [
        (r["text"], [r["label"]]) for r in rows
    ]
    assert snap.ties == summary.ties


def test_multi_label_export_final_and_majority(tmp_path):
    with Project.create(tmp_path / "m.wbproj", ["a", "b", "c"], multi_label=True) as p:
        add_texts(p, ["x", "y"])
        p.annotate(1, ["a", "b"])
        p.annotate(1, ["a"], annotator="u2")
        p.annotate(1, ["a", "b", "c"], annotator="u3")
        p.annotate(2, ["c", "a"])
        out = tmp_path / "m.csv"
        export_labelled(p, out, mode="final")
        rows = read(out)
        assert [(r["text"], r["labels"]) for r in rows] == [("x", "a|b"), ("y", "a|c")]
        pq_out = tmp_path / "m.parquet"
        export_labelled(p, pq_out, mode="final")
        assert [r["labels"] for r in read(pq_out)] == [["a", "b"], ["a", "c"]]
        snap = resolve_labels(p)
        assert [labels for *_x, labels, _s in snap.examples] == [["a", "b"], ["a", "c"]]


def test_export_final_uses_adjudicated_labels(single, tmp_path):
    """An adjudicated final wins (default rule): it settles the tie on record 2 and
    overrides the votes on record 1; a final on a record with no labelled annotation
    is exported too."""
    from workbench.core.team.adjudication import set_final

    add_texts(single, ["Adjudicated without votes"])
    set_final(single, 2, ["neg"])
    set_final(single, 1, ["neutral"])
    set_final(single, 5, ["pos"])
    out = tmp_path / "adj.csv"
    summary = export_labelled(single, out, mode="final")
    rows = read(out)
    got = [(r["text"], r["label"]) for r in rows]
    assert got == [("I love it", "neutral"), ("Terrible", "neg"), ("It is fine", "neutral"),
                   ("Adjudicated without votes", "pos")]
    assert summary.ties == 0
    snap = resolve_labels(single)
    assert [(t, labels) for _rid, t, labels, _s in snap.examples] == [
        (text, [label]) for text, label in got
    ]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
@pytest.mark.parametrize("multi", [False, True], ids=["single", "multi"])
def test_round_trip(tmp_path, suffix, multi):
    labels = ["billing", "shipping", "other, misc"]
    src = Project.create(tmp_path / "src.wbproj", labels, multi_label=multi)
    rows = [
        {"text": "Charged twice", "ref": "T-1", "lang": "en"},
        {"text": "Parcel lost", "ref": "T-2", "lang": "en"},
        {"text": "Paquete perdido y cobro doble, \"urgente\"\nsegunda línea", "ref": None},
        {"text": "Unlabelled one", "ref": "T-4"},
    ]
    import_rows(src, rows, text_col="text", id_col="ref")
    src.annotate(1, ["billing"])
    src.annotate(2, ["other, misc"])
    src.annotate(3, ["billing", "shipping"] if multi else ["shipping"])
    out = tmp_path / f"export{suffix}"
    export_labelled(src, out, mode="final")

    dst = Project.create(tmp_path / "dst.wbproj", labels, multi_label=multi)
    report = import_file(dst, out, text_col="text", id_col="id",
                         label_col="labels" if multi else "label")
    assert report.added == 3

    def content(p):
        return sorted(
            (r.text, r.external_id, tuple(sorted(p.get_annotation(r.id).labels)))
            for r in p.get_records(range(1, p.max_record_id() + 1))
            if p.get_annotation(r.id) is not None
        )

    assert content(dst) == content(src)
    assert dst.get_record(1).meta["lang"] == "en"
    src.close()
    dst.close()


def test_export_errors_write_nothing(single, tmp_path):
    with pytest.raises(WorkbenchError, match=r"\.xlsx"):
        export_labelled(single, tmp_path / "out.xlsx")
    with pytest.raises(WorkbenchError, match="does not exist"):
        export_labelled(single, tmp_path / "missing" / "out.csv")
    with pytest.raises(WorkbenchError, match="mode"):
        export_labelled(single, tmp_path / "out.csv", mode="some")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.wbproj", "s.wbproj-shm", "s.wbproj-wal"]


def test_export_empty_project_writes_header_only(tmp_path):
    with Project.create(tmp_path / "e.wbproj", ["a"]) as p:
        for suffix in (".csv", ".jsonl", ".parquet"):
            out = tmp_path / f"e{suffix}"
            assert export_labelled(p, out).rows == 0
            assert read(out) == []
        assert (tmp_path / "e.csv").read_text().strip() == "id,text,label,annotator,status,split"


def test_cancelled_export_leaves_no_file(tmp_path, monkeypatch):
    import workbench.core.data.exporter as exporter
    from workbench.core.errors import Cancelled

    monkeypatch.setattr(exporter, "_CHUNK", 2)
    with Project.create(tmp_path / "c.wbproj", ["a"]) as p:
        add_texts(p, [f"text {i}" for i in range(7)])
        for rid in range(1, 8):
            p.annotate(rid, ["a"])
        seen = []
        out = tmp_path / "c.csv"
        with pytest.raises(Cancelled):
            export_labelled(p, out, progress=seen.append, should_stop=lambda: len(seen) >= 2)
        assert [e.done for e in seen] == [2, 4]
        assert not out.exists() and not list(tmp_path.glob(".*.part"))
        assert export_labelled(p, out, progress=seen.append).rows == 7
