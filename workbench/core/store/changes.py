"""What an operation changed, so that every view can refresh just what it shows.

Each user operation (:mod:`workbench.core.store.operations`) returns a :class:`Changes`
value. The GUI's main window hands it to every panel's ``refresh(changes)``; a panel looks
at the kinds it shows and ignores the rest.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.core.store.project import Annotation

__all__ = ["AnnotationStep", "Changes", "KINDS"]

#: The kinds of project data an operation can change (the boolean fields of Changes).
KINDS = (
    "annotations",
    "records",
    "label_schema",
    "final_labels",
    "runs",
    "predictions",
    "settings",
)


@dataclass(frozen=True)
class AnnotationStep:
    """One annotator's annotation of one record going from ``before`` to ``after``
    (``None``: no annotation)."""

    record_id: int
    annotator: str
    before: Annotation | None
    after: Annotation | None

    def inverse(self) -> AnnotationStep:
        """The step that undoes this one."""
        return AnnotationStep(self.record_id, self.annotator, self.after, self.before)


@dataclass(frozen=True)
class Changes:
    """Which kinds of project data changed, and which records.

    ``record_ids`` lists the records whose annotations or final labels changed; ``None``
    means "possibly any record" (an import, a merge, a label renamed). ``steps`` holds the
    exact annotation transitions of an annotation operation, so that a view can update
    counts without re-reading the project.
    """

    annotations: bool = False
    records: bool = False
    label_schema: bool = False
    final_labels: bool = False
    runs: bool = False
    predictions: bool = False
    settings: bool = False
    record_ids: frozenset[int] | None = frozenset()
    steps: tuple[AnnotationStep, ...] = field(default=(), compare=False)

    @classmethod
    def everything(cls) -> Changes:
        """Anything may have changed (a project reopened, another process wrote)."""
        return cls(**{kind: True for kind in KINDS}, record_ids=None)

    @classmethod
    def of_annotations(cls, steps: Iterable[AnnotationStep]) -> Changes:
        """The changes of some annotation transitions."""
        steps = tuple(steps)
        return cls(
            annotations=bool(steps),
            record_ids=frozenset(step.record_id for step in steps),
            steps=steps,
        )

    def kinds(self) -> tuple[str, ...]:
        """Names of the kinds that changed, e.g. ``("annotations",)``."""
        return tuple(kind for kind in KINDS if getattr(self, kind))

    def touches(self, *kinds: str) -> bool:
        """Whether any of these kinds changed."""
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"Unknown kind(s) of change: {', '.join(sorted(unknown))}")
        return any(getattr(self, kind) for kind in kinds)

    def __bool__(self) -> bool:
        return bool(self.kinds())

    def __or__(self, other: Changes) -> Changes:
        if not isinstance(other, Changes):
            return NotImplemented
        flags = {f.name: getattr(self, f.name) or getattr(other, f.name)
                 for f in fields(self) if f.name in KINDS}
        if self.record_ids is None or other.record_ids is None:
            ids = None
        else:
            ids = self.record_ids | other.record_ids
        return replace(self, **flags, record_ids=ids, steps=self.steps + other.steps)

    def __repr__(self) -> str:
        ids = "any" if self.record_ids is None else sorted(self.record_ids)
        return f"Changes({', '.join(self.kinds()) or 'nothing'}; records {ids})"
