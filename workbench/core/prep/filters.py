"""Record filters: empty, too short, too long, mostly not text.

A language filter is left out: no small language identifier that works offline is among
the kept libraries (the fastText-based ones download their model on first use).
"""
from __future__ import annotations

from workbench.core.prep.config import FilterConfig

__all__ = ["FILTER_REASONS", "filter_reason"]

FILTER_REASONS = ("empty", "too_short", "too_long", "not_text")


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
    return None
