"""Streaming reader for JSON array files (``[{...}, {...}]``), one object at a time.

A JSON array is parsed element by element from a bounded buffer, so a 1 GB file needs
about as much memory as one chunk of rows. A file whose records sit inside an object
(``{"records": [...]}``) is one document and is read whole, up to
:data:`MAX_JSON_OBJECT_BYTES`.
"""
from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from workbench.core.data.readers_common import (
    CHUNK_CHARS,
    MAX_COLUMNS,
    MAX_FIELD_BYTES,
    Chunk,
    check_depth,
    has_escaped_surrogate,
    limit_text,
    nested_too_deeply,
    without_surrogates,
)
from workbench.core.errors import ImportDataError

__all__ = ["MAX_JSON_OBJECT_BYTES", "read_json"]

#: A JSON file that is one object wrapping the records is read whole, so it is capped.
MAX_JSON_OBJECT_BYTES = 16 * 2**20
_READ = 1 << 20
_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


class _Buffer:
    """Decoded text of a file, read a megabyte at a time; ``pos`` is the parse position."""

    def __init__(self, raw: Any, enc: str) -> None:
        self.raw = raw
        self.decoder = codecs.getincrementaldecoder(enc)()
        self.text = ""
        self.pos = 0
        self.eof = False
        self.lines_before = 0  #: newlines in text already dropped from the buffer

    def fill(self) -> None:
        data = self.raw.read(_READ)
        if self.pos:
            self.lines_before += self.text.count("\n", 0, self.pos)
            self.text = self.text[self.pos:]
            self.pos = 0
        if data:
            self.text += self.decoder.decode(data)
        else:
            self.text += self.decoder.decode(b"", final=True)
            self.eof = True

    def skip_ws(self) -> str:
        """Skip whitespace; the next character, or ``""`` at the end of the file."""
        while True:
            self.pos = _WS.match(self.text, self.pos).end()
            if self.pos < len(self.text):
                return self.text[self.pos]
            if self.eof:
                return ""
            self.fill()

    def line(self, pos: int | None = None) -> int:
        pos = self.pos if pos is None else pos
        return self.lines_before + self.text.count("\n", 0, pos) + 1


def _value(buf: _Buffer, name: str, row: int) -> Any:
    """Decode the JSON value at the parse position, reading more as needed."""
    while True:
        try:
            obj, end = _DECODER.raw_decode(buf.text, buf.pos)
        except json.JSONDecodeError as exc:
            # Incomplete input fails at (or, for a string, is unterminated near) the end of
            # the buffer; an error well before the end is a real syntax error.
            truncated = exc.pos >= len(buf.text) - 8 or exc.msg.startswith("Unterminated")
            if buf.eof or not truncated:
                raise ImportDataError(
                    f"{name}, line {buf.line(exc.pos)}: not valid JSON ({exc.msg})."
                ) from None
            if len(buf.text) - buf.pos > MAX_FIELD_BYTES:
                raise ImportDataError(
                    f"{name}, row {row} (line {buf.line()}): a record longer than "
                    f"{limit_text()}; Workbench imports at most {limit_text()} of text per "
                    "record."
                ) from None
            buf.fill()
            continue
        except RecursionError:
            raise ImportDataError(nested_too_deeply(name, f"row {row}")) from None
        check_depth(obj, buf.text, buf.pos, end, name, f"row {row}")
        if has_escaped_surrogate(buf.text, buf.pos, end):
            obj = without_surrogates(obj)
        buf.pos = end
        return obj


def _check_record(obj: Any, name: str, row: int) -> None:
    if not isinstance(obj, dict):
        raise ImportDataError(f"{name}, row {row}: expected a JSON object.")
    if len(obj) > MAX_COLUMNS:
        raise ImportDataError(
            f"{name}, row {row}: has {len(obj):,} fields; Workbench imports at most "
            f"{MAX_COLUMNS:,} columns."
        )


def _read_wrapped(buf: _Buffer, name: str, size: int, chunk_rows: int) -> Iterator[Chunk]:
    if size > MAX_JSON_OBJECT_BYTES:
        raise ImportDataError(
            f"{name}: records inside a JSON object are read whole, so such a file can be at "
            f"most {MAX_JSON_OBJECT_BYTES // 2**20} MB; save the records as a JSON array or "
            "as JSON Lines (one object per line)."
        )
    while not buf.eof:
        buf.fill()
    data = _value(buf, name, 1)
    if buf.skip_ws():
        raise ImportDataError(f"{name}, line {buf.line()}: not valid JSON (Extra data).")
    lists = [v for v in data.values() if isinstance(v, list)]
    if len(lists) != 1:
        raise ImportDataError(f"{name}: expected a JSON array of objects.")
    data = lists[0]
    for i, obj in enumerate(data, start=1):
        _check_record(obj, name, i)
    total = max(len(data), 1)
    for start in range(0, len(data), chunk_rows):
        part = data[start : start + chunk_rows]
        yield part, start + 1, min(1.0, (start + len(part)) / total)


def read_json(path: Path, enc: str, chunk_rows: int) -> Iterator[Chunk]:
    """Yield chunks of the objects of a JSON array file (or an object wrapping one)."""
    name = path.name
    size = max(path.stat().st_size, 1)
    with open(path, "rb") as raw:
        buf = _Buffer(raw, enc)
        first = buf.skip_ws()
        if first == "{":
            yield from _read_wrapped(buf, name, size, chunk_rows)
            return
        if first != "[":
            raise ImportDataError(f"{name}: expected a JSON array of objects.")
        buf.pos += 1
        chunk: list[dict[str, Any]] = []
        chars = 0
        start = row = 1
        if buf.skip_ws() == "]":
            buf.pos += 1
        else:
            while True:
                begin = buf.pos
                obj = _value(buf, name, row)
                _check_record(obj, name, row)
                chunk.append(obj)
                chars += buf.pos - begin
                row += 1
                if len(chunk) >= chunk_rows or chars >= CHUNK_CHARS:
                    yield chunk, start, min(1.0, raw.tell() / size)
                    chunk, chars, start = [], 0, row
                c = buf.skip_ws()
                if c == "]":
                    buf.pos += 1
                    break
                if c != ",":
                    what = "the file ends early" if not c else f"found {c!r}"
                    raise ImportDataError(
                        f"{name}, line {buf.line()}: not valid JSON (expected ',' or ']', "
                        f"{what})."
                    )
                buf.pos += 1
                buf.skip_ws()
        if buf.skip_ws():
            raise ImportDataError(f"{name}, line {buf.line()}: not valid JSON (Extra data).")
        if chunk:
            yield chunk, start, 1.0
