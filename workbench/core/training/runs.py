"""Run records in the project's ``runs`` table."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.core.project import Project

__all__ = ["list_runs", "get_run"]


def list_runs(project: Project) -> list[dict[str, Any]]:
    """Every run, newest first, with its config and metrics decoded."""
    raise NotImplementedError


def get_run(project: Project, run: str | int = "latest") -> dict[str, Any]:
    """One run by id, or the latest completed one."""
    raise NotImplementedError
