"""Text normalisation steps: Unicode NFKC, HTML, control characters, whitespace, case."""
from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable

from workbench.core.prep.config import PII_TYPES, NormaliseConfig

__all__ = ["NORMALISE_STEPS", "normalise", "steps_of"]

# A tag: <name ...>, </name>, <name/>, <!-- -->, <!DOCTYPE>; never a placeholder such as
# <EMAIL> or <PHONE_2> written by masking.
_PLACEHOLDER = "|".join(PII_TYPES)
_TAG = re.compile(
    rf"<!--.*?-->|<!\w[^<>]*>|</?(?!(?:{_PLACEHOLDER})(?:_\d+)?>)[A-Za-z][\w:-]*"
    r"(?:\s[^<>]*)?/?>",
    re.S,
)
_BLOCK = re.compile(r"^</?(p|br|div|li|tr|td|th|h[1-6]|ul|ol|table)\b", re.I)
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def _html(text: str) -> str:
    def tag(m: re.Match[str]) -> str:
        return " " if _BLOCK.match(m.group(0)) else ""

    if "<" in text:
        text = _TAG.sub(tag, text)
    if "&" in text:
        text = html.unescape(text)
    return text


def _control(text: str) -> str:
    text = text.translate(_INVISIBLE)
    return "".join(c for c in text if c in "\t\n\r" or unicodedata.category(c) != "Cc")


def _whitespace(text: str) -> str:
    return " ".join(text.split())


def _lowercase(text: str) -> str:
    return text.lower()


#: The sub-steps in the order they run.
NORMALISE_STEPS: dict[str, Callable[[str], str]] = {
    "nfkc": _nfkc,
    "html": _html,
    "control": _control,
    "whitespace": _whitespace,
    "lowercase": _lowercase,
}


def steps_of(config: NormaliseConfig) -> list[str]:
    """The sub-steps this configuration runs."""
    return [name for name in NORMALISE_STEPS if getattr(config, name)]


def normalise(text: str, steps: list[str]) -> tuple[str, list[str]]:
    """The normalised text and the sub-steps that changed it."""
    changed: list[str] = []
    for name in steps:
        new = NORMALISE_STEPS[name](text)
        if new != text:
            changed.append(name)
            text = new
    return text, changed
