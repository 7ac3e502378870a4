"""Bad inputs that used to leak internals (LookupError, RecursionError, IndexError, ...) or
exhaust memory become one plain sentence naming the file, and the project is unchanged."""
from __future__ import annotations

import io
import json
import zipfile

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from project_dump import project_dump as dump

from workbench.core.data.importer import add_texts, import_file
from workbench.core.data.readers import MAX_COLUMNS, MAX_FIELD_BYTES  # noqa: E402
from workbench.core.errors import ImportDataError
from workbench.core.store.project import Project


@pytest.fixture
def project(tmp_path):
    p = Project.create(tmp_path / "e.wbproj", ["pos", "neg"], multi_label=True)
    add_texts(p, ["already here"])
    yield p
    p.close()


def refused(project, path, pattern, **kwargs) -> str:
    """Import ``path``, expect a one-line ImportDataError matching ``pattern``; project unchanged."""
    before = dump(project.path)
    with pytest.raises(ImportDataError, match=pattern) as info:
        import_file(project, path, **kwargs)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message
    assert path.name in message
    assert info.value.__cause__ is None or info.value.__suppress_context__
    assert dump(project.path) == before
    assert not project.conn.in_transaction
    return message


def test_text_transform_codec_is_not_an_encoding(project, tmp_path):
    path = tmp_path / "rot.csv"
    path.write_text("text\nhello\n", encoding="utf-8")
    refused(project, path, r"rot\.csv: 'rot13' is not a text encoding", encoding="rot13")


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_lone_surrogates_become_replacement_characters(project, tmp_path, fmt):
    rows = [{"text": "broken \ud800 half", "label": "odd\udc00name"},
            {"text": "emoji \U0001F600 fine", "label": "pos"}]
    path = tmp_path / f"sur.{fmt}"
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    else:
        path.write_text(json.dumps(rows), encoding="utf-8")
    report = import_file(project, path, label_col="label", add_labels=True)
    assert report.added == 2
    texts = [r[0] for r in project.db.execute("SELECT text FROM records ORDER BY id")]
    assert texts[1:] == ["broken \ufffd half", "emoji \U0001F600 fine"]
    assert "odd\ufffdname" in project.label_names()


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_deeply_nested_json_is_refused(project, tmp_path, fmt):
    path = tmp_path / f"deep.{fmt}"
    if fmt == "json":
        path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    else:
        path.write_text('{"text": ' + "[" * 100_000 + "]" * 100_000 + "}\n", encoding="utf-8")
    refused(project, path, r"nested too deeply")


def test_nested_label_cell_is_refused(project, tmp_path):
    path = tmp_path / "deeplabel.csv"
    path.write_text("text,label\nhello," + "[" * 50_000 + "]" * 50_000 + "\n", encoding="utf-8")
    refused(project, path, r"deeplabel\.csv, row 1", label_col="label", add_labels=True)


def _xlsx_bytes() -> bytes:
    buf = io.BytesIO()
    pd.DataFrame({"text": ["a", "b"]}).to_excel(buf, index=False)
    return buf.getvalue()


def _rewrite_zip(data: bytes, drop: str = "", edit: dict[str, bytes] | None = None) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            if item.filename == drop:
                continue
            dst.writestr(item, (edit or {}).get(item.filename, src.read(item.filename)))
    return out.getvalue()


def test_xlsx_without_sheets(project, tmp_path):
    data = _xlsx_bytes()
    book = zipfile.ZipFile(io.BytesIO(data)).read("xl/workbook.xml").decode()
    start, end = book.index("<sheets>"), book.index("</sheets>") + len("</sheets>")
    path = tmp_path / "nosheet.xlsx"
    path.write_bytes(_rewrite_zip(data, edit={"xl/workbook.xml": (book[:start] + "<sheets/>"
                                                                  + book[end:]).encode()}))
    refused(project, path, r"nosheet\.xlsx: .*no (work)?sheet")


def test_xlsx_missing_worksheet_part(project, tmp_path):
    path = tmp_path / "nopart.xlsx"
    path.write_bytes(_rewrite_zip(_xlsx_bytes(), drop="xl/worksheets/sheet1.xml"))
    refused(project, path, r"nopart\.xlsx: ")


def _parquet_bytes(n: int = 2000) -> bytes:
    buf = io.BytesIO()
    table = pa.table({"text": [f"row {i} " + "x" * (i % 50) for i in range(n)]})
    pq.write_table(table, buf, row_group_size=500)
    return buf.getvalue()


