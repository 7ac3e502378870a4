"""Which column of a data file holds the text: one rule for the import wizard and for
classifying a file.

A column named like a text column ("text", "message", "body", ...) wins; otherwise the
column whose values are longest on average, counting only columns that hold words rather
than numbers (an ``id`` column of digits is never chosen when another column has text).
"""
from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["TEXT_NAMES", "guess_text_column", "peek_rows", "text_likeness"]

TEXT_NAMES = ("text", "message", "body", "content", "sentence", "review", "comment", "utterance")


def _is_number(value: str) -> bool:
    try:
        float(value.replace(",", ""))
    except ValueError:
        return False
    return True


def text_likeness(rows: Sequence[dict[str, Any]], column: str) -> tuple[bool, float]:
    """``(holds words, mean length)`` of a column's values in ``rows``."""
    values = ["" if r.get(column) is None else str(r.get(column)).strip() for r in rows]
    filled = [v for v in values if v]
    wordy = bool(filled) and sum(not _is_number(v) for v in filled) * 2 >= len(filled)
    mean = sum(map(len, values)) / max(1, len(values))
    return wordy, mean


def guess_text_column(columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> str | None:
    """The column most likely to hold the text (``None`` without columns)."""
    if not columns:
        return None
    lowered = {c.lower().strip(): c for c in columns}
    for name in TEXT_NAMES:
        if name in lowered:
            return lowered[name]
    scored = {c: text_likeness(rows, c) for c in columns}
    return max(columns, key=lambda c: scored[c])


def peek_rows(path: str | Path, limit: int = 20) -> tuple[list[str], list[dict[str, Any]]]:
    """Column names and the first ``limit`` rows of a CSV/TSV/JSONL/TXT file.

    Unreadable files give ``([], [])``; a TXT file has the one column ``text``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    rows: list[dict[str, Any]] = []
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            if suffix == ".txt":
                for line in fh:
                    if line.strip():
                        rows.append({"text": line.rstrip("\r\n")})
                    if len(rows) >= limit:
                        break
                return ["text"], rows
            if suffix in (".csv", ".tsv"):
                reader = csv.DictReader(fh, delimiter="\t" if suffix == ".tsv" else ",")
                columns = list(reader.fieldnames or [])
                for row in reader:
                    rows.append({k: v for k, v in row.items() if k is not None})
                    if len(rows) >= limit:
                        break
                return columns, rows
            if suffix == ".jsonl":
                for line in fh:
                    if not line.strip():
                        continue
                    obj = json.loads(line)
                    rows.append(obj if isinstance(obj, dict) else {"text": obj})
                    if len(rows) >= limit:
                        break
                return list(dict.fromkeys(k for r in rows for k in r)), rows
    except (OSError, ValueError, csv.Error):
        return [], []
    return [], []
