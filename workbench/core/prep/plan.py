"""A previewed step: what it would change, counted per sub-step, with examples.

The preview and the application of a step compute the same :class:`TextPlan` from the same
texts, so the counts shown before applying are the counts applied.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from workbench.core.errors import Cancelled
from workbench.core.jobs import ProgressEvent
from workbench.core.store.project import Project

__all__ = ["EXAMPLES_PER_KIND", "TextPlan", "iter_texts", "plan_texts"]

EXAMPLES_PER_KIND = 3
_CHUNK = 5000


@dataclass
class TextPlan:
    """New texts of one step: ``changes`` holds ``(record id, before, after)``, ``counts`` how
    many records each sub-step (or kind of personal data) changed, ``examples`` a few of
    them per sub-step."""

    kind: str
    changes: list[tuple[int, str, str]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[tuple[int, str, str]]] = field(default_factory=dict)
    items: Counter[str] = field(default_factory=Counter)
    scanned: int = 0

    def add_example(self, sub: str, record_id: int, before: str, after: str) -> None:
        shown = self.examples.setdefault(sub, [])
        if len(shown) < EXAMPLES_PER_KIND:
            shown.append((record_id, before, after))

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.kind,
            "records_scanned": self.scanned,
            "records_changed": len(self.changes),
            "counts": dict(self.counts),
            "items": dict(self.items),
            "examples": {k: [{"id": i, "before": b, "after": a} for i, b, a in v]
                         for k, v in self.examples.items()},
        }


def iter_texts(project: Project, *, should_stop: Callable[[], bool],
               progress: Callable[[ProgressEvent], None], phase: str,
               ) -> Iterator[tuple[int, str]]:
    """Every record's ``(id, text)`` in id order, read in chunks, with progress and cancel."""
    total = project.record_count()
    done = 0
    last = 0
    while True:
        rows = project.db.execute(
            "SELECT id, text FROM records WHERE id > ? ORDER BY id LIMIT ?", [last, _CHUNK]
        ).fetchall()
        if not rows:
            break
        if should_stop():
            raise Cancelled(f"{phase.capitalize()} cancelled; nothing was changed.")
        yield from rows
        done += len(rows)
        last = rows[-1][0]
        progress(ProgressEvent(phase, done, total, f"{phase.capitalize()}: {done:,} of "
                               f"{total:,} records"))


def plan_texts(project: Project, kind: str,
               transform: Callable[[str, TextPlan], tuple[str, list[str]]], *,
               should_stop: Callable[[], bool], progress: Callable[[ProgressEvent], None],
               ) -> TextPlan:
    """Run ``transform(text, plan) -> (new text, sub-steps that changed it)`` over every
    record."""
    plan = TextPlan(kind)
    for rid, text in iter_texts(project, should_stop=should_stop, progress=progress,
                                phase=kind):
        plan.scanned += 1
        new, subs = transform(text, plan)
        if new != text:
            plan.changes.append((rid, text, new))
            for sub in subs:
                plan.counts[sub] += 1
                plan.add_example(sub, rid, text, new)
    return plan
