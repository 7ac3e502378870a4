"""Out-of-bounds values of every bounded setting, derived from the field metadata.

Shared by the tests that check the CLI, the GUI form and JSON settings files refuse them
with the same message.
"""
from __future__ import annotations

from typing import Any

from workbench.core.settings import SettingInfo, setting_infos

__all__ = ["bad_values"]


def _below(info: SettingInfo) -> Any:
    assert info.min is not None
    if info.min_exclusive:
        return info.kind(info.min)
    return info.kind(info.min - 1) if info.kind is int else info.min - 0.5


def _above(info: SettingInfo) -> Any:
    assert info.max is not None
    if info.max_exclusive:
        return info.kind(info.max)
    return info.kind(info.max + 1) if info.kind is int else info.max + 0.5


def bad_values(config_cls: type) -> list[tuple[str, Any]]:
    """``(field, value)`` pairs the config must refuse: below/above each bound, a choice
    it does not have, a blank text where one is needed."""
    out: list[tuple[str, Any]] = []
    for info in setting_infos(config_cls):
        if info.choices:
            out.append((info.name, "bogus"))
        if info.not_blank:
            out.append((info.name, " "))
        if info.kind in (int, float):
            if info.min is not None:
                out.append((info.name, _below(info)))
            if info.max is not None:
                out.append((info.name, _above(info)))
    return out
