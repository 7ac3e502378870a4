"""Steps that rewrite texts: normalise, mask personal data, restore the imported text."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from workbench.core.jobs import ProgressEvent, never_stop, no_progress
from workbench.core.prep import steps
from workbench.core.prep.config import MaskConfig, NormaliseConfig
from workbench.core.prep.normalise import normalise, steps_of
from workbench.core.prep.pii import mask_text
from workbench.core.prep.plan import TextPlan, plan_texts
from workbench.core.store.project import Project

__all__ = ["StepReport", "apply_text_plan", "plan_mask", "plan_normalise", "plan_restore"]

Progress = Callable[[ProgressEvent], None]


@dataclass(frozen=True)
class StepReport:
    """What an applied step did."""

    step_id: int
    kind: str
    applied: int
    skipped: int = 0
    summary: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step_id, "kind": self.kind, "applied": self.applied,
                "skipped": self.skipped, "summary": self.summary}


def plan_normalise(project: Project, config: NormaliseConfig, *,
                   progress: Progress = no_progress,
                   should_stop: Callable[[], bool] = never_stop) -> TextPlan:
    """What normalising would change: per sub-step, records changed and examples."""
    config.validate()
    names = steps_of(config)

    def transform(text: str, _plan: TextPlan) -> tuple[str, list[str]]:
        return normalise(text, names)

    plan = plan_texts(project, "normalise", transform, should_stop=should_stop,
                      progress=progress)
    plan.items.update(plan.counts)
    return plan


def plan_mask(project: Project, config: MaskConfig, *, progress: Progress = no_progress,
              should_stop: Callable[[], bool] = never_stop) -> TextPlan:
    """What masking personal data would change: per kind, records changed and how many
    values were found (``items``)."""
    config.validate()
    kinds = config.type_list()

    def transform(text: str, plan: TextPlan) -> tuple[str, list[str]]:
        masked, findings = mask_text(text, kinds)
        for f in findings:
            plan.items[f.kind] += 1
        return masked, sorted({f.kind for f in findings})

    return plan_texts(project, "mask", transform, should_stop=should_stop, progress=progress)


def plan_restore(project: Project) -> TextPlan:
    """Every changed record back to its imported text."""
    plan = TextPlan("restore")
    for rid, text, original in steps.original_texts(project):
        plan.scanned += 1
        plan.changes.append((rid, text, original))
        plan.counts["restore"] += 1
        plan.add_example("restore", rid, text, original)
    plan.items.update(plan.counts)
    return plan


def _summary(plan: TextPlan) -> str:
    detail = ", ".join(f"{k} {v}" for k, v in sorted(plan.items.items()))
    return f"{len(plan.changes)} record(s) changed" + (f" ({detail})" if detail else "")


def apply_text_plan(project: Project, plan: TextPlan,
                    options: dict[str, Any] | None = None) -> StepReport:
    """Write a previewed plan as one undoable step. A record whose text changed since the
    preview (or that was removed) is skipped and counted."""
    applied = skipped = 0
    with project.db.atomic():
        step_id = steps.new_step(project, plan.kind, options or {}, _summary(plan))
        current: dict[int, str] = {}
        ids = [rid for rid, _b, _a in plan.changes]
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            current.update(project.conn.execute(
                f"SELECT id, text FROM main.records WHERE id IN ({marks})", chunk).fetchall())
        fresh = []
        for rid, before, after in plan.changes:
            if current.get(rid) == before:
                fresh.append((rid, before, after))
            else:
                skipped += 1
        applied = steps.put_texts(project, step_id, fresh)
    return StepReport(step_id, plan.kind, applied, skipped, _summary(plan))
