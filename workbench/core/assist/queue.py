"""Labelling queues: which records an annotator sees next, as pluggable strategies.

A strategy answers one question, :meth:`QueueStrategy.next_ids`: "the next ``limit``
records for this annotator, leaving out ``exclude``". The built-in :class:`ImportOrder`
gives records the annotator has not annotated yet, in import order. Model-driven orders
register themselves in ``workbench.core.assist.active_learning.STRATEGIES`` and show up in
:func:`available_strategies` when that module is installed; assignment modes narrow the
result through ``workbench.core.team.filter_for_annotator`` when that module exists.

Everything here works by keyset pagination over the record id, so a project of a
million records answers in milliseconds: no ``OFFSET`` scans, never all ids in memory.
"""
from __future__ import annotations

import importlib
import json
import logging
from collections import deque
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING

from workbench.core.errors import WorkbenchError

if TYPE_CHECKING:
    from workbench.core.store.project import Project

__all__ = [
    "QueueStrategy",
    "RecordNavigator",
    "ImportOrder",
    "get_strategy",
    "available_strategies",
    "queue_ids",
    "invalidate",
]

log = logging.getLogger(__name__)

#: How many times :func:`queue_ids` asks again when an assignment filter drops ids.
_MAX_ROUNDS = 20


class QueueStrategy:
    """Base class: orders the records an annotator should see next."""

    #: Short identifier shown in the queue chooser and stored in settings.
    name: str = ""
    #: One-line description for tooltips.
    description: str = ""

    def next_ids(
        self,
        project: Project,
        annotator: str,
        limit: int,
        exclude: Collection[int] = (),
    ) -> list[int]:
        """The next ``limit`` record ids for ``annotator``, none of them in ``exclude``."""
        raise NotImplementedError


# Low-water marks: (project path, annotator) -> (first id that may be unannotated, the
# connection's data_version when it was found). Every id below the mark was annotated by
# that annotator when the mark was taken, so the scan can start there instead of at 1.
_low_water: dict[tuple[str, str], tuple[int, tuple[int, int]]] = {}


def invalidate(project: Project | None = None) -> None:
    """Forget remembered queue positions (after an annotation was removed, e.g. by undo)."""
    if project is None:
        _low_water.clear()
        return
    key_path = str(project.path)
    for key in [k for k in _low_water if k[0] == key_path]:
        del _low_water[key]


def _data_version(project: Project) -> tuple[int, int]:
    # data_version changes whenever another connection commits; our own removals of
    # annotations are counted by the project.
    return project.conn.execute("PRAGMA data_version").fetchone()[0], project.removals


_UNANNOTATED = (
    "NOT EXISTS (SELECT 1 FROM annotations a WHERE a.record_id = r.id AND a.annotator = ?)"
)


class ImportOrder(QueueStrategy):
    """Records the annotator has not annotated yet, in import (id) order."""

    name = "order"
    description = "Records you have not annotated yet, in the order they were imported."

    def _start(self, project: Project, annotator: str) -> int:
        key = (str(project.path), annotator)
        version = _data_version(project)
        start, seen_version = _low_water.get(key, (0, version))
        if seen_version != version:
            start = 0
        row = project.conn.execute(
            f"SELECT r.id FROM records r WHERE r.id >= ? AND {_UNANNOTATED} ORDER BY r.id LIMIT 1",
            [start, annotator],
        ).fetchone()
        first = row[0] if row else project.max_record_id() + 1
        _low_water[key] = (first, version)
        return first

    def next_ids(
        self,
        project: Project,
        annotator: str,
        limit: int,
        exclude: Collection[int] = (),
    ) -> list[int]:
        if limit <= 0:
            return []
        start = self._start(project, annotator)
        excluded = sorted(i for i in set(exclude) if i >= start)
        sql = f"SELECT r.id FROM records r WHERE r.id >= ? AND {_UNANNOTATED} "
        params: list[object] = [start, annotator]
        if excluded:
            sql += "AND r.id NOT IN (SELECT value FROM json_each(?)) "
            params.append(json.dumps(excluded))
        sql += "ORDER BY r.id LIMIT ?"
        params.append(int(limit))
        return [r[0] for r in project.conn.execute(sql, params)]


_BUILTIN: dict[str, type[QueueStrategy]] = {ImportOrder.name: ImportOrder}


def _optional(module: str, attr: str) -> object | None:
    """An attribute of an optional module, or None when the module is not installed."""
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:  # the module exists but one of its imports is missing
            log.warning("Cannot load %s: %s", module, exc)
        return None
    return getattr(mod, attr, None)


def _registry() -> dict[str, type[QueueStrategy]]:
    found: dict[str, type[QueueStrategy]] = dict(_BUILTIN)
    extra = _optional("workbench.core.assist.active_learning", "STRATEGIES")
    if isinstance(extra, dict):
        for name, cls in extra.items():
            found.setdefault(str(name), cls)
    return found


def available_strategies() -> list[str]:
    """Names of every queue strategy, the default (``"order"``) first."""
    return list(_registry())


