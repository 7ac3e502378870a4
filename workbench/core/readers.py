"""Reading data files in chunks of row dicts: CSV, TSV, JSON Lines, JSON, Excel, Parquet, text.

Every reader streams (except a JSON array, which is one document), so memory stays bounded
for large files. Problems become :class:`ImportDataError` messages that name the file, the
line or row, and what is wrong.
"""
from __future__ import annotations

import codecs
import csv
import io
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from workbench.core.errors import ImportDataError

__all__ = ["FORMATS", "CHUNK_ROWS", "Chunk", "detect_format", "read_table", "clean_value"]

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
#: (rows, number of the first row (1-based, header not counted), fraction of the file read)
Chunk = tuple[list[dict[str, Any]], int, "float | None"]


def detect_format(path: Path, fmt: str | None = None) -> str:
    """The format name for a file, from ``fmt`` or the suffix."""
    names = sorted(set(FORMATS.values()))
    if fmt:
        fmt = fmt.lower().lstrip(".")
        if fmt in ("excel", "xls"):
            fmt = "xlsx"
        if fmt == "ndjson":
            fmt = "jsonl"
        if fmt not in names:
            raise ImportDataError(
                f"{path.name}: unknown format {fmt!r} (use one of: {', '.join(names)})."
            )
        return fmt
    found = FORMATS.get(path.suffix.lower())
    if found is None:
        raise ImportDataError(
            f"{path.name}: cannot tell the format from the suffix {path.suffix!r}; "
            f"pass --format ({', '.join(names)})."
        )
    return found


