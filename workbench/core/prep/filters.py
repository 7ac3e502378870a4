"""Record filters: empty, too short, too long, mostly not text, another language.

The language filter uses py3langid (an offline identifier shipped with its model, numpy
only; the ``prep`` extra): a text is caught only when the identifier is at least
:data:`LANGUAGE_CONFIDENCE` sure of a language outside the list, so short or mixed texts
are kept.
"""
from __future__ import annotations

import functools
from collections.abc import Callable

from workbench.core.errors import WorkbenchError
from workbench.core.prep.config import FilterConfig

__all__ = ["FILTER_REASONS", "LANGUAGE_CONFIDENCE", "filter_reason", "language_identifier"]

FILTER_REASONS = ("empty", "too_short", "too_long", "not_text", "other_language")
LANGUAGE_CONFIDENCE = 0.9

@functools.cache
def language_identifier() -> Callable[[str], tuple[str, float]]:
    """``classify(text) -> (language code, probability)``, loaded once."""
    try:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier
    except ImportError:
        raise WorkbenchError(
            "The language filter needs the py3langid package (offline, about 5 MB): "
            "pip install py3langid"
        ) from None
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True).classify


def filter_reason(text: str, config: FilterConfig) -> str | None:
    """Why this text is caught by the filters (the first reason that applies), or None."""
    stripped = text.strip()
    if not stripped:
        return "empty" if config.empty else None
    if config.min_chars and len(stripped) < config.min_chars:
        return "too_short"
    if config.max_chars and len(stripped) > config.max_chars:
        return "too_long"
    if config.min_letters > 0:
        visible = [c for c in stripped if not c.isspace()]
        letters = sum(c.isalpha() for c in visible)
        if letters < config.min_letters * len(visible):
            return "not_text"
    keep = config.language_list()
    if keep:
        language, probability = language_identifier()(stripped)
        if language not in keep and probability >= LANGUAGE_CONFIDENCE:
            return "other_language"
    return None
