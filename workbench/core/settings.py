"""One definition per setting: field metadata for the config dataclasses (Qt-free).

A config dataclass (``TrainConfig``, ``ExportOptions``, ...) declares each field with
:func:`setting`, which stores in ``dataclasses.field(metadata=...)``:

* ``help``: the help text (CLI ``--help``, GUI tooltip and What's This);
* ``min`` / ``max`` (with ``min_exclusive`` / ``max_exclusive``): numeric bounds;
* ``choices``: the allowed values;
* ``label`` and ``unit``: how the GUI and error messages name the setting;
* ``special``: ``{value: text}`` for a value with a meaning of its own ("Automatic"); the
  GUI shows the text for it (only the lowest value can have one);
* ``advanced``: folded away in the GUI;
* ``cli`` and ``aliases``: the CLI flag (default ``--field-name``) and old spellings;
* ``not_blank``, ``decimals``, ``step``, ``metavar``, ``flag_value`` (a yes/no flag that
  takes a value, ``--blind on|off``, instead of ``--x``/``--no-x``): smaller details.

The dataclass derives from :class:`Settings`, which gives it ``validate()`` (bounds and
choices from the metadata, one message line per bad value), ``to_dict``/``from_dict``
(unknown keys refused) and ``load``/``save`` of a JSON settings file. The CLI generator
(:mod:`workbench.cli.common`) and the GUI form (:mod:`workbench.gui.widgets.config_form`)
read the same metadata, so a setting is defined once.
"""
from __future__ import annotations

import dataclasses
import json
import math
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from workbench.core.errors import WorkbenchError

__all__ = [
    "setting",
    "Settings",
    "SettingInfo",
    "setting_info",
    "setting_infos",
    "check_value",
    "coerce_value",
    "bounds_text",
]

S = TypeVar("S", bound="Settings")
_MISSING = dataclasses.MISSING


def setting(
    default: Any,
    help: str,
    *,
    advanced: bool = False,
    min: float | None = None,
    max: float | None = None,
    min_exclusive: bool = False,
    max_exclusive: bool = False,
    choices: typing.Sequence[Any] | None = None,
    label: str | None = None,
    unit: str = "",
    special: Mapping[Any, str] | None = None,
    cli: str | None = None,
    aliases: typing.Sequence[str] = (),
    not_blank: bool = False,
    decimals: int | None = None,
    step: float | None = None,
    metavar: str | None = None,
    flag_value: bool = False,
) -> Any:
    """A dataclass field with its setting metadata (see the module docstring)."""
    meta: dict[str, Any] = {"help": help, "advanced": advanced}
    extra = {
        "min": min, "max": max, "choices": tuple(choices) if choices is not None else None,
        "label": label, "special": dict(special) if special else None, "cli": cli,
        "decimals": decimals, "step": step, "metavar": metavar,
    }
    meta.update({k: v for k, v in extra.items() if v is not None})
    if min_exclusive:
        meta["min_exclusive"] = True
    if max_exclusive:
        meta["max_exclusive"] = True
    if unit:
        meta["unit"] = unit
    if aliases:
        meta["aliases"] = tuple(aliases)
    if not_blank:
        meta["not_blank"] = True
    if flag_value:
        meta["flag_value"] = True
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass(frozen=True)
class SettingInfo:
    """Everything the CLI and the GUI need to know about one field."""

    name: str
    kind: type  # bool, int, float or str
    optional: bool  # None is allowed (e.g. "automatic" for a yes/no setting)
    default: Any
    help: str = ""
    label: str = ""
    unit: str = ""
    advanced: bool = False
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    max_exclusive: bool = False
    choices: tuple[Any, ...] | None = None
    special: Mapping[Any, str] | None = None
    cli: str = ""
    aliases: tuple[str, ...] = ()
    not_blank: bool = False
    decimals: int | None = None
    step: float | None = None
    metavar: str | None = None
    flag_value: bool = False  # a yes/no flag that takes a value (--blind on|off)

    @property
    def title(self) -> str:
        """The GUI label: ``label`` or the field name as words."""
        return self.label or self.name.replace("_", " ").capitalize()

    @property
    def words(self) -> str:
        """How error messages name the setting: the field name as words, like its flag."""
        return self.name.replace("_", " ")


def _kind(hint: Any) -> tuple[type, bool]:
    args = typing.get_args(hint)
    if args and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0], True
    return hint, False


