"""Guard against PySide6 builds that return None/True/False without a new reference.

On Python before 3.12 these objects are not immortal, so with such a build their
reference counts fall with nearly every void Qt call and the interpreter aborts
("deallocating None") after a few hundred labelled records. Detected by behaviour, not
version: a few calls of a Qt setter are checked, and only when they drain references are
the three singletons given a count that cannot run out.
"""
from __future__ import annotations

import logging
import sys

__all__ = ["guard_singleton_refcounts"]

log = logging.getLogger(__name__)
_applied = False


def guard_singleton_refcounts() -> None:
    """Apply the guard once per process if this PySide6 build needs it."""
    global _applied
    if _applied or sys.version_info >= (3, 12):
        return
    _applied = True
    from PySide6.QtCore import QObject

    probe = QObject()
    before = sys.getrefcount(None)
    for _ in range(16):
        probe.setObjectName("probe")
    if before - sys.getrefcount(None) < 16:
        return
    import ctypes

    for obj in (None, True, False):
        ctypes.c_ssize_t.from_address(id(obj)).value += 1 << 40
    log.info("PySide6 reference-count bug detected; applied a workaround.")
