"""Argument helpers shared by the command modules: annotator names, label lists, numbers.

They raise :class:`workbench.cli.CliError`, which the entry point prints as one line.
"""
from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence

__all__ = [
    "CliError",
    "annotator_option",
    "label_values",
    "attach_dash_values",
    "at_least",
    "record_id_option",
]

#: The largest id SQLite can store.
MAX_ID = 2**63 - 1


class CliError(Exception):
    """A usage problem detected after parsing; printed as one line."""


def _error(message: str) -> Exception:
    return CliError(message)


def annotator_option(value: str | None, option: str = "--annotator") -> str:
    """The annotator name given with ``option``, trimmed; the default name when not given.

    A blank name would be stored as an annotator nobody can see or select, so it is refused.
    """
    if value is None:
        from workbench.core.store.project import default_annotator

        return default_annotator()
    name = value.strip()
    if not name:
        raise _error(f"{option}: an annotator name cannot be blank.")
    return name


def label_values(values: Iterable[str], known: Sequence[str]) -> list[str]:
    """Label names from repeated ``--label`` values.

    Each value is one label when it is exactly a label of the project (so a label may contain
    a comma); otherwise it is a comma-separated list of labels (``--label a,b``).
    """
    known_set = set(known)
    names: list[str] = []
    for value in values:
        text = value.strip()
        if text in known_set:
            names.append(text)
        else:
            names.extend(n.strip() for n in text.split(",") if n.strip())
    return list(dict.fromkeys(names))


def at_least(value: int, minimum: int, option: str) -> int:
    """``value`` when it is at least ``minimum``; otherwise a one-line usage error."""
    if value < minimum:
        raise _error(f"{option} must be at least {minimum} (got {value}).")
    return value


def record_id_option(value: int) -> int:
    """A record id from ``--id``; one that no record can have is refused up front (SQLite
    cannot even look up an id beyond 64 bits)."""
    if not 1 <= value <= MAX_ID:
        raise _error(f"Record {value} does not exist (record ids are whole numbers from 1).")
    return value


def _option_strings(parser: argparse.ArgumentParser) -> tuple[set[str], set[str]]:
    """(every option string, the long options that take exactly one value) of a parser tree."""
    every: set[str] = set()
    one_value: set[str] = set()
    stack = [parser]
    while stack:
        p = stack.pop()
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                stack.extend(action.choices.values())
                continue
            every.update(action.option_strings)
            if action.nargs is None:
                one_value.update(s for s in action.option_strings if s.startswith("--"))
    return every, one_value


def _names_an_option(token: str, every: set[str]) -> bool:
    head = token.split("=", 1)[0]
    if head in every:
        return True
    # argparse accepts unambiguous prefixes of long options (--ann for --annotator).
    return head.startswith("--") and len(head) > 2 and any(o.startswith(head) for o in every)


def attach_dash_values(parser: argparse.ArgumentParser, argv: Sequence[str]) -> list[str]:
    """``argv`` with ``--opt -value`` rewritten as ``--opt=-value``.

    argparse takes any word starting with '-' for an option, so ``--label -neg`` fails with
    "expected one argument". When the word after an option that takes a value is not itself
    one of the parser's options, it is that option's value. Words after ``--`` are left as
    they are.
    """
    every, one_value = _option_strings(parser)
    out: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            out.extend(argv[i:])
            break
        nxt = argv[i + 1] if i + 1 < len(argv) else None
        if (
            token in one_value
            and nxt is not None
            and nxt.startswith("-")
            and nxt != "-"
            and not _names_an_option(nxt, every)
        ):
            out.append(f"{token}={nxt}")
            i += 2
            continue
        out.append(token)
        i += 1
    return out
