"""Argument helpers shared by the command modules: annotator names, label lists, numbers,
and the flags generated from a config dataclass (:func:`add_config_arguments`).

They raise :class:`workbench.cli.CliError`, which the entry point prints as one line.
"""
from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from workbench.core.errors import WorkbenchError
from workbench.core.settings import SettingInfo, Settings, bounds_text, coerce_value, setting_infos

__all__ = [
    "CliError",
    "annotator_option",
    "label_values",
    "attach_dash_values",
    "at_least",
    "record_id_option",
    "add_config_arguments",
    "config_from_args",
    "flag_names",
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


# ----------------------------------------------------------------- config dataclass flags
_TYPE_NAMES = {int: "whole number", float: "number", str: "text", bool: "yes/no"}


def _value_parser(info: SettingInfo) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        return coerce_value(info, text)

    parse.__name__ = _TYPE_NAMES.get(info.kind, "value")
    return parse


def _shown(info: SettingInfo, value: Any) -> str:
    special = (info.special or {}).get(value) if value is not None else None
    if value is None:
        return "automatic"
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value} ({special.lower()})" if special else str(value)


def _flag_help(info: SettingInfo) -> str:
    extra = [bounds_text(info)]
    extra.append(f"default: {_shown(info, info.default)}")
    text = f"{info.help} [{'; '.join(e for e in extra if e)}]"
    return text.replace("%", "%%")


def flag_names(info: SettingInfo) -> list[str]:
    """The CLI option strings of a setting: its flag, then its old spellings."""
    return [info.cli, *info.aliases]


def add_config_arguments(
    parser: argparse.ArgumentParser | Any,
    config_cls: type[Settings],
    *,
    exclude: Iterable[str] = (),
    settings_file: bool = False,
    settings_aliases: Sequence[str] = (),
) -> None:
    """Add one flag per field of ``config_cls`` (see :mod:`workbench.core.settings`).

    A flag is ``--field-name`` unless the field names another (``cli``), plus its old
    spellings (``aliases``); yes/no settings get ``--name`` and ``--no-name``. Values are
    converted as JSON values are; bounds are checked when :func:`config_from_args` builds
    the config, so the CLI refuses exactly what the GUI form and a settings file refuse.
    With ``settings_file``, ``--settings FILE.json`` (plus ``settings_aliases``) reads
    settings from a JSON file; flags given with it win.
    """
    skip = set(exclude)
    for info in setting_infos(config_cls):
        if info.name in skip:
            continue
        kwargs: dict[str, Any] = {"dest": info.name, "default": None, "help": _flag_help(info)}
        if info.kind is bool and info.flag_value:
            kwargs["type"] = _value_parser(info)
            kwargs["metavar"] = info.metavar or "on|off"
        elif info.kind is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif info.choices:
            # Checked by the config (like a bad number), so the message is the config's.
            kwargs["metavar"] = "{" + ",".join(str(c) for c in info.choices) + "}"
        else:
            kwargs["type"] = _value_parser(info)
            kwargs["metavar"] = info.metavar or {int: "N", float: "X"}.get(info.kind, "TEXT")
        parser.add_argument(*flag_names(info), **kwargs)
    if settings_file:
        first = setting_infos(config_cls)[0]
        example = json.dumps({first.name: first.default})
        parser.add_argument(
            "--settings", *settings_aliases, dest="settings_file", metavar="FILE.json",
            help=f"JSON file of these settings, keyed by field name (e.g. {example}); flags "
            "given as well win",
        )


def config_from_args(
    config_cls: type[Settings],
    args: argparse.Namespace,
    base: Settings | Mapping[str, Any] | None = None,
) -> Any:
    """The config built from ``base`` (a config or a dict; default: the defaults), then the
    ``--settings`` file if given, then the flags that were given.

    Raises :class:`WorkbenchError` for an unknown key in the file, a value of the wrong
    type, or one out of bounds (one line per bad value).
    """
    values: dict[str, Any] = {}
    if isinstance(base, Settings):
        values.update(base.to_dict())
    elif base is not None:
        values.update(config_cls.coerce(base))
    sources: dict[str, str] = {}
    path = getattr(args, "settings_file", None)
    if path:
        from_file = config_cls.read_file(path)
        values.update(from_file)
        sources.update(dict.fromkeys(from_file, str(path)))
    for info in setting_infos(config_cls):
        value = getattr(args, info.name, None)
        if value is not None:
            values[info.name] = value
            sources[info.name] = info.cli
    problems = config_cls.check(values)
    if problems:
        # The config's own messages, each with where the bad value came from.
        raise WorkbenchError("\n".join(
            f"{message} [{sources[name]}]" if name in sources else message
            for name, message in problems.items()
        ))
    return config_cls.from_dict(values)


class StopOnCtrlC:
    """A ``should_stop`` for jobs run from the command line: the first Ctrl-C asks the job to
    stop (``message`` is printed), a second one aborts. A context manager that puts the
    previous SIGINT handler back."""

    def __init__(self, message: str) -> None:
        self.message = message
        self.requested = False
        self.previous: Any = None

    def __enter__(self) -> StopOnCtrlC:
        import signal

        try:
            self.previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread
            self.previous = None
        return self

    def __exit__(self, *exc: object) -> None:
        import signal

        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)

    def _handle(self, _signum: int, _frame: Any) -> None:
        import sys

        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print(self.message, file=sys.stderr, flush=True)

    def __call__(self) -> bool:
        return self.requested
