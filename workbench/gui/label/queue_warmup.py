"""The "diverse" queue without waiting: its sentence embeddings are computed in a worker
thread (:func:`workbench.core.assist.jobs.diverse_warm_job`) while the queue groups by
TF-IDF; when they are cached, the queue's prefetched records are dropped so the next
ones are grouped by meaning."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject

from workbench.core.assist.jobs import DiverseWarmConfig, diverse_warm_job
from workbench.gui.widgets.workers import JobHandle, run_in_thread

if TYPE_CHECKING:
    from workbench.core.assist.navigation import RecordNavigator
    from workbench.core.assist.queue import QueueStrategy
    from workbench.core.store.project import Project

__all__ = ["QueueWarmup", "SYNC_LIMIT"]

log = logging.getLogger(__name__)

#: Texts the labelling view may embed itself when the queue refills (a fraction of a second).
SYNC_LIMIT = 32


class QueueWarmup(QObject):
    """Owns the background encoder pass of one labelling view's "diverse" queue."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.job: JobHandle | None = None
        self.nav: RecordNavigator | None = None
        self.strategy: QueueStrategy | None = None

    def prepare(self, strategy: QueueStrategy, project: Project, nav: RecordNavigator,
                annotator: str) -> QueueStrategy:
        """Return ``strategy`` ready for the labelling view; for "diverse", start the
        background pass (the pick groups by TF-IDF until it is done)."""
        if strategy.name != "diverse" or project.is_spans:
            return strategy
        strategy.sync_limit = SYNC_LIMIT  # type: ignore[attr-defined]
        self.nav, self.strategy = nav, strategy
        if self.job is None or not self.job.is_running():
            self.job = run_in_thread(
                self, diverse_warm_job, str(project.path), DiverseWarmConfig(annotator=annotator),
                on_done=self._done, on_failed=self._failed, name="diverse-embeddings",
            )
        return strategy

    def _done(self, _ranked: Any) -> None:
        self.job = None
        if self.nav is not None and self.nav.strategy is self.strategy:
            self.nav.set_strategy(self.strategy)  # refill from the embeddings now cached

    def _failed(self, exc: BaseException) -> None:
        self.job = None
        log.warning("Embedding the diverse queue failed (it groups by TF-IDF): %s", exc)

    def shutdown(self) -> None:
        if self.job is not None and self.job.is_running():
            self.job.silence()
            self.job.cancel()
            self.job.wait(30_000)
        self.job = None
