"""Steps that remove or mark whole records: near-duplicate groups and filters.

Near-duplicate groups whose members carry different final labels are never reduced: their
members are marked ``duplicate_conflict`` and appear in the Review list
(:func:`duplicate_conflicts`) until their labels agree.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from workbench.core.jobs import ProgressEvent, never_stop, no_progress
from workbench.core.prep import steps
from workbench.core.prep.config import FilterConfig, NearDuplicateConfig
from workbench.core.prep.filters import filter_reason
from workbench.core.prep.near_duplicates import find_groups, signatures
from workbench.core.prep.plan import EXAMPLES_PER_KIND, iter_texts
from workbench.core.prep.text_steps import StepReport
from workbench.core.store.project import Project
from workbench.core.store.snapshot import resolve_label_map

__all__ = [
    "CONFLICT_MARK",
    "DUPLICATE_MARK",
    "DuplicatePlan",
    "FILTER_MARK",
    "FilterPlan",
    "apply_duplicate_plan",
    "apply_filter_plan",
    "duplicate_conflicts",
    "plan_filters",
    "plan_near_duplicates",
]

DUPLICATE_MARK = "near_duplicate"
CONFLICT_MARK = "duplicate_conflict"
FILTER_MARK = "filtered"

Progress = Callable[[ProgressEvent], None]


@dataclass
class DuplicatePlan:
    """Near-duplicate groups (record ids) and what applying does with them."""

    action: str
    groups: list[list[int]] = field(default_factory=list)
    labels: dict[int, list[str]] = field(default_factory=dict)
    texts: dict[int, str] = field(default_factory=dict)
    conflicts: list[int] = field(default_factory=list)  # indexes into groups
    remove: list[int] = field(default_factory=list)
    marks: dict[str, dict[int, str | None]] = field(default_factory=dict)
    scanned: int = 0
    kind: str = "near_duplicates"

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.kind, "action": self.action, "records_scanned": self.scanned,
            "groups": self.groups, "records_in_groups": sum(len(g) for g in self.groups),
            "conflicting_groups": [self.groups[i] for i in self.conflicts],
            "remove": self.remove,
            "mark": sorted(r for r, v in self.marks.get(DUPLICATE_MARK, {}).items() if v),
        }


def _keeper(group: list[int], labels: dict[int, list[str]]) -> int:
    # A labelled record is kept before an unlabelled one, then the oldest.
    return min(group, key=lambda r: (r not in labels, r))


def plan_near_duplicates(project: Project, config: NearDuplicateConfig, *,
                         progress: Progress = no_progress,
                         should_stop: Callable[[], bool] = never_stop) -> DuplicatePlan:
    """Find near-duplicate groups and decide, per group, what applying does."""
    config.validate()
    ids: list[int] = []
    texts: list[str] = []
    for rid, text in iter_texts(project, should_stop=should_stop, progress=progress,
                                phase="reading"):
        ids.append(rid)
        texts.append(text)
    total = len(texts)

    def hashed(done: int) -> None:
        progress(ProgressEvent("hashing", done, total, f"MinHash: {done:,} of {total:,}"))

    sig, has = signatures(texts, shingle=config.shingle, num_perm=config.num_perm,
                          should_stop=should_stop, progress=hashed)
    progress(ProgressEvent("grouping", 0, 0, "Grouping candidates…"))
    rows = find_groups(sig, has, threshold=config.threshold)
    plan = DuplicatePlan(action=config.duplicates, scanned=total)
    plan.groups = [[ids[i] for i in g] for g in rows]
    for g in rows:
        for i in g:
            plan.texts[ids[i]] = texts[i]
    label_map = resolve_label_map(project)
    members = {r for g in plan.groups for r in g}
    plan.labels = {r: label_map[r] for r in members if r in label_map}
    dup_marks: dict[int, str | None] = {}
    conflict_marks: dict[int, str | None] = {}
    for index, group in enumerate(plan.groups):
        distinct = {tuple(sorted(plan.labels[r])) for r in group if r in plan.labels}
        conflict = len(distinct) > 1
        if conflict:
            plan.conflicts.append(index)
            conflict_marks.update(dict.fromkeys(group, str(group[0])))
        if plan.action == "mark" or (plan.action == "keep-one" and conflict):
            dup_marks.update(dict.fromkeys(group, str(group[0])))
        elif plan.action == "keep-one":
            keep = _keeper(group, plan.labels)
            plan.remove.extend(r for r in group if r != keep)
    # Earlier marks of records no longer in a group are cleared by a new search.
    for kind, new in ((DUPLICATE_MARK, dup_marks), (CONFLICT_MARK, conflict_marks)):
        old = {r for (r,) in project.db.execute(
            "SELECT record_id FROM record_marks WHERE kind = ?", [kind])}
        if plan.action == "keep-all" and kind == DUPLICATE_MARK:
            continue
        for r in old - set(new) - set(plan.remove):
            new[r] = None
        plan.marks[kind] = new
    return plan


def apply_duplicate_plan(project: Project, plan: DuplicatePlan,
                         options: dict[str, Any] | None = None) -> StepReport:
    """Remove and mark as planned, as one undoable step."""
    summary = (f"{len(plan.groups)} group(s) of near-duplicates "
               f"({sum(len(g) for g in plan.groups)} records), {len(plan.conflicts)} with "
               f"conflicting labels; {len(plan.remove)} removed")
    with project.db.atomic():
        step_id = steps.new_step(project, plan.kind, options or {}, summary)
        removed = steps.delete_records(project, step_id, plan.remove)
        for kind, values in plan.marks.items():
            changed = {r: v for r, v in values.items() if _mark(project, r, kind) != v}
            steps.mark_records(project, step_id, kind, changed)
    return StepReport(step_id, plan.kind, removed, len(plan.remove) - removed, summary)


def _mark(project: Project, record_id: int, kind: str) -> str | None:
    row = project.db.execute("SELECT value FROM record_marks WHERE record_id = ? AND kind = ?",
                             [record_id, kind]).fetchone()
    return None if row is None else row[0]


def duplicate_conflicts(project: Project) -> dict[int, list[int]]:
    """Records marked as near-duplicates with conflicting labels: record id -> the other
    members of its group (for the Review list)."""
    groups: dict[str, list[int]] = {}
    for rid, value in project.db.execute(
            "SELECT record_id, value FROM record_marks WHERE kind = ? ORDER BY record_id",
            [CONFLICT_MARK]):
        groups.setdefault(value, []).append(rid)
    return {r: [o for o in g if o != r] for g in groups.values() for r in g if len(g) > 1}


@dataclass
class FilterPlan:
    """Records caught by the filters, with the reason of each."""

    action: str
    caught: dict[int, str] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    scanned: int = 0
    kind: str = "filter"

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.kind, "action": self.action, "records_scanned": self.scanned,
            "records_caught": len(self.caught), "counts": dict(self.counts),
            "records": sorted(self.caught),
            "examples": {k: [{"id": i, "text": t} for i, t in v]
                         for k, v in self.examples.items()},
        }


def plan_filters(project: Project, config: FilterConfig, *, progress: Progress = no_progress,
                 should_stop: Callable[[], bool] = never_stop) -> FilterPlan:
    """Which records the filters catch, and why."""
    config.validate()
    plan = FilterPlan(action=config.filtered)
    for rid, text in iter_texts(project, should_stop=should_stop, progress=progress,
                                phase="filter"):
        plan.scanned += 1
        reason = filter_reason(text, config)
        if reason is None:
            continue
        plan.caught[rid] = reason
        plan.counts[reason] += 1
        shown = plan.examples.setdefault(reason, [])
        if len(shown) < EXAMPLES_PER_KIND:
            shown.append((rid, text[:300]))
    return plan


def apply_filter_plan(project: Project, plan: FilterPlan,
                      options: dict[str, Any] | None = None) -> StepReport:
    """Remove or mark the caught records, as one undoable step."""
    summary = (f"{len(plan.caught)} record(s) "
               f"{'removed' if plan.action == 'remove' else 'marked'} ("
               + ", ".join(f"{k} {v}" for k, v in sorted(plan.counts.items())) + ")")
    with project.db.atomic():
        step_id = steps.new_step(project, plan.kind, options or {}, summary)
        if plan.action == "remove":
            applied = steps.delete_records(project, step_id, sorted(plan.caught))
        else:
            applied = steps.mark_records(project, step_id, FILTER_MARK, plan.caught)
    return StepReport(step_id, plan.kind, applied, len(plan.caught) - applied, summary)
