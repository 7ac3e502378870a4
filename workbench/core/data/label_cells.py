"""Parsing a label cell of an imported file into label names.

A cell may be text (one name, a JSON list, or names separated by ``|``, ``;`` or ``,``), a
whole number (its decimal text) or a list of those. Anything else (true/false, decimals,
objects, dates, nested lists) is refused rather than silently turned into a name.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from workbench.core.data.readers_common import replace_surrogates
from workbench.core.errors import ImportDataError

__all__ = ["split_labels"]

_LABEL_SPLIT = re.compile(r"\s*[|;,]\s*")


def _label_kind(value: Any) -> str | None:
    """What is wrong with one label value, or None when it is usable."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (str, int)):
        return None
    if isinstance(value, float):
        return None if value.is_integer() else "a decimal number"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list inside a list"
    return f"a {type(value).__name__} value"


def _label_name(value: Any) -> str:
    if isinstance(value, float):
        value = int(value)
    return replace_surrogates(str(value).strip())


def _split_list(values: list[Any] | tuple[Any, ...]) -> list[str]:
    names = []
    for v in values:
        if v is None:
            continue
        kind = _label_kind(v)
        if kind is not None:
            raise ImportDataError(f"the label cell holds {kind} ({_preview(v)}); labels "
                                  "must be text, whole numbers or a list of those.")
        name = _label_name(v)
        if name:
            names.append(name)
    return names


def _preview(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        text = type(value).__name__
    text = " ".join(replace_surrogates(text).split())
    return text if len(text) <= 40 else text[:39] + "…"


def split_labels(value: Any, known: Iterable[str] = ()) -> list[str]:
    """Label names in a cell: a list, a JSON list, or a string split on ``|``, ``;`` or ``,``.

    A string that is exactly one of the ``known`` names is kept whole (so a label may
    itself contain a comma). Whole numbers become their decimal text (``3`` -> ``"3"``);
    true/false, decimal numbers, objects, dates and nested lists raise
    :class:`ImportDataError` (without a row; the importer adds it). Lone surrogates in a
    name become U+FFFD.
    """
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return _split_list(value)
    kind = _label_kind(value)
    if kind is not None:
        raise ImportDataError(f"the label cell holds {kind} ({_preview(value)}); labels "
                              "must be text, whole numbers or a list of those.")
    text = _label_name(value)
    if not text:
        return []
    if text in known:
        return [text]
    if text.startswith("[") and text.endswith("]"):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            parsed = None
        except RecursionError:
            raise ImportDataError("the label cell is a list nested too deeply.") from None
        if isinstance(parsed, list):
            return _split_list(parsed)
    return [p for p in _LABEL_SPLIT.split(text) if p]
