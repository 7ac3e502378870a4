"""Importing every supported format, bad input (project left unchanged), duplicates."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from project_dump import project_dump

from workbench.core.data.importer import (
    _hash,
    add_texts,
    import_file,
    import_rows,
    preview_file,
    read_table,
)
from workbench.core.errors import Cancelled, ImportDataError
from workbench.core.store.project import Project
from workbench.core.textnorm import content_hash

ROWS = [
    {"id": "r1", "text": "The parcel never arrived.", "label": "shipping", "channel": "email"},
    {"id": "r2", "text": "I was charged twice for one order.", "label": "billing", "channel": "chat"},
    {"id": "r3", "text": "How do I reset my password?", "label": "", "channel": "phone"},
    {"id": "r4", "text": "Refund still not received after two weeks", "label": "billing",
     "channel": "email"},
]


dump = project_dump


def write(path, rows, fmt):
    frame = pd.DataFrame(rows)
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "tsv":
        frame.to_csv(path, index=False, sep="\t")
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif fmt == "json":
        path.write_text(json.dumps(rows), encoding="utf-8")
    elif fmt == "xlsx":
        frame.to_excel(path, index=False)
    elif fmt == "parquet":
        frame.to_parquet(path, index=False)
    return path


@pytest.fixture
def project(project_path):
    p = Project.create(project_path, ["shipping", "billing", "account"])
    yield p
    p.close()


def records(project):
    return [
        (r[0], r[1], json.loads(r[2]) if r[2] else {})
        for r in project.db.execute("SELECT text, external_id, meta FROM records ORDER BY id")
    ]


def labels_by_text(project):
    return {
        rec.text: [a.labels for a in project.annotations_for(rec.id)]
        for rec in project.get_records(range(1, project.max_record_id() + 1))
    }


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "json", "xlsx", "parquet"])
def test_import_each_format_with_ids_and_labels(project, tmp_path, fmt):
    src = write(tmp_path / f"data.{fmt}", ROWS, fmt)
    report = import_file(project, src, text_col="text", id_col="id", label_col="label")
    assert (report.added, report.labelled, report.duplicates) == (4, 3, 0)
    assert records(project) == [
        (r["text"], r["id"], {"channel": r["channel"]}) for r in ROWS
    ]
    by_text = labels_by_text(project)
    assert by_text["The parcel never arrived."] == [("shipping",)]
    assert by_text["How do I reset my password?"] == []
    ann = project.annotations_for(1)[0]
    assert (ann.annotator, ann.provenance, ann.status) == ("tester", "imported", "labelled")
    assert project.search("charged") == [2]


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "json", "xlsx", "parquet"])
def test_import_each_format_text_only(project, tmp_path, fmt):
    rows = [{"body": r["text"]} for r in ROWS]
    src = write(tmp_path / f"plain.{fmt}", rows, fmt)
    report = import_file(project, src, text_col="body")
    assert (report.added, report.labelled) == (4, 0)
    assert records(project) == [(r["text"], None, {}) for r in ROWS]
    assert project.stats()["labelled"] == 0


def test_import_txt_one_record_per_line(project, tmp_path):
    src = tmp_path / "lines.txt"
    src.write_text("first message\n\nsecond message\r\nfirst  message\n", encoding="utf-8")
    report = import_file(project, src)
    assert (report.added, report.empty, report.duplicates) == (2, 1, 1)
    assert [r[0] for r in records(project)] == ["first message", "second message"]


def test_format_flag_overrides_suffix(project, tmp_path):
    src = tmp_path / "data.dat"
    src.write_text("text\nhello there\n", encoding="utf-8")
    with pytest.raises(ImportDataError, match="--format"):
        import_file(project, src)
    assert import_file(project, src, fmt="csv").added == 1


@pytest.mark.parametrize(
    ("fmt", "cell"),
    [("csv", "shipping|billing"), ("csv", "shipping; billing"), ("jsonl", ["shipping", "billing"]),
     ("csv", '["shipping", "billing"]'), ("parquet", ["shipping", "billing"])],
)
def test_multi_label_cells(tmp_path, fmt, cell):
    with Project.create(tmp_path / "m.wbproj", ["shipping", "billing"], multi_label=True) as p:
        rows = [{"text": "late and overcharged", "labels": cell}, {"text": "fine", "labels": None}]
        if fmt == "csv":
            rows[1]["labels"] = ""
        src = write(tmp_path / f"multi.{fmt}", rows, fmt)
        report = import_file(p, src, label_col="labels")
        assert report.labelled == 1
        assert p.annotations_for(1)[0].labels == ("shipping", "billing")


def test_label_with_comma_kept_whole(tmp_path):
    with Project.create(tmp_path / "c.wbproj", ["late, damaged", "ok"]) as p:
        src = write(tmp_path / "c.csv", [{"text": "box crushed", "label": "late, damaged"}], "csv")
        import_file(p, src, label_col="label")
        assert p.annotations_for(1)[0].labels == ("late, damaged",)


def test_add_labels_extends_schema(project, tmp_path):
    src = write(tmp_path / "n.csv", [{"text": "where is my stuff", "label": "tracking"}], "csv")
    report = import_file(project, src, label_col="label", add_labels=True)
    assert report.new_labels == ["tracking"]
    assert project.label_names() == ["shipping", "billing", "account", "tracking"]
    assert project.annotations_for(1)[0].labels == ("tracking",)


def test_bom_and_leading_index_column(project, tmp_path):
    src = tmp_path / "bom.csv"
    pd.DataFrame({"text": ["alpha beta", "gamma"], "label": ["account", "billing"]}).to_csv(
        src, encoding="utf-8-sig"  # with the pandas index column, unnamed
    )
    assert src.read_bytes().startswith(b"\xef\xbb\xbf,text")
    report = import_file(project, src, label_col="label")
    assert report.added == 2
    assert records(project) == [("alpha beta", None, {"Unnamed: 0": "0"}),
                                ("gamma", None, {"Unnamed: 0": "1"})]


def test_encoding_latin1(project, tmp_path):
    src = tmp_path / "latin.csv"
    src.write_bytes("text\nCafé crème\nna\u00efve\n".encode("latin-1"))
    before = dump(project.path)
    with pytest.raises(ImportDataError, match=r"latin\.csv, line 2: .*--encoding"):
        import_file(project, src)
    assert dump(project.path) == before
    assert import_file(project, src, encoding="latin-1").added == 2
    assert [r[0] for r in records(project)] == ["Café crème", "na\u00efve"]


def test_utf16_with_bom_is_detected(project, tmp_path):
    src = tmp_path / "wide.csv"
    src.write_bytes("text\nhello wide world\n".encode("utf-16"))
    assert import_file(project, src).added == 1


def _bad_inputs(tmp_path):
    """(file, import keyword arguments, expected message pattern) for each bad input."""
    cases = {}

    def csv_file(name, content, **kw):
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        return path

    cases["missing column"] = (
        csv_file("nocol.csv", "body,label\nhello,shipping\n"), {}, r"nocol\.csv: no text column 'text'")
    cases["missing label column"] = (
        csv_file("nolab.csv", "text\nhello\n"), {"label_col": "label"}, r"no label column 'label'")
    cases["binary"] = (
        csv_file("binary.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))),
        {}, r"binary\.csv: this looks like a binary file")
    cases["ragged"] = (
        csv_file("ragged.csv", "text,label\na,shipping\nb,billing,extra\nc,account\n"),
        {"label_col": "label"}, r"ragged\.csv, line 3: 3 fields, expected 2")
    cases["ragged short"] = (
        csv_file("short.csv", "text,label\na,shipping\nb\n"),
        {"label_col": "label"}, r"short\.csv, line 3: 1 fields, expected 2")
    cases["unterminated quote"] = (
        csv_file("quote.csv", 'text,label\na,shipping\n"b is never closed,billing\nc,account\n'),
        {"label_col": "label"}, r"quote\.csv, line 3: unterminated quoted field")
    cases["empty"] = (csv_file("empty.csv", b""), {}, r"empty\.csv: the file is empty")
    cases["header only"] = (csv_file("header.csv", "text,label\n"), {}, r"header\.csv: the file has no data rows")
    cases["undecodable"] = (
        csv_file("bytes.csv", b"text\nfine\nalso fine\nbad \xff\xfe byte\n"), {},
        r"bytes\.csv, line 4: bytes that are not valid utf-8")
    cases["unknown label"] = (
        csv_file("unknown.csv", "text,label\na,shipping\nb,weather\n"), {"label_col": "label"},
        r"unknown\.csv, row 2: label 'weather' is not in the project's labels")
    cases["two labels, single-label"] = (
        csv_file("two.csv", "text,label\na,shipping\nb,shipping|billing\n"), {"label_col": "label"},
        r"two\.csv, row 2: 2 labels \(shipping, billing\) in a single-label project")
    cases["bad json line"] = (
        csv_file("bad.jsonl", '{"text": "ok"}\n{"text": broken}\n'), {}, r"bad\.jsonl, line 2: not valid JSON")
    cases["json not array"] = (
        csv_file("scalar.json", "42"), {}, r"scalar\.json: expected a JSON array")
    cases["bad xlsx"] = (csv_file("fake.xlsx", "not a workbook"), {}, r"fake\.xlsx: cannot read as an Excel")
    cases["bad parquet"] = (
        csv_file("fake.parquet", "not parquet at all"), {}, r"fake\.parquet: cannot read as Parquet")
    cases["unknown encoding"] = (
        csv_file("enc.csv", "text\na\n"), {"encoding": "klingon-8"}, r"unknown encoding 'klingon-8'")
    return cases


BAD_CASES = [
    "missing column", "missing label column", "binary", "ragged", "ragged short",
    "unterminated quote", "empty", "header only", "undecodable", "unknown label",
    "two labels, single-label", "bad json line", "json not array", "bad xlsx", "bad parquet",
    "unknown encoding",
]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_names_problem_and_changes_nothing(project, tmp_path, case):
    seed = write(tmp_path / "seed.csv", ROWS, "csv")
    import_file(project, seed, id_col="id", label_col="label")
    project.annotate(3, ["account"], annotator="ann2")
    before = dump(project.path)
    path, kwargs, pattern = _bad_inputs(tmp_path)[case]
    with pytest.raises(ImportDataError, match=pattern):
        import_file(project, path, **kwargs)
    assert dump(project.path) == before
    assert project.label_names() == ["shipping", "billing", "account"]
    # The connection is still usable and not inside a transaction.
    assert not project.conn.in_transaction
    assert add_texts(project, ["still works"]) == [5]


def test_bad_row_late_in_big_file_rolls_back_everything(project, tmp_path):
    src = tmp_path / "late.csv"
    lines = ["text,label"] + [f"message number {i},shipping" for i in range(2500)]
    lines.append("the last one,nonsense")
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    before = dump(project.path)
    chunks = read_table(src, "csv", chunk_rows=500)
    with pytest.raises(ImportDataError, match="row 2501: label 'nonsense'"):
        import_rows(project, chunks, text_col="text", label_col="label", source=str(src))
    assert dump(project.path) == before


def test_duplicates_within_file_across_chunks_and_against_project(project, tmp_path):
    first = write(tmp_path / "first.csv", [{"text": "Hello   world"}, {"text": "other"}], "csv")
    assert import_file(project, first).added == 2
    rows = [{"text": t} for t in
            ["hello world", "Hello world", " Hello\tworld ", "new one", "new  one", "other", "x"]]
    src = write(tmp_path / "second.csv", rows, "csv")
    report = import_rows(project, read_table(src, "csv", chunk_rows=2), text_col="text")
    # "Hello world" variants and "other" are in the project; "new  one" repeats "new one".
    assert (report.added, report.duplicates) == (3, 4)
    assert [r[0] for r in records(project)] == ["Hello   world", "other", "hello world",
                                                "new one", "x"]
    assert report.new_ids == [3, 4, 5]


def test_import_that_adds_nothing_leaves_no_batch(project, tmp_path):
    src = write(tmp_path / "d.csv", [{"text": "same"}], "csv")
    import_file(project, src)
    before = dump(project.path)
    report = import_file(project, src)
    assert (report.added, report.duplicates, report.batch_id) == (0, 1, None)
    assert dump(project.path) == before


def test_cancel_leaves_project_unchanged(project, tmp_path):
    src = write(tmp_path / "c.csv", [{"text": f"row {i}"} for i in range(50)], "csv")
    before = dump(project.path)
    calls = []

    def stop():
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(Cancelled):
        import_rows(project, read_table(src, "csv", chunk_rows=10), text_col="text",
                    should_stop=stop)
    assert dump(project.path) == before


def test_progress_reports_rows_and_fraction(project, tmp_path):
    src = write(tmp_path / "p.csv", [{"text": f"row {i}"} for i in range(25)], "csv")
    seen = []
    import_rows(project, read_table(src, "csv", chunk_rows=10), text_col="text",
                progress=seen.append)
    assert [p.rows for p in seen] == [10, 20, 25]
    assert seen[-1].fraction == 1.0
    assert all(0 < p.fraction <= 1 for p in seen)


def test_import_rows_accepts_plain_dicts(project):
    report = import_rows(project, [{"t": "a b", "k": 1}, {"t": "c", "k": None}], text_col="t")
    assert report.added == 2
    assert records(project) == [("a b", None, {"k": 1}), ("c", None, {})]


def test_preview_file(tmp_path):
    src = write(tmp_path / "p.jsonl", [{"text": "a", "x": 1}, {"text": "b", "y": 2}], "jsonl")
    columns, rows = preview_file(src)
    assert columns == ["text", "x", "y"]
    assert rows[1] == {"text": "b", "y": 2}


@pytest.mark.parametrize(
    "text",
    ["a  b", " x\u00a0y\u2003z\t\n", "\ufb01 \u2460", "\x1c a \x1f", "Cafe\u0301", "", "\u3000x"],
)
def test_fast_hash_matches_content_hash(text):
    assert _hash(text) == content_hash(text)


@pytest.mark.parametrize(
    "meta",
    [{"a": "b"}, {'k"ey': "va\\l\nue\u2028 é \U0001F600 \x00"}, {"n": 1, "x": "y"},
     {"nested": {"a": [1, 2]}, "s": "t"}],
)
def test_metadata_encoding_matches_json(meta):
    from workbench.core.data.importer import _encode_meta

    encoded = _encode_meta(meta)
    assert json.loads(encoded) == meta
    assert encoded == json.dumps(meta, ensure_ascii=False, separators=(",", ":"))


def test_jsonl_objects_may_omit_optional_fields(project, tmp_path):
    src = tmp_path / "sparse.jsonl"
    src.write_text('{"text": "no label yet"}\n{"text": "late parcel", "label": "shipping", '
                   '"id": 7}\n', encoding="utf-8")
    report = import_file(project, src, id_col="id", label_col="label")
    assert (report.added, report.labelled) == (2, 1)
    assert records(project) == [("no label yet", None, {}), ("late parcel", "7", {})]
    src.write_text('{"text": "x"}\n', encoding="utf-8")
    with pytest.raises(ImportDataError, match="no label column 'label'"):
        import_file(project, src, label_col="label")
