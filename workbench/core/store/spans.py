"""Character spans of a record's text (entities) and the rules a set of spans must follow.

A :class:`Span` is a pair of character offsets into the record's text (``end`` exclusive)
with a label. Offsets are the stored truth; tokens and word pieces are derived from them.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from workbench.core.errors import WorkbenchError

__all__ = [
    "Span",
    "check_spans",
    "find_occurrences",
    "overlapping_pairs",
    "snap_to_words",
    "spans_from_json",
    "spans_to_json",
]


@dataclass(frozen=True, order=True)
class Span:
    """Characters ``start`` up to (not including) ``end`` of a text, labelled ``label``."""

    start: int
    end: int
    label: str

    def text_of(self, text: str) -> str:
        return text[self.start : self.end]

    def overlaps(self, other: Span) -> bool:
        return self.start < other.end and other.start < self.end

    def as_dict(self) -> dict[str, int | str]:
        return {"start": self.start, "end": self.end, "label": self.label}


def snap_to_words(text: str, start: int, end: int) -> tuple[int, int]:
    """Extend a selection ``[start, end)`` outwards to whole words and trim surrounding
    white space; a selection of only white space or punctuation is returned trimmed."""
    n = len(text)
    start = max(0, min(start, n))
    end = max(start, min(end, n))
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start == end:
        return start, end
    if text[start].isalnum() or text[start] == "_":
        while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
            start -= 1
    if text[end - 1].isalnum() or text[end - 1] == "_":
        while end < n and (text[end].isalnum() or text[end] == "_"):
            end += 1
    return start, end


def find_occurrences(text: str, needle: str, whole_words: bool = True) -> list[tuple[int, int]]:
    """Every ``[start, end)`` where ``needle`` occurs in ``text`` (case-sensitive, not
    overlapping); with ``whole_words`` only where it is not part of a longer word."""
    if not needle:
        return []
    pattern = re.escape(needle)
    if whole_words:
        if needle[0].isalnum() or needle[0] == "_":
            pattern = r"(?<!\w)" + pattern
        if needle[-1].isalnum() or needle[-1] == "_":
            pattern = pattern + r"(?!\w)"
    return [(m.start(), m.end()) for m in re.finditer(pattern, text)]


def overlapping_pairs(spans: Sequence[Span]) -> list[tuple[Span, Span]]:
    """Pairs of spans that share at least one character."""
    ordered = sorted(spans)
    pairs: list[tuple[Span, Span]] = []
    for i, a in enumerate(ordered):
        for b in ordered[i + 1 :]:
            if b.start >= a.end:
                break
            pairs.append((a, b))
    return pairs


def check_spans(text: str, spans: Iterable[Span], labels: Iterable[str],
                allow_overlap: bool) -> None:
    """Raise :class:`WorkbenchError` with a readable message unless every span lies inside
    ``text``, is not empty, names one of ``labels``, is not given twice, and (unless
    ``allow_overlap``) shares no character with another span."""
    known = set(labels)
    spans = list(spans)
    seen: set[Span] = set()
    for span in spans:
        if not isinstance(span.start, int) or not isinstance(span.end, int):
            raise WorkbenchError(f"Span {span}: start and end must be whole numbers.")
        if span.start < 0 or span.end > len(text) or span.start >= span.end:
            raise WorkbenchError(
                f"Span {span.start}-{span.end} ({span.label}) does not fit the text "
                f"(0-{len(text)}, start before end)."
            )
        if span.label not in known:
            raise WorkbenchError(f"Unknown label {span.label!r} in span {span.start}-{span.end}.")
        if span in seen:
            raise WorkbenchError(f"Span {span.start}-{span.end} ({span.label}) is given twice.")
        seen.add(span)
    if not allow_overlap:
        pairs = overlapping_pairs(spans)
        if pairs:
            a, b = pairs[0]
            raise WorkbenchError(
                f"Spans {a.start}-{a.end} ({a.label}, {text[a.start:a.end]!r}) and "
                f"{b.start}-{b.end} ({b.label}, {text[b.start:b.end]!r}) overlap, and "
                "overlapping spans are off for this project."
            )


def spans_to_json(spans: Iterable[Span]) -> str:
    """The stored form: a JSON list of ``[start, end, label]`` in offset order."""
    return json.dumps([[s.start, s.end, s.label] for s in sorted(spans)], ensure_ascii=False)


def spans_from_json(value: str | None) -> tuple[Span, ...]:
    if not value:
        return ()
    return tuple(Span(int(a), int(b), str(c)) for a, b, c in json.loads(value))