def setting_infos(cls: type) -> list[SettingInfo]:
    """:class:`SettingInfo` of every field of a config dataclass, in field order."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        kind, optional = _kind(hints[f.name])
        m = f.metadata
        default = f.default if f.default is not _MISSING else None
        out.append(SettingInfo(
            name=f.name, kind=kind, optional=optional, default=default,
            help=str(m.get("help", "")), label=m.get("label", ""), unit=m.get("unit", ""),
            advanced=bool(m.get("advanced", False)), min=m.get("min"), max=m.get("max"),
            min_exclusive=bool(m.get("min_exclusive")), max_exclusive=bool(m.get("max_exclusive")),
            choices=m.get("choices"), special=m.get("special"),
            cli=m.get("cli") or "--" + f.name.replace("_", "-"),
            aliases=tuple(m.get("aliases", ())), not_blank=bool(m.get("not_blank")),
            decimals=m.get("decimals"), step=m.get("step"), metavar=m.get("metavar"),
            flag_value=bool(m.get("flag_value")),
        ))
    return out


def setting_info(cls: type, name: str) -> SettingInfo:
    """The :class:`SettingInfo` of one field (``KeyError`` if there is none)."""
    for info in setting_infos(cls):
        if info.name == name:
            return info
    raise KeyError(name)


def _num(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def bounds_text(info: SettingInfo) -> str:
    """The allowed values in words, e.g. ``between 8 and 8192 tokens``."""
    if info.choices:
        return "one of: " + ", ".join(str(c) for c in info.choices)
    lo, hi, unit = info.min, info.max, f" {info.unit}" if info.unit else ""
    if lo is None and hi is None:
        return ""
    if lo is not None and hi is not None and not (info.min_exclusive or info.max_exclusive):
        return f"between {_num(lo)} and {_num(hi)}{unit}"
    parts = []
    if lo is not None:
        parts.append(f"more than {_num(lo)}" if info.min_exclusive else f"at least {_num(lo)}")
    if hi is not None:
        parts.append(f"less than {_num(hi)}" if info.max_exclusive else f"at most {_num(hi)}")
    return " and ".join(parts) + unit


def _low_text(info: SettingInfo) -> str:
    lo = info.min
    assert lo is not None
    special = (info.special or {}).get(lo)
    unit = f" {info.unit}" if info.unit else ""
    if special and not info.min_exclusive:
        nxt = f", {_num(lo + 1)}" if info.kind is int else ""
        return f"{_num(lo)} ({special.lower()}){nxt} or more"
    return (f"more than {_num(lo)}" if info.min_exclusive else f"at least {_num(lo)}") + unit


def _high_text(info: SettingInfo) -> str:
    hi = info.max
    assert hi is not None
    unit = f" {info.unit}" if info.unit else ""
    return (f"less than {_num(hi)}" if info.max_exclusive else f"at most {_num(hi)}") + unit


def _type_problem(info: SettingInfo, value: Any) -> str | None:
    if info.kind is bool:
        return None if isinstance(value, bool) else "on or off (true or false)"
    if isinstance(value, bool):
        return "a number" if info.kind in (int, float) else "text"
    if info.kind is int and not isinstance(value, int):
        return "a whole number"
    if info.kind is float and not isinstance(value, (int, float)):
        return "a number"
    if info.kind is str and not isinstance(value, str):
        return "text"
    return None


def check_value(info: SettingInfo, value: Any) -> str | None:
    """Why ``value`` is not allowed for the setting (``None`` when it is)."""
    if value is None:
        return None if info.optional else f"{info.words} must be given"
    wrong_type = _type_problem(info, value)
    if wrong_type:
        return f"{info.words} must be {wrong_type} (got {value!r})"
    if info.choices is not None:
        if value not in info.choices:
            return f"{info.words} must be {bounds_text(info)} (got {value!r})"
        return None
    if info.not_blank and not str(value).strip():
        return f"{info.words} must not be empty"
    if info.kind in (int, float) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            return f"{info.words} must be a finite number (got {value!r})"
        lo, hi = info.min, info.max
        if lo is not None and (value <= lo if info.min_exclusive else value < lo):
            return f"{info.words} must be {_low_text(info)} (got {_num(value)})"
        if hi is not None and (value >= hi if info.max_exclusive else value > hi):
            return f"{info.words} must be {_high_text(info)} (got {_num(value)})"
    return None


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def coerce_value(info: SettingInfo, value: Any) -> Any:
    """``value`` (from JSON, a flag or a form) as the field's type; ``ValueError`` if it
    cannot be one (``1.5`` for a whole number, ``"many"`` for a number, ...)."""
    if value is None or (info.optional and isinstance(value, str) and value.strip().lower()
                         in ("", "auto", "none", "null")):
        if info.optional:
            return None
        raise ValueError("missing value")
    if info.kind is bool:
        if isinstance(value, str):
            text = value.strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError(value)
        if isinstance(value, (bool, int)):
            return bool(value)
        raise ValueError(value)
    if info.kind is int:
        if isinstance(value, bool):
            raise ValueError(value)
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueError(value)
            return int(value)
        return int(str(value).strip()) if isinstance(value, str) else int(value)
    if info.kind is float:
        if isinstance(value, bool):
            raise ValueError(value)
        return float(value)
    if info.kind is str:
        if isinstance(value, (dict, list)):
            raise ValueError(value)
        return str(value)
    return value


class Settings:
    """Mixin for a config dataclass whose fields are declared with :func:`setting`."""

    #: How messages name these settings: "Invalid {SETTINGS_NAME} setting: ...".
    SETTINGS_NAME: ClassVar[str] = "the"

    def __post_init__(self) -> None:
        self.validate()

    @classmethod
    def settings(cls) -> list[SettingInfo]:
        """Metadata of every field (see :func:`setting_infos`)."""
        return setting_infos(cls)

    @classmethod
    def help(cls, name: str) -> str:
        """The help text of one field."""
        return setting_info(cls, name).help

    @classmethod
    def check(cls, values: Mapping[str, Any]) -> dict[str, str]:
        """``{field: message}`` for each value (already of its type) that is not allowed."""
        out = {}
        for info in setting_infos(cls):
            if info.name in values:
                why = check_value(info, values[info.name])
                if why:
                    out[info.name] = f"Invalid {cls.SETTINGS_NAME} setting: {why}."
        return out

    def problems(self) -> list[str]:
        """One message per bad value (empty when every value is allowed)."""
        return list(self.check(self.to_dict()).values())

    def validate(self) -> None:
        """Raise :class:`WorkbenchError` with one line per bad value."""
        problems = self.problems()
        if problems:
            raise WorkbenchError("\n".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of every field."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def coerce(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        """``data`` with each value converted to its field's type (no bounds check);
        unknown keys and unconvertible values raise :class:`WorkbenchError`."""
        infos = {i.name: i for i in setting_infos(cls)}
        unknown = sorted(set(data) - set(infos))
        if unknown:
            raise WorkbenchError(
                f"Unknown {cls.SETTINGS_NAME} setting(s): {', '.join(unknown)} "
                f"(known: {', '.join(infos)})."
            )
        out: dict[str, Any] = {}
        for key, value in data.items():
            try:
                out[key] = coerce_value(infos[key], value)
            except (TypeError, ValueError):
                raise WorkbenchError(
                    f"Invalid value {value!r} for {cls.SETTINGS_NAME} setting {key}."
                ) from None
        return out

    @classmethod
    def from_dict(cls: type[S], data: Mapping[str, Any], base: S | None = None) -> S:
        """Build from a dict (over ``base``'s values, or the defaults); unknown keys are
        refused with a readable error."""
        values = base.to_dict() if base is not None else {}
        values.update(cls.coerce(data))
        return cls(**values)

    @classmethod
    def read_file(cls, path: str | Path) -> dict[str, Any]:
        """The settings of a JSON file as a dict (checked for unknown keys and types)."""
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError) as exc:
            raise WorkbenchError(f"Cannot read settings file {path}: {exc}") from None
        if not isinstance(data, dict):
            raise WorkbenchError(f"Settings file {path} must hold a JSON object.")
        return cls.coerce(data)

    @classmethod
    def load(cls: type[S], path: str | Path, base: S | None = None) -> S:
        """Build from a JSON settings file (missing keys: ``base`` or the defaults)."""
        return cls.from_dict(cls.read_file(path), base)

    def save(self, path: str | Path) -> None:
        """Write every setting to a JSON file that :meth:`load` reads back."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

