"""Data-preparation operations: preview a step, apply it (one undoable step), undo, restore.

Each ``plan_*`` function reads the project and returns a plan (nothing is written); the
matching ``apply`` writes it in one transaction and returns ``(StepReport, Changes)``. The
preview's counts are the counts applied, unless a record changed in between (then it is
skipped and counted as such).
"""
from __future__ import annotations

from typing import Any

from workbench.core.errors import WorkbenchError
from workbench.core.prep import steps
from workbench.core.prep.augment import AugmentPlan, apply_augment_plan, plan_augment
from workbench.core.prep.plan import TextPlan
from workbench.core.prep.record_steps import (
    DuplicatePlan,
    FilterPlan,
    apply_duplicate_plan,
    apply_filter_plan,
    plan_filters,
    plan_near_duplicates,
)
from workbench.core.prep.text_steps import (
    StepReport,
    apply_text_plan,
    plan_mask,
    plan_normalise,
    plan_restore,
)
from workbench.core.store.changes import Changes
from workbench.core.store.project import Project

__all__ = [
    "Plan",
    "RECORDS_REMOVED",
    "TEXTS_CHANGED",
    "apply_plan",
    "plan_augment",
    "plan_filters",
    "plan_mask",
    "plan_near_duplicates",
    "plan_normalise",
    "plan_restore",
    "undo_step",
]

Plan = TextPlan | DuplicatePlan | FilterPlan | AugmentPlan

#: Texts were rewritten (records table, search, label page).
TEXTS_CHANGED = Changes(records=True, record_ids=None)
#: Records were removed or put back, with their annotations and final labels.
RECORDS_REMOVED = Changes(records=True, annotations=True, final_labels=True,
                          predictions=True, record_ids=None)


def apply_plan(project: Project, plan: Plan,
               options: dict[str, Any] | None = None) -> tuple[StepReport, Changes]:
    """Write a previewed plan as one undoable step."""
    if isinstance(plan, TextPlan):
        return apply_text_plan(project, plan, options), TEXTS_CHANGED
    if isinstance(plan, DuplicatePlan):
        report = apply_duplicate_plan(project, plan, options)
        return report, RECORDS_REMOVED if plan.remove else TEXTS_CHANGED
    if isinstance(plan, FilterPlan):
        report = apply_filter_plan(project, plan, options)
        return report, RECORDS_REMOVED if plan.action == "remove" else TEXTS_CHANGED
    if isinstance(plan, AugmentPlan):
        return apply_augment_plan(project, plan, options), TEXTS_CHANGED
    raise WorkbenchError(f"Not a data preparation plan: {type(plan).__name__}")


def undo_step(project: Project) -> tuple[steps.UndoResult, Changes]:
    """Revert the most recent data-preparation step that is not undone."""
    result = steps.undo_last(project)
    return result, RECORDS_REMOVED if result.records else TEXTS_CHANGED
