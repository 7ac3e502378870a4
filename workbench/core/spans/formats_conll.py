"""CoNLL files: one token per line with its tag in the last column (the 2-column
token/tag layout and the 4-column CoNLL-2003 layout), a blank line between sentences,
``-DOCSTART-`` lines between documents; BIO, IOB1, BIOES and BILOU tags.

Each sentence becomes one record; its tokens are rebuilt into text with ordinary spacing
(no space before closing punctuation, none after opening brackets), and the entities
become character spans of that text.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from workbench.core.errors import ImportDataError
from workbench.core.spans.examples import SpanExample
from workbench.core.spans.tags import entities_to_tags, tags_to_entities, word_offsets
from workbench.core.store.spans import Span, overlapping_pairs

__all__ = ["detokenize", "read_conll", "write_conll"]

_NO_SPACE_BEFORE = set(".,;:!?%)]}»”’") | {"'s", "'S", "n't", "'re", "'ve", "'ll", "'d", "'m"}
_NO_SPACE_AFTER = set("([{«“$")


def detokenize(tokens: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
    """Text rebuilt from tokens with ordinary spacing, and each token's character offsets."""
    parts: list[str] = []
    offsets: list[tuple[int, int]] = []
    pos = 0
    prev = ""
    for i, tok in enumerate(tokens):
        if i > 0 and tok not in _NO_SPACE_BEFORE and prev not in _NO_SPACE_AFTER:
            parts.append(" ")
            pos += 1
        parts.append(tok)
        offsets.append((pos, pos + len(tok)))
        pos += len(tok)
        prev = tok
    return "".join(parts), offsets


def _sentence(name: str, rows: list[tuple[int, str, str]]) -> SpanExample:
    tokens = [tok for _, tok, _ in rows]
    tags = [tag for _, _, tag in rows]
    text, offsets = detokenize(tokens)
    try:
        entities = tags_to_entities(tags)
    except ValueError:
        for line, _tok, tag in rows:  # find the line of the bad tag
            try:
                tags_to_entities([tag])
            except ValueError as exc:
                raise ImportDataError(f"{name}, line {line}: {exc}.") from None
        raise
    spans = [Span(offsets[a][0], offsets[b - 1][1], label) for a, b, label in entities]
    lines = [rows[a][0] for a, _b, _label in entities]
    return SpanExample(text=text, spans=spans, line=rows[0][0], lines=lines)


def read_conll(lines: Iterable[str], name: str) -> Iterator[SpanExample]:
    """The sentences of a CoNLL file as records with spans. Raises ImportDataError naming
    the line of a line without a tag or with a tag that is not a valid tag."""
    rows: list[tuple[int, str, str]] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            if rows:
                yield _sentence(name, rows)
                rows = []
            continue
        cols = line.split()
        if cols[0] == "-DOCSTART-":
            if rows:
                yield _sentence(name, rows)
                rows = []
            continue
        if len(cols) < 2:
            raise ImportDataError(
                f"{name}, line {number}: expected a token and its tag separated by white "
                f"space, found {line.strip()[:60]!r}."
            )
        rows.append((number, cols[0], cols[-1]))
    if rows:
        yield _sentence(name, rows)


def _tokens(text: str, spans: Sequence[Span]) -> list[tuple[int, int]]:
    """Word offsets of ``text``, split further wherever a span starts or ends inside a word."""
    cuts = sorted({s.start for s in spans} | {s.end for s in spans})
    out: list[tuple[int, int]] = []
    for start, end in word_offsets(text):
        inner = [c for c in cuts if start < c < end]
        edges = [start, *inner, end]
        out.extend(zip(edges[:-1], edges[1:], strict=False))
    return out


def write_conll(records: Iterable[tuple[str, Sequence[Span]]], *, scheme: str = "bio",
                docstart: bool = True) -> Iterator[str]:
    """Lines of a 2-column CoNLL file (token, tag) for records with spans. Spans that
    overlap an earlier one cannot be written as tags and are left out."""
    if docstart:
        yield "-DOCSTART- O\n"
        yield "\n"
    for text, spans in records:
        kept: list[Span] = []
        for span in sorted(spans, key=lambda s: (s.start, -s.end)):
            if not overlapping_pairs([*kept, span]):
                kept.append(span)
        tokens = _tokens(text, kept)
        if not tokens:
            continue
        entities = []
        for span in kept:
            inside = [i for i, (a, b) in enumerate(tokens) if a >= span.start and b <= span.end]
            if inside:
                entities.append((inside[0], inside[-1] + 1, span.label))
        for (a, b), tag in zip(tokens, entities_to_tags(len(tokens), entities, scheme),
                               strict=False):
            yield f"{text[a:b]}\t{tag}\n"
        yield "\n"
