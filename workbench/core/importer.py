"""Importing records (and optional labels) from data files into a project.

Files are read in chunks so memory stays bounded. An import is one transaction: on any
error, or when cancelled, the project is left exactly as it was.
"""
from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.core.errors import Cancelled, ImportDataError, WorkbenchError
from workbench.core.project import Project, default_annotator, now_iso
from workbench.core.textnorm import content_hash

__all__ = [
    "FORMATS",
    "ImportProgress",
    "ImportReport",
    "detect_format",
    "read_table",
    "preview_file",
    "import_file",
    "import_rows",
]

log = logging.getLogger(__name__)

#: File suffix -> format name.
FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".xlsx": "xlsx",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".txt": "txt",
}
CHUNK_ROWS = 20_000
_LABEL_SPLIT = re.compile(r"\s*[|;,]\s*")


@dataclass(frozen=True)
class ImportProgress:
    """Progress of an import: rows read so far and, when known, the fraction of the file."""

    rows: int
    fraction: float | None = None


@dataclass
class ImportReport:
    """What an import did."""

    file: str
    added: int = 0
    duplicates: int = 0
    empty: int = 0
    labelled: int = 0
    batch_id: int | None = None
    new_labels: list[str] = field(default_factory=list)
    new_ids: list[int] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{self.added} records added"]
        if self.labelled:
            parts.append(f"{self.labelled} with labels")
        if self.duplicates:
            parts.append(f"{self.duplicates} duplicates skipped")
        if self.empty:
            parts.append(f"{self.empty} empty texts skipped")
        return ", ".join(parts)


def detect_format(path: Path, fmt: str | None = None) -> str:
    """The format name for a file, from ``fmt`` or the suffix."""
    if fmt:
        fmt = fmt.lower().lstrip(".")
        if fmt in ("excel", "xls"):
            fmt = "xlsx"
        if fmt not in set(FORMATS.values()):
            raise ImportDataError(
                f"{path.name}: unknown format {fmt!r} (use one of: {', '.join(sorted(set(FORMATS.values())))})."
            )
        return fmt
    found = FORMATS.get(path.suffix.lower())
    if found is None:
        raise ImportDataError(
            f"{path.name}: cannot tell the format from the suffix {path.suffix!r}; "
            "pass --format (csv, tsv, jsonl, json, xlsx, parquet, txt)."
        )
    return found


def _looks_binary(path: Path, fmt: str) -> bool:
    if fmt in ("xlsx", "parquet"):
        return False
    with open(path, "rb") as fh:
        head = fh.read(8192)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 text: needs --encoding
        return False
    return b"\x00" in head


def _find_bad_line(path: Path, encoding: str) -> tuple[int, str]:
    """Line number (1-based) and reason of the first line that does not decode."""
    import codecs

    decoder = codecs.getincrementaldecoder(encoding)()
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                decoder.decode(raw)
            except UnicodeDecodeError as exc:
                return lineno, exc.reason
    return 0, "invalid bytes"


