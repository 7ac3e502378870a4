"""Locating files shipped in ``resources/`` (installed as the package ``workbench.resources``)."""
from __future__ import annotations

from pathlib import Path

__all__ = ["resource_path"]


def resource_path(*parts: str) -> Path:
    """Absolute path of a shipped resource file, e.g. ``resource_path("demo", "support.csv")``."""
    try:
        import workbench.resources as pkg

        base = Path(pkg.__file__).resolve().parent
    except ImportError:  # running from a source tree without install
        base = Path(__file__).resolve().parents[2] / "resources"
    return base.joinpath(*parts)
