"""The ``workbench`` command: no arguments (or one project path) opens the window,
``--self-test`` checks the installation, anything else is a CLI command.

The one module that knows both faces: :mod:`workbench.gui` and :mod:`workbench.cli` sit
side by side above :mod:`workbench.core` and never import each other.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Sequence

__all__ = ["main", "opens_window"]


def opens_window(argv: Sequence[str]) -> bool:
    """``workbench``, ``workbench --debug`` or ``workbench PROJECT.wbproj`` open the window."""
    rest = [a for a in argv if a != "--debug"]
    return not rest or (len(rest) == 1 and not rest[0].startswith("-")
                        and rest[0].endswith(".wbproj"))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``workbench`` console script and ``python -m workbench``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # Set before torch is imported anywhere (see workbench.cli.main).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if argv and argv[0] == "--self-test":
        from workbench.selftest import main as selftest_main

        return selftest_main(argv[1:])
    if opens_window(argv):
        from workbench.gui.app import run_app

        return run_app([a for a in argv if a != "--debug"])
    from workbench.cli import main as cli_main

    return cli_main(argv)
