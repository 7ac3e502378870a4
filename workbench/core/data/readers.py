"""Reading data files in chunks of row dicts: CSV, TSV, JSON Lines, JSON, Excel, Parquet, text.

Every reader streams, so memory stays bounded for large files: a record over
:data:`MAX_FIELD_BYTES` (10 MB of text) or a table over :data:`MAX_COLUMNS` columns is
refused while reading, before it is held in memory. Problems become one-line
:class:`ImportDataError` messages that name the file, the line or row, and what is wrong.
Lone UTF-16 surrogates (``"\ud800"`` in JSON) are replaced by U+FFFD.
"""
from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from workbench.core.data.readers_columnar import clean_value, header_names, read_parquet, read_xlsx
from workbench.core.data.readers_common import (
    CHUNK_CHARS,
    MAX_CELLS_PER_CHUNK,
    MAX_COLUMNS,
    MAX_FIELD_BYTES,
    Chunk,
    check_depth,
    has_escaped_surrogate,
    limit_text,
    nested_too_deeply,
    one_line,
    replace_surrogates,
    too_many_columns,
    without_surrogates,
)
from workbench.core.data.readers_json import MAX_JSON_OBJECT_BYTES, read_json
from workbench.core.errors import ImportDataError

__all__ = [
    "FORMATS",
    "CHUNK_ROWS",
    "Chunk",
    "MAX_COLUMNS",
    "MAX_FIELD_BYTES",
    "MAX_JSON_OBJECT_BYTES",
    "detect_format",
    "read_table",
    "clean_value",
]

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
#: Codecs (by their canonical name's start) that cannot decode to a lone surrogate.
_SURROGATE_FREE = ("utf-8", "utf-16", "utf-32", "ascii", "latin-1", "iso8859", "cp", "mac",
                   "koi8", "big5", "gb", "euc", "shift", "johab", "hz", "kz", "ptcp", "tis")


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


