"""Limits and small helpers shared by the data-file readers.

The limits keep memory bounded whatever the input: no record may hold more than
:data:`MAX_FIELD_BYTES` of text (a line of a text file, a CSV field, a JSON record) and no
table more than :data:`MAX_COLUMNS` columns; both are checked while streaming, before the
offending data is held in memory.
"""
from __future__ import annotations

import re
from typing import Any

from workbench.core.errors import ImportDataError

__all__ = [
    "CHUNK_CHARS",
    "Chunk",
    "MAX_CELLS_PER_CHUNK",
    "MAX_COLUMNS",
    "MAX_DEPTH",
    "MAX_FIELD_BYTES",
    "check_depth",
    "has_escaped_surrogate",
    "limit_text",
    "nested_too_deeply",
    "one_line",
    "too_many_columns",
    "without_surrogates",
]

#: Most text in one record (a line, a CSV field or row, a JSON record), counted in
#: characters of the decoded text; longer records are refused with the file and line.
MAX_FIELD_BYTES = 10 * 2**20
#: Most columns a table may have (CSV header, Excel sheet, Parquet schema, JSON object).
MAX_COLUMNS = 1000
#: A chunk of rows is handed over once it holds about this much text ...
CHUNK_CHARS = 32 * 2**20
#: ... or this many cells, whichever comes first.
MAX_CELLS_PER_CHUNK = 1_000_000
#: Deepest nesting of lists/objects accepted inside a JSON record.
MAX_DEPTH = 64
#: (rows, number of the first row (1-based, header not counted), fraction of the file read)
Chunk = tuple[list[dict[str, Any]], int, "float | None"]

_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def limit_text() -> str:
    """The record limit for messages, e.g. ``"10 MB"``."""
    return f"{MAX_FIELD_BYTES // 2**20} MB"


def one_line(exc: BaseException, width: int = 200) -> str:
    """A library's error message as one short line (first line, whitespace collapsed)."""
    text = str(exc).strip() or type(exc).__name__
    first = next((line for line in text.splitlines() if line.strip()), text)
    first = " ".join(first.split())
    return first if len(first) <= width else first[: width - 1] + "…"


def too_many_columns(name: str, n: int) -> str:
    return (
        f"{name}: has {n:,} columns; Workbench imports at most {MAX_COLUMNS:,} "
        "(keep the text, id and label columns and drop the rest)."
    )


def nested_too_deeply(name: str, where: str) -> str:
    return (
        f"{name}, {where}: JSON nested too deeply to import (lists or objects inside each "
        f"other more than {MAX_DEPTH} levels deep); flatten that value."
    )


def check_depth(value: Any, text: str, start: int, end: int, name: str, where: str) -> None:
    """Refuse a decoded JSON value nested deeper than :data:`MAX_DEPTH` (``text[start:end]``
    is its source, used to skip the walk for ordinary records)."""
    if text.count("[", start, end) + text.count("{", start, end) <= MAX_DEPTH:
        return
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ImportDataError(nested_too_deeply(name, where))
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item if isinstance(v, (dict, list)))


def has_escaped_surrogate(text: str, start: int = 0, end: int | None = None) -> bool:
    """Whether JSON text holds a ``\\uD800``-``\\uDFFF`` escape (a pair or a lone half)."""
    return _ESCAPED_SURROGATE.search(text, start, len(text) if end is None else end) is not None


def without_surrogates(value: Any) -> Any:
    """``value`` with every lone UTF-16 surrogate in its strings replaced by U+FFFD.

    Lone surrogates (e.g. ``"\\ud800"`` in JSON) cannot be stored as UTF-8; valid pairs
    were already joined by the JSON decoder.
    """
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [without_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {without_surrogates(k): without_surrogates(v) for k, v in value.items()}
    return value


def replace_surrogates(text: str) -> str:
    """``text`` with lone surrogates replaced by U+FFFD (cheap when there are none)."""
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text
