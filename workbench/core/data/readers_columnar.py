"""Readers for binary table formats: Excel (.xlsx, first sheet) and Parquet.

Both stream rows; a file with more than :data:`MAX_COLUMNS` columns is refused before its
rows are read, and every library error becomes a one-line :class:`ImportDataError`.
"""
from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from workbench.core.data.readers_common import (
    CHUNK_CHARS,
    MAX_CELLS_PER_CHUNK,
    MAX_COLUMNS,
    MAX_FIELD_BYTES,
    Chunk,
    limit_text,
    one_line,
    too_many_columns,
)
from workbench.core.errors import ImportDataError

__all__ = ["MAX_XLSX_TEXT_BYTES", "read_xlsx", "read_parquet", "header_names", "clean_value"]

#: openpyxl holds an Excel file's shared strings in memory: their XML is capped.
MAX_XLSX_TEXT_BYTES = 256 * 2**20


def clean_value(value: Any) -> Any:
    """Make a cell JSON-friendly: NaN -> None, numpy/pyarrow scalars -> Python values."""
    import math

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


def header_names(raw: list[Any]) -> list[str]:
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


def _check_xlsx_parts(path: Path) -> None:
    name = path.name
    try:
        with zipfile.ZipFile(path) as zf:
            text = sum(i.file_size for i in zf.infolist()
                       if i.filename.lower().endswith("sharedstrings.xml"))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise ImportDataError(
            f"{name}: cannot read as an Excel workbook ({one_line(exc)})."
        ) from None
    if text > MAX_XLSX_TEXT_BYTES:
        raise ImportDataError(
            f"{name}: holds {text / 2**20:,.0f} MB of text; Workbench reads at most "
            f"{MAX_XLSX_TEXT_BYTES // 2**20} MB from an Excel file; save it as CSV instead."
        )


def _xlsx_rows(path: Path, chunk_rows: int) -> Iterator[Chunk]:
    import openpyxl

    name = path.name
    _check_xlsx_parts(path)
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        if not book.worksheets:
            raise ImportDataError(f"{name}: the workbook has no worksheet.")
        rows = book.worksheets[0].iter_rows(values_only=True)
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
        if len(header_raw) > MAX_COLUMNS:
            raise ImportDataError(too_many_columns(name, len(header_raw)))
        header = header_names(header_raw)
        width = len(header)
        per_chunk = max(1, min(chunk_rows, MAX_CELLS_PER_CHUNK // max(width, 1)))
        chunk: list[dict[str, Any]] = []
        row_no = start = 1
        for values in rows:
            if all(v is None for v in values):
                continue
            cells = list(values[:width]) + [None] * (width - len(values))
            for v in cells:
                if isinstance(v, str) and len(v) > MAX_FIELD_BYTES:
                    raise ImportDataError(
                        f"{name}, row {row_no}: a cell longer than {limit_text()}; Workbench "
                        f"imports at most {limit_text()} of text per record."
                    )
            chunk.append({k: clean_value(v) for k, v in zip(header, cells, strict=True)})
            row_no += 1
            if len(chunk) >= per_chunk:
                yield chunk, start, None
                chunk, start = [], row_no
        if chunk:
            yield chunk, start, 1.0
    finally:
        book.close()


def read_xlsx(path: Path, chunk_rows: int) -> Iterator[Chunk]:
    """Rows of the first sheet of an Excel workbook; the first non-empty row is the header."""
    try:
        yield from _xlsx_rows(path, chunk_rows)
    except (ImportDataError, GeneratorExit):
        raise
    except Exception as exc:  # openpyxl raises many types for a bad workbook
        raise ImportDataError(
            f"{path.name}: cannot read as an Excel workbook ({one_line(exc)})."
        ) from None


def _parquet_rows(path: Path, chunk_rows: int) -> Iterator[Chunk]:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    name = path.name
    pf = pq.ParquetFile(path)
    width = len(pf.schema_arrow.names)
    if width > MAX_COLUMNS:
        raise ImportDataError(too_many_columns(name, width))
    meta = pf.metadata
    total = max(meta.num_rows, 1)
    row_no = 1
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        if group.num_rows and group.total_byte_size / group.num_rows > width * MAX_FIELD_BYTES:
            raise ImportDataError(
                f"{name}, row {row_no}: records longer than {limit_text()} per field; "
                f"Workbench imports at most {limit_text()} of text per record."
            )
        per_row = max(group.total_byte_size / max(group.num_rows, 1), 1.0)
        batch = int(min(chunk_rows, max(1, MAX_CELLS_PER_CHUNK // max(width, 1)),
                        max(1, CHUNK_CHARS // per_row)))
        for part in pf.iter_batches(batch_size=batch, row_groups=[g]):
            for column, field in zip(part.columns, part.schema, strict=True):
                if pa.types.is_string(field.type) or pa.types.is_large_string(field.type) or \
                        pa.types.is_binary(field.type):
                    longest = pc.max(pc.binary_length(column)).as_py()
                    if longest is not None and longest > MAX_FIELD_BYTES:
                        raise ImportDataError(
                            f"{name}, column {field.name!r} near row {row_no}: a value longer "
                            f"than {limit_text()}; Workbench imports at most {limit_text()} "
                            "of text per record."
                        )
            rows = [{k: clean_value(v) for k, v in r.items()} for r in part.to_pylist()]
            yield rows, row_no, min(1.0, (row_no + len(rows) - 1) / total)
            row_no += len(rows)


def read_parquet(path: Path, chunk_rows: int) -> Iterator[Chunk]:
    """Rows of a Parquet file, a row group at a time."""
    try:
        yield from _parquet_rows(path, chunk_rows)
    except (ImportDataError, GeneratorExit):
        raise
    except Exception as exc:  # pyarrow: OSError, ArrowInvalid, UnicodeDecodeError, ...
        raise ImportDataError(f"{path.name}: cannot read as Parquet ({one_line(exc)}).") from None
