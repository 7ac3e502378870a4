"""Data-preparation jobs for a worker thread: preview (plan) or apply, with progress and
cancel (see :mod:`workbench.core.jobs`)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.core.errors import WorkbenchError
from workbench.core.jobs import ProgressEvent
from workbench.core.prep import operations as ops
from workbench.core.prep.config import (
    AugmentConfig,
    FilterConfig,
    MaskConfig,
    NearDuplicateConfig,
    NormaliseConfig,
)
from workbench.core.prep.text_steps import StepReport
from workbench.core.store.project import Project

__all__ = ["PrepJobConfig", "PrepResult", "STEP_CONFIGS", "prep_job"]

#: Each step's settings class.
STEP_CONFIGS: dict[str, type] = {
    "normalise": NormaliseConfig,
    "mask": MaskConfig,
    "near_duplicates": NearDuplicateConfig,
    "filter": FilterConfig,
    "augment": AugmentConfig,
    "restore": type(None),
}


@dataclass
class PrepJobConfig:
    """A step to preview (``plan`` None, ``apply`` False), to plan and apply (``apply``), or
    a previewed ``plan`` to apply."""

    step: str
    settings: Any = None
    apply: bool = False
    plan: Any = None


@dataclass
class PrepResult:
    """The plan (always) and, when applied, the report."""

    plan: Any
    report: StepReport | None = None
    changes: Any = None
    details: dict[str, Any] = field(default_factory=dict)


def make_plan(project: Project, step: str, settings: Any, *,
              progress: Callable[[ProgressEvent], None],
              should_stop: Callable[[], bool]) -> ops.Plan:
    """The plan of one step on an open project."""
    kwargs = {"progress": progress, "should_stop": should_stop}
    if step == "normalise":
        return ops.plan_normalise(project, settings or NormaliseConfig(), **kwargs)
    if step == "mask":
        return ops.plan_mask(project, settings or MaskConfig(), **kwargs)
    if step == "near_duplicates":
        return ops.plan_near_duplicates(project, settings or NearDuplicateConfig(), **kwargs)
    if step == "filter":
        return ops.plan_filters(project, settings or FilterConfig(), **kwargs)
    if step == "augment":
        return ops.plan_augment(project, settings or AugmentConfig(), **kwargs)
    if step == "restore":
        return ops.plan_restore(project)
    raise WorkbenchError(f"Unknown data preparation step {step!r}.")


def prep_job(project_path: str | Path, config: PrepJobConfig, *,
             progress: Callable[[ProgressEvent], None],
             should_stop: Callable[[], bool]) -> PrepResult:
    """Preview or apply one step (or, with step ``"undo"``, undo the last one) on the
    project's own connection."""
    with Project.open(project_path) as project:
        if config.step == "undo":
            progress(ProgressEvent("undo", 0, 0, "Undoing the last step…"))
            undone, changes = ops.undo_step(project)
            return PrepResult(None, None, changes, {"message": undone.message()})
        plan = config.plan
        if plan is None:
            plan = make_plan(project, config.step, config.settings,
                             progress=progress, should_stop=should_stop)
        if not (config.apply or config.plan is not None):
            return PrepResult(plan)
        options = config.settings.to_dict() if hasattr(config.settings, "to_dict") else {}
        progress(ProgressEvent("apply", 0, 0, "Applying…"))
        report, changes = ops.apply_plan(project, plan, options)
        return PrepResult(plan, report, changes)
