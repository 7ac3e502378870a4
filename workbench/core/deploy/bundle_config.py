"""Reading and checking a bundle's ``bundle.json``, and keeping its files inside it.

Copied verbatim into every exported bundle (as ``bundle_config.py`` beside
``inference.py``): standard library only. A bundle may come from anywhere, so every
value is checked and every problem is one line naming the setting; ``predict.py`` then
refuses a bad bundle without a traceback.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

try:  # inside Workbench the errors are ordinary user-facing Workbench errors
    from workbench.core.errors import Cancelled
    from workbench.core.errors import ModelError as ErrorBase
except ImportError:  # standalone bundle: no Workbench installed
    ErrorBase = Exception  # type: ignore[misc,assignment]

    class Cancelled(Exception):  # type: ignore[no-redef]
        """The user cancelled a long-running job (Workbench's own class when installed)."""

__all__ = [
    "BUNDLE_CONFIG",
    "MAX_CONFIG_BYTES",
    "MAX_LENGTH_LIMIT",
    "BundleError",
    "ErrorBase",
    "Cancelled",
    "check_bundle_config",
    "bundle_file",
    "load_bundle_config",
]

BUNDLE_CONFIG = "bundle.json"


class BundleError(ErrorBase):
    """The bundle is missing a file, is damaged, or its parts do not fit together."""


#: A bundle.json larger than this is refused (it holds a label map and a few figures).
MAX_CONFIG_BYTES = 10 << 20
#: The largest max_length accepted from a bundle.json.
MAX_LENGTH_LIMIT = 1 << 20


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_bundle_config(config: Any, where: str = BUNDLE_CONFIG) -> dict[str, Any]:
    """Check the values of a parsed ``bundle.json``; returns it or raises :class:`BundleError`.

    Every message is one line naming the setting: a bundle may come from anywhere, and
    ``predict.py`` must refuse a bad one without a traceback.
    """
    if not isinstance(config, dict):
        raise BundleError(f"{where} is not a JSON object.")
    labels = config.get("labels")
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise BundleError(f"{where} has no valid label list ('labels': a list of names).")
    if len(set(labels)) != len(labels):
        raise BundleError(f"{where} lists the same label twice.")
    if not isinstance(config.get("multi_label", False), bool):
        raise BundleError(f"{where}: 'multi_label' must be true or false, not {config['multi_label']!r}.")
    max_length = config.get("max_length")
    if max_length is not None and not (_is_int(max_length) and 1 <= max_length <= MAX_LENGTH_LIMIT):
        raise BundleError(
            f"{where}: 'max_length' must be a whole number of tokens from 1 to "
            f"{MAX_LENGTH_LIMIT}, not {max_length!r}."
        )
    pad_id = config.get("pad_id")
    if pad_id is not None and not (_is_int(pad_id) and pad_id >= 0):
        raise BundleError(f"{where}: 'pad_id' must be a token id (0 or more), not {pad_id!r}.")
    thresholds = config.get("thresholds")
    if thresholds is not None and (
        not isinstance(thresholds, list)
        or len(thresholds) != len(labels)
        or not all(
            isinstance(t, (int, float)) and not isinstance(t, bool) and 0.0 <= t <= 1.0
            for t in thresholds
        )
    ):
        raise BundleError(
            f"{where}: 'thresholds' must list one number from 0 to 1 per label "
            f"({len(labels)} labels)."
        )
    temperature = config.get("temperature")
    if temperature is not None and not (
        isinstance(temperature, (int, float)) and not isinstance(temperature, bool)
        and 1e-3 <= temperature <= 1e3
    ):
        raise BundleError(
            f"{where}: 'temperature' (confidence calibration) must be a number from 0.001 "
            f"to 1000, not {temperature!r}."
        )
    for key in ("model_file", "fp32_model_file", "explainer_file", "onnxruntime_version"):
        value = config.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise BundleError(f"{where}: {key!r} must be a file name, not {value!r}.")
    for key in ("model_file", "fp32_model_file", "explainer_file"):
        name = config.get(key)
        if name is not None and (os.path.isabs(name) or ".." in Path(name).parts):
            raise BundleError(
                f"{key} {name!r} points outside the bundle: every file a bundle uses must "
                "lie inside its folder."
            )
    return config


def bundle_file(bundle: Path, name: str, what: str = "file") -> Path:
    """``bundle / name``, refused when it resolves outside the bundle (``..``, an absolute
    path or a link leading out)."""
    path = bundle / name
    try:
        inside = not os.path.isabs(name) and path.resolve().is_relative_to(bundle.resolve())
    except (OSError, RuntimeError):  # RuntimeError: a link loop
        inside = False
    if not inside:
        raise BundleError(
            f"{what} {name!r} points outside bundle {bundle}: every file a bundle uses must "
            "lie inside its folder."
        )
    return path


def load_bundle_config(bundle: Path) -> dict[str, Any]:
    """Read and check ``bundle.json`` of a bundle folder, or raise :class:`BundleError`."""
    if not bundle.exists():
        raise BundleError(f"Model bundle {bundle} does not exist.")
    if not bundle.is_dir():
        raise BundleError(f"{bundle} is not a model bundle folder.")
    path = bundle / BUNDLE_CONFIG
    if not path.is_file():
        raise BundleError(f"{bundle} is not a model bundle: {BUNDLE_CONFIG} is missing.")
    bundle_file(bundle, BUNDLE_CONFIG)
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise BundleError(f"{path} is too large to be a bundle's settings.")
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise BundleError(f"{path} is damaged: {first}") from None
    return check_bundle_config(config, str(path))