def _sniff_encoding(path: Path, encoding: str | None) -> str:
    """The encoding to use: the given one, UTF-16 when the file has its BOM, else UTF-8(-BOM)."""
    if encoding:
        try:
            info = codecs.lookup(encoding)
        except (LookupError, ValueError, TypeError):
            raise ImportDataError(f"{path.name}: unknown encoding {encoding!r}.") from None
        if not getattr(info, "_is_text_encoding", True):
            raise ImportDataError(
                f"{path.name}: {encoding!r} is not a text encoding; pass one such as utf-8, "
                "latin-1 or cp1252."
            )
        return encoding
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "utf-32"
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
    """Line number (1-based) and reason of the first bytes that do not decode (read in
    blocks, so a huge single line is never held whole)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    lines = 0
    with open(path, "rb") as fh:
        while True:
            block = fh.read(1 << 20)
            state = decoder.getstate()
            try:
                lines += decoder.decode(block, final=not block).count("\n")
            except UnicodeError as exc:
                if not isinstance(exc, UnicodeDecodeError):  # e.g. UTF-16 without a BOM
                    return lines + 1, one_line(exc)
                decoder.setstate(state)
                good = block[: max(0, exc.start - len(state[0]))]
                try:
                    lines += decoder.decode(good).count("\n")
                except UnicodeError:
                    pass
                return lines + 1, exc.reason
            if not block:
                return 0, "invalid bytes"


def _lines(fh: Any, name: str, fix_surrogates: bool) -> Iterator[str]:
    """The lines of a text file, refusing (before reading it all) one over the limit."""
    limit = MAX_FIELD_BYTES
    lineno = 0
    while True:
        line = fh.readline(limit + 2)
        if not line:
            return
        lineno += 1
        if len(line) > limit and len(line.rstrip("\r\n")) > limit:
            raise ImportDataError(
                f"{name}, line {lineno}: longer than {limit_text()}; Workbench imports at most "
                f"{limit_text()} of text per record (split it, or shorten that line)."
            )
        yield replace_surrogates(line) if fix_surrogates else line


def _may_give_surrogates(enc: str) -> bool:
    return not codecs.lookup(enc).name.startswith(_SURROGATE_FREE)


def _read_csv(path: Path, enc: str, delimiter: str, chunk_rows: int) -> Iterator[Chunk]:
    name = path.name
    kind = "TSV" if delimiter == "\t" else "CSV"
    size = max(path.stat().st_size, 1)
    # A quoted field may span lines: the field limit bounds it (the line limit cannot).
    csv.field_size_limit(MAX_FIELD_BYTES)
    with open(path, "rb") as raw:
        text = io.TextIOWrapper(raw, encoding=enc, newline="")
        lines = _lines(text, name, _may_give_surrogates(enc))
        reader = csv.reader(lines, delimiter=delimiter, strict=True)
        line_before = 0

        def failure(exc: csv.Error) -> ImportDataError:
            msg = str(exc)
            where = f"{name}, line {line_before + 1}"
            if "unexpected end of data" in msg or "EOF" in msg:
                return ImportDataError(
                    f"{where}: unterminated quoted field (a quote opened there is never "
                    "closed)."
                )
            if "field larger than field limit" in msg:
                return ImportDataError(
                    f"{where}: a field longer than {limit_text()}; Workbench imports at most "
                    f"{limit_text()} of text per record."
                )
            return ImportDataError(f"{where}: malformed {kind} ({msg}).")

        try:
            header_raw = next(reader, None)
            while header_raw is not None and not any(c.strip() for c in header_raw):
                line_before = reader.line_num
                header_raw = next(reader, None)  # leading blank lines
        except csv.Error as exc:
            raise failure(exc) from None
        if header_raw is None:
            raise ImportDataError(f"{name}: the file is empty.")
        if len(header_raw) > MAX_COLUMNS:
            raise ImportDataError(too_many_columns(name, len(header_raw)))
        header = header_names(header_raw)
        width = len(header)
        per_chunk = max(1, min(chunk_rows, MAX_CELLS_PER_CHUNK // width))
        chunk: list[dict[str, Any]] = []
        row_no = start = 1
        line_before = reader.line_num
        chunk_from = raw.tell()
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                raise failure(exc) from None
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
            if len(chunk) >= per_chunk or (
                not len(chunk) & 255 and raw.tell() - chunk_from > CHUNK_CHARS
            ):
                yield chunk, start, min(1.0, raw.tell() / size)
                row_no += len(chunk)
                chunk, start, chunk_from = [], row_no, raw.tell()
        if chunk:
            yield chunk, start, 1.0


def _parse_json_line(line: str, name: str, lineno: int) -> dict[str, Any]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ImportDataError(f"{name}, line {lineno}: not valid JSON ({exc.msg}).") from None
    except RecursionError:
        raise ImportDataError(nested_too_deeply(name, f"line {lineno}")) from None
    if not isinstance(obj, dict):
        raise ImportDataError(f"{name}, line {lineno}: expected a JSON object.")
    if len(obj) > MAX_COLUMNS:
        raise ImportDataError(
            f"{name}, line {lineno}: has {len(obj):,} fields; Workbench imports at most "
            f"{MAX_COLUMNS:,} columns."
        )
    check_depth(obj, line, 0, len(line), name, f"line {lineno}")
    if has_escaped_surrogate(line):
        obj = without_surrogates(obj)
    return obj


def _read_lines(path: Path, enc: str, chunk_rows: int, as_json: bool) -> Iterator[Chunk]:
    name = path.name
    chunk: list[dict[str, Any]] = []
    chars = 0
    row_no = start = 1
    with open(path, encoding=enc, newline=None) as fh:
        lines = _lines(fh, name, _may_give_surrogates(enc))
        for lineno, line in enumerate(lines, start=1):
            if as_json:
                if not line.strip():
                    continue
                chunk.append(_parse_json_line(line, name, lineno))
            else:
                chunk.append({"text": line.rstrip("\r\n")})
            chars += len(line)
            row_no += 1
            if len(chunk) >= chunk_rows or chars >= CHUNK_CHARS:
                yield chunk, start, None
                chunk, chars, start = [], 0, row_no
    if chunk:
        yield chunk, start, 1.0


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
        yield from (read_xlsx(path, chunk_rows) if fmt == "xlsx" else read_parquet(path, chunk_rows))
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
            yield from read_json(path, enc, chunk_rows)
        else:  # pragma: no cover - detect_format guards this
            raise ImportDataError(f"{name}: unsupported format {fmt}.")
    except UnicodeError:
        line, reason = _find_bad_line(path, enc)
        where = f"line {line}" if line else "somewhere in the file"
        raise ImportDataError(
            f"{name}, {where}: bytes that are not valid {enc} ({reason}); "
            "pass --encoding (e.g. latin-1 or cp1252)."
        ) from None
