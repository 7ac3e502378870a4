"""Import sqlite-utils without letting it pull in pandas (about half a second at start-up).

sqlite-utils imports pandas, when installed, only to map ``pandas.Timestamp`` values to a
column type; the project store never inserts those. Importing this module first (as
:mod:`workbench.core.store.project` does) keeps ``workbench stats`` and the window start fast.
Code that needs pandas imports it itself later, unaffected.
"""
from __future__ import annotations

import sys

__all__ = ["sqlite_utils"]


def _load():  # returns the sqlite_utils module
    if "sqlite_utils" in sys.modules or "pandas" in sys.modules:
        import sqlite_utils

        return sqlite_utils
    sys.modules["pandas"] = None  # type: ignore[assignment]  # `import pandas` now fails
    try:
        import sqlite_utils
    finally:
        del sys.modules["pandas"]
    return sqlite_utils


sqlite_utils = _load()
