"""The coordinator's checkpoint: the global weights and history after each completed round,
so a restarted coordinator resumes from the last completed round (``--resume``).

Kept in ``<project>.models/federation-checkpoint/`` (``global.safetensors``, the server
optimiser's ``server_optimizer.safetensors`` and ``state.json``), each written to a
temporary name and renamed, so a crash never leaves a half-written checkpoint. A finished
federation removes it.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from workbench.core.errors import WorkbenchError

__all__ = ["checkpoint_dir", "save_checkpoint", "load_checkpoint", "load_optimizer_state",
           "remove_checkpoint"]

#: The server optimiser's arrays (momentum, moments), next to the global weights.
OPTIMIZER_FILE = "server_optimizer.safetensors"


def checkpoint_dir(models_dir: Path) -> Path:
    return models_dir / "federation-checkpoint"


def save_checkpoint(models_dir: Path, arrays: list[Any], state: dict[str, Any],
                    optimizer: dict[str, Any] | None = None) -> None:
    """Write the global weights, the server optimiser's arrays (``optimizer``, by name; see
    :meth:`ServerStep.state`) and ``state`` (round, history, schema, settings). ``state.json``
    is written last: it names a round only once everything of that round is on disk."""
    from safetensors.numpy import save_file

    folder = checkpoint_dir(models_dir)
    folder.mkdir(parents=True, exist_ok=True)
    if optimizer:
        tmp = folder / f"{OPTIMIZER_FILE}.partial"
        save_file(optimizer, str(tmp))
        os.replace(tmp, folder / OPTIMIZER_FILE)
    else:
        (folder / OPTIMIZER_FILE).unlink(missing_ok=True)
    tmp = folder / "global.safetensors.partial"
    save_file({f"t{i:05d}": a for i, a in enumerate(arrays)}, str(tmp))
    os.replace(tmp, folder / "global.safetensors")
    tmp = folder / "state.json.partial"
    tmp.write_text(json.dumps(state), encoding="utf-8")
    os.replace(tmp, folder / "state.json")


def load_checkpoint(models_dir: Path, expect: dict[str, Any]) -> tuple[list[Any], dict[str, Any]] | None:
    """(weights, state) of the last completed round, or None without a checkpoint.

    ``expect`` holds the values that must not have changed (schema, training settings,
    exchange); a difference is refused, naming the setting.
    """
    from safetensors.numpy import load_file

    folder = checkpoint_dir(models_dir)
    if not (folder / "state.json").is_file() or not (folder / "global.safetensors").is_file():
        return None
    try:
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        tensors = load_file(str(folder / "global.safetensors"))
    except (OSError, ValueError) as exc:
        raise WorkbenchError(f"The federation checkpoint in {folder} cannot be read: {exc}") from None
    for key, value in expect.items():
        if key not in state:
            raise WorkbenchError(
                f"Cannot resume: the checkpoint in {folder} does not record the {key} (it was written "
                f"by an earlier version of Workbench). Start a new federation without --resume "
                f"(the checkpoint is then replaced)."
            )
        if state.get(key) != value:
            raise WorkbenchError(
                f"Cannot resume: the {key} changed since the interrupted federation. Start a "
                f"new federation without --resume (the checkpoint in {folder} is then replaced)."
            )
    return [tensors[k] for k in sorted(tensors)], state


def load_optimizer_state(models_dir: Path) -> dict[str, Any]:
    """The server optimiser's arrays saved with the checkpoint (empty when it had none)."""
    from safetensors.numpy import load_file

    file = checkpoint_dir(models_dir) / OPTIMIZER_FILE
    if not file.is_file():
        return {}
    try:
        return dict(load_file(str(file)))
    except (OSError, ValueError) as exc:
        raise WorkbenchError(f"The federation checkpoint's {file.name} cannot be read: {exc}") from None


def remove_checkpoint(models_dir: Path) -> None:
    shutil.rmtree(checkpoint_dir(models_dir), ignore_errors=True)