@pytest.mark.parametrize("cut", [0.5, 0.95])
def test_truncated_parquet_is_one_line(project, tmp_path, cut):
    data = _parquet_bytes()
    path = tmp_path / "cut.parquet"
    path.write_bytes(data[: int(len(data) * cut)])
    refused(project, path, r"cut\.parquet: cannot read as Parquet")


def test_parquet_with_damaged_pages_is_one_line(project, tmp_path):
    data = bytearray(_parquet_bytes())
    for i in range(200, len(data) // 2, 97):
        data[i] ^= 0x5A
    path = tmp_path / "damaged.parquet"
    path.write_bytes(bytes(data))
    refused(project, path, r"damaged\.parquet: ")


@pytest.mark.parametrize("bom_enc", ["utf-32-le", "utf-32-be"])
def test_utf32_with_bom_is_read(project, tmp_path, bom_enc):
    bom = b"\xff\xfe\x00\x00" if bom_enc.endswith("le") else b"\x00\x00\xfe\xff"
    path = tmp_path / "u32.csv"
    path.write_bytes(bom + "text,label\nh\u00e9llo,pos\nworld,neg\n".encode(bom_enc))
    report = import_file(project, path, label_col="label")
    assert report.added == 2
    texts = [r[0] for r in project.db.execute("SELECT text FROM records ORDER BY id")]
    assert texts[1:] == ["h\u00e9llo", "world"]


# ---------------------------------------------------------------- memory bounds (item 7)
BIG = MAX_FIELD_BYTES * 3  # 30 MB: over the limit, still quick to write


def _big_line(tmp_path, name: str, prefix: bytes, suffix: bytes):
    path = tmp_path / name
    with open(path, "wb") as fh:
        fh.write(prefix)
        chunk = b"a" * (1 << 20)
        for _ in range(BIG // len(chunk)):
            fh.write(chunk)
        fh.write(suffix)
    return path


@pytest.mark.parametrize(
    ("name", "prefix", "suffix", "where"),
    [
        ("long.txt", b"short line\n", b"\nlast\n", r"line 2"),
        ("long.jsonl", b'{"text": "ok"}\n{"text": "', b'"}\n', r"line 2"),
        ("long.csv", b"text,label\nok,pos\n", b",neg\n", r"line 3"),
        ("quoted.csv", b'text,label\nok,pos\n"', b'",neg\n', r"line 3"),
        ("long.tsv", b"text\tlabel\nok\tpos\n", b"\tneg\n", r"line 3"),
        ("long.json", b'[{"text": "ok"}, {"text": "', b'"}]', r"row 2"),
    ],
)
def test_record_over_the_limit_is_refused_while_streaming(project, tmp_path, name, prefix,
                                                          suffix, where):
    path = _big_line(tmp_path, name, prefix, suffix)
    msg = refused(project, path, where, label_col=None)
    assert "10 MB" in msg


def test_quoted_csv_field_spanning_many_lines_is_refused(project, tmp_path):
    path = tmp_path / "multiline.csv"
    line = "b" * 1000 + "\n"
    path.write_text('text\nok\n"' + line * (MAX_FIELD_BYTES // 1000 + 10) + '"\n',
                    encoding="utf-8")
    refused(project, path, r"multiline\.csv, line 3.*10 MB")


def test_wide_parquet_is_refused_before_loading(project, tmp_path):
    path = tmp_path / "wide.parquet"
    n = MAX_COLUMNS + 500
    pq.write_table(pa.table({f"c{i}": ["x", "y"] for i in range(n)}), path)
    refused(project, path, rf"wide\.parquet: has {n:,} columns; Workbench imports at most "
                           rf"{MAX_COLUMNS:,}")


def test_wide_xlsx_is_refused(project, tmp_path):
    path = tmp_path / "wide.xlsx"
    n = MAX_COLUMNS + 5
    pd.DataFrame([[f"v{i}" for i in range(n)]], columns=[f"c{i}" for i in range(n)]).to_excel(
        path, index=False)
    refused(project, path, rf"wide\.xlsx: has {n:,} columns; Workbench imports at most")


def test_big_json_object_wrapper_is_refused_with_advice(project, tmp_path):
    path = _big_line(tmp_path, "wrapped.json", b'{"records": [{"text": "', b'"}]}')
    refused(project, path, r"wrapped\.json: .*JSON Lines")
