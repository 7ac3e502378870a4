"""Walking the labelling queue: the strategies on offer, assignment filtering and the
back/forward history of records shown.

Everything works by keyset pagination over the record id (see
:mod:`workbench.core.assist.queue`), so a million-record project answers in milliseconds.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING

from workbench.core.assist.queue import ImportOrder, QueueStrategy
from workbench.core.errors import WorkbenchError
from workbench.core.team.settings import filter_for_annotator

if TYPE_CHECKING:
    from workbench.core.store.project import Project

__all__ = [
    "RecordNavigator",
    "assignment_filter",
    "available_strategies",
    "get_strategy",
    "model_strategies",
    "queue_ids",
    "span_strategies",
]

#: How many times :func:`queue_ids` asks again when an assignment filter drops ids.
_MAX_ROUNDS = 20


_BUILTIN: dict[str, type[QueueStrategy]] = {ImportOrder.name: ImportOrder}


def model_strategies() -> dict[str, type[QueueStrategy]]:
    """The model-driven orders (imported on first use: they bring numpy)."""
    from workbench.core.assist.active_learning import STRATEGIES

    return STRATEGIES


def span_strategies() -> dict[str, type[QueueStrategy]]:
    """The model-driven orders of a span project (token-level uncertainty)."""
    from workbench.core.spans.span_queue import SPAN_STRATEGIES

    return SPAN_STRATEGIES


#: Model-driven orders that use no model, so they suit span projects as well.
_ANY_TASK = ("random",)


def _registry(project: Project | None = None) -> dict[str, type[QueueStrategy]]:
    found: dict[str, type[QueueStrategy]] = dict(_BUILTIN)
    spans = project is not None and project.is_spans
    for name, cls in model_strategies().items():
        if not spans or name in _ANY_TASK:
            found.setdefault(str(name), cls)
    if spans:
        for name, cls in span_strategies().items():
            found.setdefault(str(name), cls)
    return found


def available_strategies(project: Project | None = None) -> list[str]:
    """Names of every queue strategy, the default (``"order"``) first.

    With a span project: the orders that suit it (``least-confidence`` there is the
    token-level uncertainty order of :mod:`workbench.core.spans.span_queue`).
    """
    return list(_registry(project))


def get_strategy(name: str, project: Project | None = None) -> QueueStrategy:
    """A new strategy object by name; raises :class:`WorkbenchError` for an unknown name.

    With a span project, every model-driven order but ``random`` is its token-level
    uncertainty order, as ``workbench queue`` does for span projects.
    """
    registry = _registry()
    if project is not None and project.is_spans:
        spans = _registry(project)
        if name in registry and name not in spans:
            name = next(iter(span_strategies()))
        registry = spans
    cls = registry.get(name)
    if cls is None:
        raise WorkbenchError(
            f"Unknown queue order {name!r} (choose one of: {', '.join(registry)})."
        )
    strategy = cls()
    if not getattr(strategy, "name", ""):
        strategy.name = name
    return strategy


def assignment_filter() -> Callable[[Project, str, Sequence[int]], Sequence[int]] | None:
    """Narrows ids to an annotator's assignment (a no-op when the team shares everything)."""
    return filter_for_annotator


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
    keep = assignment_filter()
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
