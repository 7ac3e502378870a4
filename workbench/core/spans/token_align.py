"""Training targets of token classification: character spans to one tag per token.

Tags are BIO over the project's entity types (``O``, ``B-X``, ``I-X``, ...). With
``alignment="first"`` a word's first sub-token carries the word's tag and its other
sub-tokens are ignored by the loss (-100); with ``"all"`` every sub-token carries a tag
(``B-`` only on the span's first sub-token). Special tokens are always ignored.
"""
from __future__ import annotations

from collections.abc import Sequence

from workbench.core.deploy.span_runtime import Window
from workbench.core.store.spans import Span

__all__ = ["ALIGNMENTS", "IGNORE", "non_overlapping", "tag_names", "window_targets"]

ALIGNMENTS = ("first", "all")
IGNORE = -100


def tag_names(types: Sequence[str]) -> list[str]:
    """``["O", "B-t1", "I-t1", "B-t2", ...]`` for entity types in order."""
    return ["O", *[f"{p}-{t}" for t in types for p in ("B", "I")]]


def non_overlapping(spans: Sequence[Span]) -> list[Span]:
    """Spans that can be written as tags: earlier first, the longer of two overlapping."""
    kept: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.start, -(s.end - s.start))):
        if not kept or span.start >= kept[-1].end:
            kept.append(span)
    return kept


def window_targets(window: Window, spans: Sequence[Span], tag_index: dict[str, int],
                   alignment: str = "first") -> list[int]:
    """One target per token of ``window`` (``spans`` sorted, not overlapping)."""
    out = [IGNORE] * len(window.ids)
    k = 0
    for j, word in enumerate(window.word_ids):
        if word is None:
            continue
        if alignment == "first" and j > 0 and window.word_ids[j - 1] == word:
            continue
        a = window.offsets[j][0]
        while k < len(spans) and spans[k].end <= a:
            k += 1
        if k < len(spans) and spans[k].start <= a < spans[k].end:
            span = spans[k]
            prefix = "B" if a <= span.start else "I"
            out[j] = tag_index.get(f"{prefix}-{span.label}", 0)
        else:
            out[j] = 0
    return out
