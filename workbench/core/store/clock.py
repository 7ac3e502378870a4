"""Timestamps stored in a project: UTC, ISO-8601 with milliseconds."""
from __future__ import annotations

import datetime as _dt

__all__ = ["now_iso"]


def now_iso() -> str:
    """Current UTC time as an ISO-8601 string with milliseconds."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")