def get_strategy(name: str) -> QueueStrategy:
    """A new strategy object by name; raises :class:`WorkbenchError` for an unknown name."""
    registry = _registry()
    cls = registry.get(name)
    if cls is None:
        raise WorkbenchError(
            f"Unknown queue order {name!r} (choose one of: {', '.join(registry)})."
        )
    strategy = cls()
    if not getattr(strategy, "name", ""):
        strategy.name = name
    return strategy


def _assignment_filter() -> Callable[[Project, str, Sequence[int]], Sequence[int]] | None:
    fn = _optional("workbench.core.team", "filter_for_annotator")
    return fn if callable(fn) else None


def queue_ids(
    strategy: QueueStrategy,
    project: Project,
    annotator: str,
    limit: int,
    exclude: Collection[int] = (),
) -> list[int]:
    """The strategy's next ids, narrowed to the annotator's assignment when teams are on.

    When the assignment filter drops ids, the strategy is asked again (a bounded number
    of times) so the caller still gets up to ``limit`` ids.
    """
    keep = _assignment_filter()
    ids = strategy.next_ids(project, annotator, limit, exclude)
    if keep is None:
        return ids
    excluded = set(exclude)
    result: list[int] = []
    asked = limit
    for _round in range(_MAX_ROUNDS):
        if not ids:
            break
        allowed = set(keep(project, annotator, ids))
        result.extend(i for i in ids if i in allowed)
        if len(result) >= limit or len(ids) < asked:
            break  # enough, or the strategy has nothing more
        excluded.update(ids)
        asked = limit - len(result)
        ids = strategy.next_ids(project, annotator, asked, excluded)
    return result[:limit]


class RecordNavigator:
    """Which record a labelling view shows, and in what order.

    Three sources, in this order: the records just seen (Back / Forward walk through
    them), records asked for explicitly (:meth:`show_first`, e.g. from the records table
    or a review list), then the queue strategy. Records seen this session are not served
    by the queue again; records the annotator has annotated meanwhile (e.g. in another
    window) are dropped from the prefetched part of the queue.
    """

    def __init__(self, strategy: QueueStrategy | None = None, *, history_max: int = 1000,
                 refill: int = 100) -> None:
        self._history_max = history_max
        self._refill = refill
        self.reset(strategy)

    def reset(self, strategy: QueueStrategy | None = None) -> None:
        """Forget everything (another project or annotator); import order unless given."""
        self.strategy: QueueStrategy = strategy or ImportOrder()
        self.history: list[int] = []
        self.pos = -1  # index into history; len(history) means "past the end"
        self.pending: deque[int] = deque()
        self._buffer: deque[int] = deque()

    def set_strategy(self, strategy: QueueStrategy) -> None:
        """Take further queue records from another strategy."""
        self.strategy = strategy
        self._buffer.clear()

    @property
    def current(self) -> int | None:
        """The record id shown now, or None (nothing yet, or the queue ran dry)."""
        return self.history[self.pos] if 0 <= self.pos < len(self.history) else None

    def can_go_back(self) -> bool:
        return self.pos > 0

    def back(self) -> int | None:
        """Step back to the record seen before; returns the new current id."""
        if self.pos > 0:
            self.pos = min(self.pos, len(self.history)) - 1
        return self.current

    def _append(self, record_id: int) -> None:
        self.history.append(record_id)
        extra = len(self.history) - self._history_max
        if extra > 0:
            del self.history[:extra]
        self.pos = len(self.history) - 1

    def open(self, record_id: int, *, requeue_current: bool = False) -> None:
        """Show ``record_id`` now; with ``requeue_current`` the record left comes back later."""
        if record_id == self.current:
            return
        if requeue_current and self.current is not None:
            self.pending.append(self.current)
        del self.history[self.pos + 1 :]
        self._append(record_id)

    def show_first(self, record_ids: Sequence[int], *, requeue_current: bool = False) -> None:
        """Show these records next (the first one now), then continue with the queue."""
        if not record_ids:
            return
        self.pending = deque(record_ids[1:])
        self.open(record_ids[0], requeue_current=requeue_current)

    def focus(self, record_id: int) -> None:
        """Make a record current: the latest time it was seen, else open it."""
        if record_id in self.history:
            self.pos = len(self.history) - 1 - self.history[::-1].index(record_id)
        else:
            self.open(record_id)

    def next(self, project: Project, annotator: str) -> int | None:
        """Move forward: through the records seen, then asked-for ones, then the queue."""
        if self.pos < len(self.history) - 1:
            self.pos += 1
            return self.current
        record_id = self.pending.popleft() if self.pending else self._from_queue(project, annotator)
        if record_id is None:
            self.pos = len(self.history)  # past the end: the queue ran dry
            return None
        self._append(record_id)
        return record_id

    def _from_queue(self, project: Project, annotator: str) -> int | None:
        seen = set(self.history)
        for _attempt in range(3):
            while self._buffer:
                record_id = self._buffer.popleft()
                if record_id in seen:
                    continue
                if project.get_annotation(record_id, annotator) is None:
                    return record_id
            more = queue_ids(self.strategy, project, annotator, self._refill, exclude=seen)
            if not more:
                return None
            self._buffer.extend(more)
        return None
