"""The panel protocol shared by every tab of the main window.

A panel shows the open project (``set_project(project)``), hears about every change made
anywhere (``refresh(changes)``) and about the annotator's name (``set_annotator``), stops
its work on ``shutdown()``, and reports its own changes with one signal,
``changed = Signal(object)`` carrying a :class:`~workbench.core.store.changes.Changes`;
``status_message`` and ``open_records`` ask the window to show a message or records.

:class:`ChangesListener` implements ``refresh``: the part of a refresh a panel must
always keep current runs at once (``_refresh_now``), the rest only while the panel is
shown (``_refresh_shown``); changes that arrive while it is hidden are merged and applied
when it is shown next.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from workbench.core.store.changes import Changes

__all__ = ["ChangesListener"]


class ChangesListener:
    """Mixin for a ``QWidget`` panel (list it before the Qt class): ``refresh(changes)``."""

    _pending_changes: Changes | None = None

    def refresh(self, changes: Changes | None = None) -> None:
        """Bring the panel up to date after ``changes`` (``None``: anything changed)."""
        if not isinstance(changes, Changes):  # None, or a button's ``checked`` argument
            changes = Changes.everything()
        if not changes:
            return
        self._refresh_now(changes)
        if self.isVisible():  # type: ignore[attr-defined]
            self._pending_changes = None
            self._refresh_shown(changes)
            return
        pending = self._pending_changes
        merged = changes if pending is None else pending | changes
        self._pending_changes = replace(merged, steps=())  # counts were updated at once

    def refresh_pending(self) -> None:
        """Apply the changes that arrived while the panel was hidden."""
        pending, self._pending_changes = self._pending_changes, None
        if pending is not None:
            self._refresh_shown(pending)

    def set_annotator(self, name: str) -> None:
        """The user's annotator name changed (panels that show or use it override this)."""

    def shutdown(self) -> None:
        """Stop the panel's background work before the window closes (override if any)."""

    def _refresh_now(self, changes: Changes) -> None:
        """What must be current even while hidden (cheap); nothing by default."""

    def _refresh_shown(self, changes: Changes) -> None:
        """What a shown panel updates (may be slow); nothing by default."""

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)  # type: ignore[misc]
        self.refresh_pending()