def clean_value(value: Any) -> Any:
    """Make a cell JSON-friendly: NaN -> None, numpy/pyarrow scalars -> Python values."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, (list, dict)):
        try:
            return clean_value(value.item())
        except (ValueError, AttributeError):
            pass
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, (list, tuple)):
        return [clean_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): clean_value(v) for k, v in value.items()}
    return str(value)


def _sniff_encoding(path: Path, encoding: str | None) -> str:
    """The encoding to use: the given one, UTF-16 when the file has its BOM, else UTF-8(-BOM)."""
    if encoding:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ImportDataError(f"{path.name}: unknown encoding {encoding!r}.") from None
        return encoding
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    return "utf-8-sig"


def _looks_binary(path: Path, encoding: str) -> bool:
    if encoding.lower().replace("-", "").replace("_", "").startswith(("utf16", "utf32")):
        return False
    with open(path, "rb") as fh:
        head = fh.read(8192)
    return b"\x00" in head


def _find_bad_line(path: Path, encoding: str) -> tuple[int, str]:
    """Line number (1-based) and reason of the first line that does not decode."""
    decoder = codecs.getincrementaldecoder(encoding)()
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                decoder.decode(raw)
            except UnicodeDecodeError as exc:
                return lineno, exc.reason
    return 0, "invalid bytes"


def _header_names(raw: list[Any]) -> list[str]:
    """Column names: blanks become ``Unnamed: i`` (as pandas names an index column), repeats
    get a ``.1``, ``.2`` suffix."""
    names: list[str] = []
    seen: set[str] = set()
    for i, value in enumerate(raw):
        name = "" if value is None else str(value).strip()
        if not name:
            name = f"Unnamed: {i}"
        base, n = name, 0
        while name in seen:
            n += 1
            name = f"{base}.{n}"
        seen.add(name)
        names.append(name)
    return names


def _read_csv(path: Path, enc: str, delimiter: str, chunk_rows: int) -> Iterator[Chunk]:
    name = path.name
    kind = "TSV" if delimiter == "\t" else "CSV"
    size = max(path.stat().st_size, 1)
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))
    with open(path, "rb") as raw:
        text = io.TextIOWrapper(raw, encoding=enc, newline="")
        reader = csv.reader(text, delimiter=delimiter, strict=True)
        try:
            header_raw = next(reader, None)
        except csv.Error as exc:
            raise ImportDataError(f"{name}, line 1: malformed {kind} header ({exc}).") from None
        while header_raw is not None and not any(c.strip() for c in header_raw):
            header_raw = next(reader, None)  # leading blank lines
        if header_raw is None:
            raise ImportDataError(f"{name}: the file is empty.")
        header = _header_names(header_raw)
        width = len(header)
        chunk: list[dict[str, Any]] = []
        row_no = start = 1
        line_before = reader.line_num
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                where = line_before + 1
                msg = str(exc)
                if "unexpected end of data" in msg or "EOF" in msg:
                    raise ImportDataError(
                        f"{name}, line {where}: unterminated quoted field (a quote opened "
                        "there is never closed)."
                    ) from None
                raise ImportDataError(f"{name}, line {where}: malformed {kind} ({msg}).") from None
            if len(fields) != width:
                if not fields or (len(fields) == 1 and not fields[0].strip()):
                    line_before = reader.line_num
                    continue  # blank line
                raise ImportDataError(
                    f"{name}, line {line_before + 1}: {len(fields)} fields, expected {width} "
                    f"as in the header (ragged {kind})."
                )
            line_before = reader.line_num
            chunk.append(dict(zip(header, fields, strict=True)))
            if len(chunk) >= chunk_rows:
                yield chunk, start, min(1.0, raw.tell() / size)
                row_no += len(chunk)
                chunk, start = [], row_no
        if chunk:
            yield chunk, start, 1.0


def _read_lines(path: Path, enc: str, chunk_rows: int, as_json: bool) -> Iterator[Chunk]:
    name = path.name
    chunk: list[dict[str, Any]] = []
    row_no = start = 1
    with open(path, encoding=enc, newline=None) as fh:
        for lineno, line in enumerate(fh, start=1):
            if as_json:
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
            else:
                chunk.append({"text": line.rstrip("\r\n")})
            row_no += 1
            if len(chunk) >= chunk_rows:
                yield chunk, start, None
                chunk, start = [], row_no
    if chunk:
        yield chunk, start, 1.0


def _read_json(path: Path, enc: str, chunk_rows: int) -> Iterator[Chunk]:
    name = path.name
    with open(path, encoding=enc) as fh:
        try:
            data = json.load(fh)
        except json.JSONDecodeError as exc:
            raise ImportDataError(f"{name}, line {exc.lineno}: not valid JSON ({exc.msg}).") from None
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
    total = max(len(data), 1)
    for start in range(0, len(data), chunk_rows):
        part = data[start : start + chunk_rows]
        yield part, start + 1, min(1.0, (start + len(part)) / total)


def _read_xlsx(path: Path, chunk_rows: int) -> Iterator[Chunk]:
    import openpyxl

    name = path.name
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a bad workbook
        raise ImportDataError(f"{name}: cannot read as an Excel workbook ({exc}).") from None
    try:
        sheet = book.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header_raw = None
        for values in rows:
            if any(v is not None and str(v).strip() for v in values):
                header_raw = list(values)
                break
        if header_raw is None:
            raise ImportDataError(f"{name}: the first sheet is empty.")
        # Trailing empty header cells are just the sheet's width, not columns.
        while header_raw and (header_raw[-1] is None or not str(header_raw[-1]).strip()):
            header_raw.pop()
        header = _header_names(header_raw)
        width = len(header)
        chunk: list[dict[str, Any]] = []
        row_no = start = 1
        for values in rows:
            if all(v is None for v in values):
                continue
            cells = list(values[:width]) + [None] * (width - len(values))
            chunk.append({k: clean_value(v) for k, v in zip(header, cells, strict=True)})
            row_no += 1
            if len(chunk) >= chunk_rows:
                yield chunk, start, None
                chunk, start = [], row_no
        if chunk:
            yield chunk, start, 1.0
    finally:
        book.close()


def _read_parquet(path: Path, chunk_rows: int) -> Iterator[Chunk]:
    import pyarrow.parquet as pq

    name = path.name
    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:
        raise ImportDataError(f"{name}: cannot read as Parquet ({exc}).") from None
    total = max(pf.metadata.num_rows, 1)
    row_no = 1
    for batch in pf.iter_batches(batch_size=chunk_rows):
        rows = [{k: clean_value(v) for k, v in r.items()} for r in batch.to_pylist()]
        yield rows, row_no, min(1.0, (row_no + len(rows) - 1) / total)
        row_no += len(rows)


def read_table(
    path: Path,
    fmt: str,
    encoding: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[Chunk]:
    """Yield ``(rows, first_row_number, fraction_done)`` chunks of a data file.

    Row numbers are 1-based data rows (the header is not counted). Raises
    :class:`ImportDataError` naming the file, line or row and the problem for bad input.
    """
    path = Path(path)
    name = path.name
    if not path.exists():
        raise ImportDataError(f"{path}: no such file.")
    if path.stat().st_size == 0:
        raise ImportDataError(f"{name}: the file is empty.")
    if fmt in ("xlsx", "parquet"):
        yield from (_read_xlsx(path, chunk_rows) if fmt == "xlsx" else _read_parquet(path, chunk_rows))
        return
    enc = _sniff_encoding(path, encoding)
    if _looks_binary(path, enc):
        raise ImportDataError(f"{name}: this looks like a binary file, not {fmt.upper()} text.")
    try:
        if fmt in ("csv", "tsv"):
            yield from _read_csv(path, enc, "\t" if fmt == "tsv" else ",", chunk_rows)
        elif fmt in ("txt", "jsonl"):
            yield from _read_lines(path, enc, chunk_rows, as_json=fmt == "jsonl")
        elif fmt == "json":
            yield from _read_json(path, enc, chunk_rows)
        else:  # pragma: no cover - detect_format guards this
            raise ImportDataError(f"{name}: unsupported format {fmt}.")
    except UnicodeError:
        line, reason = _find_bad_line(path, enc)
        where = f"line {line}" if line else "somewhere in the file"
        raise ImportDataError(
            f"{name}, {where}: bytes that are not valid {enc} ({reason}); "
            "pass --encoding (e.g. latin-1 or cp1252)."
        ) from None
