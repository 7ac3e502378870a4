"""Base models: the bundled MiniLM, local Hugging Face folders and Hub ids, validated."""
from __future__ import annotations

from pathlib import Path

__all__ = ["BUNDLED", "bundled_model_path", "validate_base_model"]

BUNDLED = "bundled"


def bundled_model_path() -> Path:
    """Folder of the bundled all-MiniLM-L6-v2 model."""
    raise NotImplementedError


def validate_base_model(name: str) -> Path:
    """Resolve ``name`` to a local model folder and check it can be fine-tuned."""
    raise NotImplementedError
