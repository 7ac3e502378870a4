"""Where the demo project lives on this machine."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QStandardPaths

from workbench.core.store.project import PROJECT_SUFFIX

__all__ = ["demo_project_path"]


def demo_project_path() -> Path:
    """Where the demo project lives: the user's data folder for Workbench."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    if not base:
        base = str(Path.home() / ".local" / "share" / "Workbench")
    return Path(base) / "demo" / f"Support messages demo{PROJECT_SUFFIX}"
