"""Token tag schemes (BIO/IOB2, IOB1, BIOES/BILOU) to and from token-index entities, and
a word tokenizer with character offsets shared by the CoNLL writer and assistance."""
from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["TAG_RE", "WORD_RE", "entities_to_tags", "tags_to_entities", "word_offsets"]

#: A tag: O, or a prefix (B I E S L U) and a type.
TAG_RE = re.compile(r"^(?:O|([BIESLU])-(.+))$")
#: Words and single punctuation marks.
WORD_RE = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]", re.UNICODE)


def word_offsets(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each word or punctuation mark of ``text``."""
    return [(m.start(), m.end()) for m in WORD_RE.finditer(text)]


def tags_to_entities(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """Entities ``(first_token, last_token + 1, type)`` of a tag sequence.

    Reads BIO (IOB2), IOB1 (an I- after O or after another type starts an entity), BIOES and
    BILOU leniently: an E-/L- closes, an S-/U- is a single token. Raises ValueError naming the
    position of a tag that is not O or PREFIX-TYPE.
    """
    out: list[tuple[int, int, str]] = []
    start: int | None = None
    kind: str | None = None
    for i, tag in enumerate(tags):
        m = TAG_RE.match(tag)
        if m is None:
            raise ValueError(f"tag {tag!r} is not O or B-/I-/E-/S- followed by a type")
        prefix, label = m.group(1), m.group(2)
        if prefix is None:  # O
            if start is not None:
                out.append((start, i, kind or ""))
            start = kind = None
            continue
        if prefix in "SU":
            if start is not None:
                out.append((start, i, kind or ""))
            out.append((i, i + 1, label))
            start = kind = None
            continue
        if prefix == "B" or start is None or kind != label:
            if start is not None:
                out.append((start, i, kind or ""))
            start, kind = i, label
        if prefix in "EL":
            out.append((start, i + 1, label))
            start = kind = None
    if start is not None:
        out.append((start, len(tags), kind or ""))
    return out


def entities_to_tags(n_tokens: int, entities: Sequence[tuple[int, int, str]],
                     scheme: str = "bio") -> list[str]:
    """Tags for ``n_tokens`` tokens from ``(first, last + 1, type)`` entities (not
    overlapping), in scheme "bio" or "bioes"."""
    tags = ["O"] * n_tokens
    for first, stop, label in entities:
        if stop - first <= 0:
            continue
        if scheme == "bioes":
            if stop - first == 1:
                tags[first] = f"S-{label}"
                continue
            tags[first] = f"B-{label}"
            for i in range(first + 1, stop - 1):
                tags[i] = f"I-{label}"
            tags[stop - 1] = f"E-{label}"
        else:
            tags[first] = f"B-{label}"
            for i in range(first + 1, stop):
                tags[i] = f"I-{label}"
    return tags
