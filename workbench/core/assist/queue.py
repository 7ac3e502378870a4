"""Labelling queues: which records an annotator sees next, as strategies.

A strategy answers one question, :meth:`QueueStrategy.next_ids`: "the next ``limit``
records for this annotator, leaving out ``exclude``". The built-in :class:`ImportOrder`
gives records the annotator has not annotated yet, in import order; model-driven orders
live in :mod:`workbench.core.assist.active_learning`, and
:mod:`workbench.core.assist.navigation` offers them all and walks the queue.

Everything here works by keyset pagination over the record id, so a project of a
million records answers in milliseconds: no ``OFFSET`` scans, never all ids in memory.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Collection
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.core.store.project import Project

__all__ = ["QueueStrategy", "ImportOrder", "invalidate"]

log = logging.getLogger(__name__)


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
