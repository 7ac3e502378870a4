"""The ``workbench`` command: no arguments (or a project path) opens the GUI; subcommands
are the headless CLI.

Each command group lives in its own module with a ``register(subparsers)`` function that
adds its subcommands; a subcommand's handler takes the parsed ``args`` and returns an exit
code. Only the chosen command's heavy modules are imported, so ``--help`` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from workbench import __version__

__all__ = ["main", "build_parser", "COMMAND_MODULES"]

#: Modules under workbench.cli that register subcommands, in help order.
COMMAND_MODULES = ["data", "train", "deploy", "assist", "team"]


class CliError(Exception):
    """A usage problem detected after parsing; printed as one line."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbench",
        description="Label text, fine-tune BERT-family classifiers and export quantized ONNX "
        "models on your own machine. With no command (or a project path) the app opens.",
    )
    parser.add_argument("--version", action="version", version=f"workbench {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="check this installation end to end (import, train, export, predict, window) and exit",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"workbench.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"workbench.cli.{name}":
                continue
            raise
        module.register(sub)
    return parser


def _open_gui(argv: Sequence[str]) -> int:
    from workbench.gui.app import run_app

    return run_app(list(argv))


def _stdout_closed() -> int:
    """Exit quietly when the reader of stdout went away (``workbench stats p | head``).

    Like standard tools killed by SIGPIPE: no message, status 141 (128 + SIGPIPE). stdout is
    pointed at /dev/null so the interpreter's final flush does not report the error again.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real file descriptor behind stdout
        pass
    return 141


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``workbench`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # Idle OpenMP threads sleep instead of spinning: with every core training, a spinning
    # pool collapses (4-30x slower) as soon as anything else needs a core. Must be set
    # before torch is imported.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    debug = "--debug" in argv
    if argv and argv[0] == "--self-test":
        from workbench.selftest import main as selftest_main

        return selftest_main(argv[1:])
    # `workbench` or `workbench PROJECT.wbproj` opens the window.
    if not argv or (
        not argv[0].startswith("-") and argv[0].endswith(".wbproj") and len(argv) == 1
    ):
        return _open_gui(argv)
    parser = build_parser()
    from workbench.cli.common import attach_dash_values

    args = parser.parse_args(attach_dash_values(parser, argv))
    if args.command is None:
        return _open_gui([])
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(message)s"
    )
    from workbench.core.errors import WorkbenchError

    try:
        code = int(args.handler(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        return _stdout_closed()
    except (WorkbenchError, CliError) as exc:
        if debug:
            raise
        for line in str(exc).splitlines() or [""]:
            print(f"error: {line}", file=sys.stderr)  # one line per problem
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # an unexpected bug: still one line unless --debug
        if debug:
            raise
        print(f"error: {type(exc).__name__}: {exc} (run with --debug for details)", file=sys.stderr)
        return 1
