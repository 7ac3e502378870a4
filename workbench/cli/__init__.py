"""The headless CLI: ``workbench COMMAND ...`` (see :mod:`workbench.launcher` for the
entry point that opens the window when no command is given).

Each command group lives in its own module with a ``register(subparsers)`` function that
adds its subcommands; a subcommand's handler takes the parsed ``args`` and returns an exit
code. Handlers import heavy modules themselves, so ``--help`` stays fast.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from workbench import __version__
from workbench.cli import assist, compress, data, deploy, federate, prep, team, train
from workbench.cli.common import CliError

__all__ = ["main", "build_parser", "COMMAND_MODULES", "CliError"]

#: Modules that register subcommands, in help order.
COMMAND_MODULES = [data, prep, train, deploy, assist, team, compress, federate]


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
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


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
    """Run one CLI command (``argv`` without the program name); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # Idle OpenMP threads sleep instead of spinning: with every core training, a spinning
    # pool collapses (4-30x slower) as soon as anything else needs a core. Must be set
    # before torch is imported.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    debug = "--debug" in argv
    parser = build_parser()
    from workbench.cli.common import attach_dash_values

    args = parser.parse_args(attach_dash_values(parser, argv))
    if args.command is None:
        parser.print_help()
        return 2
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