def _clean(value: Any) -> Any:
    """Make a cell JSON-friendly: NaN -> None, numpy scalars -> Python values."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        try:
            return value.item()
        except (ValueError, AttributeError):
            pass
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def read_table(
    path: Path,
    fmt: str,
    encoding: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[tuple[list[dict[str, Any]], int, float | None]]:
    """Yield ``(rows, first_row_number, fraction_done)`` chunks of a data file.

    Row numbers are 1-based data rows (the header is not counted). Raises
    :class:`ImportDataError` naming the file, row and problem for unreadable input.
    """
    import pandas as pd

    name = path.name
    enc = encoding or "utf-8-sig"
    size = max(path.stat().st_size, 1)
    if size <= 1 and path.stat().st_size == 0:
        raise ImportDataError(f"{name}: the file is empty.")
    if _looks_binary(path, fmt):
        raise ImportDataError(f"{name}: this looks like a binary file, not {fmt.upper()} text.")
    row_no = 1
    try:
        if fmt in ("csv", "tsv"):
            try:
                reader = pd.read_csv(
                    path,
                    sep="\t" if fmt == "tsv" else ",",
                    dtype=str,
                    keep_default_na=False,
                    encoding=enc,
                    chunksize=chunk_rows,
                    engine="c",
                    on_bad_lines="error",
                )
            except pd.errors.EmptyDataError:
                raise ImportDataError(f"{name}: the file is empty.") from None
            with reader:
                for frame in reader:
                    frame.columns = [str(c) for c in frame.columns]
                    rows = frame.to_dict("records")
                    yield rows, row_no, None
                    row_no += len(rows)
        elif fmt == "txt":
            with open(path, encoding=enc, newline=None) as fh:
                chunk: list[dict[str, Any]] = []
                start = row_no
                for line in fh:
                    chunk.append({"text": line.rstrip("\r\n")})
                    row_no += 1
                    if len(chunk) >= chunk_rows:
                        yield chunk, start, None
                        chunk, start = [], row_no
                if chunk:
                    yield chunk, start, None
        elif fmt == "jsonl":
            with open(path, encoding=enc) as fh:
                chunk = []
                start = row_no
                for lineno, line in enumerate(fh, start=1):
                    if not line.strip():
                        continue
                    try:
                        obj = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise ImportDataError(
                            f"{name}, line {lineno}: not valid JSON ({exc.msg})."
                        ) from None
                    if not isinstance(obj, dict):
                        raise ImportDataError(f"{name}, line {lineno}: expected a JSON object.")
                    chunk.append(obj)
                    row_no += 1
                    if len(chunk) >= chunk_rows:
                        yield chunk, start, None
                        chunk, start = [], row_no
                if chunk:
                    yield chunk, start, None
        elif fmt == "json":
            with open(path, encoding=enc) as fh:
                try:
                    data = json.load(fh)
                except json.JSONDecodeError as exc:
                    raise ImportDataError(
                        f"{name}, line {exc.lineno}: not valid JSON ({exc.msg})."
                    ) from None
            if isinstance(data, dict):
                # {"records": [...]} or {"data": [...]} wrappers are common.
                lists = [v for v in data.values() if isinstance(v, list)]
                if len(lists) != 1:
                    raise ImportDataError(f"{name}: expected a JSON array of objects.")
                data = lists[0]
            if not isinstance(data, list):
                raise ImportDataError(f"{name}: expected a JSON array of objects.")
            for i, obj in enumerate(data, start=1):
                if not isinstance(obj, dict):
                    raise ImportDataError(f"{name}, row {i}: expected a JSON object.")
            for start in range(0, len(data), chunk_rows):
                yield data[start : start + chunk_rows], start + 1, None
        elif fmt == "xlsx":
            try:
                frame = pd.read_excel(path, dtype=object, engine="openpyxl")
            except Exception as exc:  # openpyxl raises many types for a bad workbook
                raise ImportDataError(f"{name}: cannot read as an Excel workbook ({exc}).") from None
            frame.columns = [str(c) for c in frame.columns]
            rows = [{k: _clean(v) for k, v in r.items()} for r in frame.to_dict("records")]
            for start in range(0, len(rows), chunk_rows):
                yield rows[start : start + chunk_rows], start + 1, None
        elif fmt == "parquet":
            import pyarrow.parquet as pq

            try:
                pf = pq.ParquetFile(path)
            except Exception as exc:
                raise ImportDataError(f"{name}: cannot read as Parquet ({exc}).") from None
            total = max(pf.metadata.num_rows, 1)
            for batch in pf.iter_batches(batch_size=chunk_rows):
                rows = [{k: _clean(v) for k, v in r.items()} for r in batch.to_pylist()]
                yield rows, row_no, min(1.0, (row_no + len(rows) - 1) / total)
                row_no += len(rows)
        else:  # pragma: no cover - detect_format guards this
            raise ImportDataError(f"{name}: unsupported format {fmt}.")
    except UnicodeDecodeError:
        line, reason = _find_bad_line(path, enc)
        where = f"line {line}" if line else "somewhere"
        raise ImportDataError(
            f"{name}, {where}: bytes that are not valid {enc} ({reason}); "
            "pass --encoding (e.g. latin-1 or cp1252)."
        ) from None
    except LookupError:
        raise ImportDataError(f"{name}: unknown encoding {enc!r}.") from None
    except pd.errors.ParserError as exc:
        raise ImportDataError(f"{name}: malformed {fmt.upper()} ({_parser_message(exc)}).") from None


def _parser_message(exc: Exception) -> str:
    msg = str(exc).strip()
    m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", msg)
    if m:
        return f"line {m.group(2)} has {m.group(3)} fields, expected {m.group(1)}"
    m = re.search(r"EOF inside string starting at row (\d+)", msg)
    if m:
        return f"unterminated quoted field starting at line {int(m.group(1)) + 1}"
    return msg.replace("Error tokenizing data. C error: ", "")


def preview_file(
    path: str | Path, fmt: str | None = None, encoding: str | None = None, rows: int = 20
) -> tuple[list[str], list[dict[str, Any]]]:
    """Column names and the first ``rows`` rows of a file (for the import wizard)."""
    path = Path(path)
    if not path.exists():
        raise ImportDataError(f"{path}: no such file.")
    fmt = detect_format(path, fmt)
    for chunk, _start, _frac in read_table(path, fmt, encoding, chunk_rows=rows):
        columns: list[str] = []
        for row in chunk:
            for key in row:
                if key not in columns:
                    columns.append(key)
        return columns, chunk[:rows]
    raise ImportDataError(f"{path.name}: the file has no rows.")


def _split_labels(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    text = str(value).strip()
    if not text:
        return []
    if text.startswith("[") and text.endswith("]"):
        try:
            parsed = json.loads(text)
            if isinstance(parsed, list):
                return [str(v).strip() for v in parsed if str(v).strip()]
        except json.JSONDecodeError:
            pass
    return [p for p in _LABEL_SPLIT.split(text) if p]


def import_rows(
    project: Project,
    chunks: Iterable[dict[str, Any]] | Iterable[tuple[list[dict[str, Any]], int, float | None]],
    *,
    text_col: str,
    id_col: str | None = None,
    label_col: str | None = None,
    source: str = "",
    fmt: str = "",
    add_labels: bool = False,
    annotator: str | None = None,
    progress: Callable[[ImportProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ImportReport:
    """Import rows (dicts, or chunks from :func:`read_table`) in one transaction."""
    name = Path(source).name if source else "input"
    report = ImportReport(file=source)
    annotator = annotator or default_annotator()
    multi = project.multi_label
    label_ids = {lab.name: lab.id for lab in project.labels()}
    conn = project.conn
    now = now_iso()
    columns_checked = False
    rows_done = 0

    def as_chunks() -> Iterator[tuple[list[dict[str, Any]], int, float | None]]:
        it = iter(chunks)
        buf: list[dict[str, Any]] = []
        start = 1
        for item in it:
            if isinstance(item, tuple):
                yield item
                continue
            buf.append(item)
            if len(buf) >= CHUNK_ROWS:
                yield buf, start, None
                start += len(buf)
                buf = []
        if buf:
            yield buf, start, None

    try:
        with project.db.atomic():
            batch_id = conn.execute(
                "INSERT INTO import_batches(source, format, created_at, n_records) VALUES (?, ?, ?, 0)",
                [source, fmt, now],
            ).lastrowid
            report.batch_id = batch_id
            next_id = project.max_record_id() + 1
            for rows, first_row, fraction in as_chunks():
                if should_stop is not None and should_stop():
                    raise Cancelled("Import cancelled; the project is unchanged.")
                if not rows:
                    continue
                if not columns_checked:
                    present = list(rows[0].keys())
                    for role, col in (("text", text_col), ("id", id_col), ("label", label_col)):
                        if col is not None and col not in present:
                            raise ImportDataError(
                                f"{name}: no {role} column {col!r}; the columns are: "
                                + ", ".join(repr(c) for c in present)
                                + "."
                            )
                    columns_checked = True
                keep = {text_col, id_col, label_col}
                pending: dict[str, tuple] = {}
                pending_labels: dict[str, tuple[int, list[str]]] = {}
                for offset, row in enumerate(rows):
                    row_no = first_row + offset
                    if text_col not in row:
                        raise ImportDataError(f"{name}, row {row_no}: no {text_col!r} field.")
                    text = row[text_col]
                    if text is None or (isinstance(text, float) and math.isnan(text)):
                        report.empty += 1
                        continue
                    if not isinstance(text, str):
                        text = str(_clean(text))
                    if not text.strip():
                        report.empty += 1
                        continue
                    h = content_hash(text)
                    if h in pending:
                        report.duplicates += 1
                        continue
                    ext = row.get(id_col) if id_col else None
                    ext = None if ext is None or ext == "" else str(_clean(ext))
                    meta = {k: _clean(v) for k, v in row.items() if k not in keep}
                    meta = {k: v for k, v in meta.items() if v not in (None, "")}
                    pending[h] = (text, ext, json.dumps(meta, ensure_ascii=False) if meta else None, row_no)
                    if label_col:
                        names = _split_labels(row.get(label_col))
                        if names:
                            if len(names) > 1 and not multi:
                                raise ImportDataError(
                                    f"{name}, row {row_no}: {len(names)} labels ({', '.join(names)}) "
                                    "in a single-label project."
                                )
                            for n in names:
                                if n not in label_ids:
                                    if not add_labels:
                                        raise ImportDataError(
                                            f"{name}, row {row_no}: label {n!r} is not in the project's "
                                            f"labels ({', '.join(label_ids) or 'none'})."
                                        )
                                    project._label_cache = None
                                    label_ids[n] = project.add_label(n).id
                                    report.new_labels.append(n)
                            pending_labels[h] = (row_no, names)
                if pending:
                    hashes = list(pending)
                    existing = {
                        r[0]
                        for r in conn.execute(
                            "SELECT hash FROM records WHERE hash IN (SELECT value FROM json_each(?))",
                            [json.dumps(hashes)],
                        )
                    }
                    report.duplicates += len(existing)
                    inserts = []
                    ann_rows = []
                    for h in hashes:
                        if h in existing:
                            continue
                        text, ext, meta, _row_no = pending[h]
                        inserts.append((next_id, ext, text, meta, h, batch_id))
                        if h in pending_labels:
                            ann_rows.append((next_id, pending_labels[h][1]))
                        report.new_ids.append(next_id)
                        next_id += 1
                    conn.executemany(
                        "INSERT INTO records(id, external_id, text, meta, hash, batch_id) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        inserts,
                    )
                    report.added += len(inserts)
                    if ann_rows:
                        _insert_annotations(conn, ann_rows, label_ids, annotator, now)
                        report.labelled += len(ann_rows)
                rows_done += len(rows)
                if progress is not None:
                    progress(ImportProgress(rows_done, fraction))
            if should_stop is not None and should_stop():
                raise Cancelled("Import cancelled; the project is unchanged.")
            conn.execute(
                "INSERT INTO records_fts(rowid, text) SELECT id, text FROM records WHERE batch_id = ?",
                [batch_id],
            )
            conn.execute(
                "UPDATE import_batches SET n_records = ? WHERE id = ?", [report.added, batch_id]
            )
    except WorkbenchError:
        project._label_cache = None
        raise
    except Exception:
        project._label_cache = None
        raise
    project._label_cache = None
    if rows_done == 0 and report.empty == 0:
        raise ImportDataError(f"{name}: the file has no data rows.")
    return report


def _insert_annotations(conn, ann_rows, label_ids, annotator, now) -> None:
    cur = conn.cursor()
    for record_id, names in ann_rows:
        ann_id = cur.execute(
            "INSERT INTO annotations(record_id, annotator, status, provenance, created_at, updated_at) "
            "VALUES (?, ?, 'labelled', 'imported', ?, ?)",
            [record_id, annotator, now, now],
        ).lastrowid
        cur.executemany(
            "INSERT INTO annotation_labels(annotation_id, label_id) VALUES (?, ?)",
            [(ann_id, label_ids[n]) for n in dict.fromkeys(names)],
        )


def import_file(
    project: Project,
    path: str | Path,
    *,
    text_col: str = "text",
    id_col: str | None = None,
    label_col: str | None = None,
    fmt: str | None = None,
    encoding: str | None = None,
    add_labels: bool = False,
    annotator: str | None = None,
    progress: Callable[[ImportProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ImportReport:
    """Import a data file into the project in one transaction (all or nothing)."""
    path = Path(path)
    if not path.exists():
        raise ImportDataError(f"{path}: no such file.")
    if path.is_dir():
        raise ImportDataError(f"{path} is a folder, not a data file.")
    if path.stat().st_size == 0:
        raise ImportDataError(f"{path.name}: the file is empty.")
    fmt = detect_format(path, fmt)
    if fmt == "txt":
        text_col = "text"
        id_col = label_col = None
    chunks = read_table(path, fmt, encoding)
    return import_rows(
        project,
        chunks,
        text_col=text_col,
        id_col=id_col,
        label_col=label_col,
        source=str(path),
        fmt=fmt,
        add_labels=add_labels,
        annotator=annotator,
        progress=progress,
        should_stop=should_stop,
    )
