"""The user's changes other than annotations, each returning what changed.

Thin wrappers over the core functions that already own their transaction (label schema,
team settings, adjudication, imports, merges, stored predictions), so that every caller
(the GUI, the CLI, a script) learns the :class:`Changes` the same way. Where the wrapped
function returns a report, the wrapper returns ``(report, changes)``.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.core.store.changes import Changes
from workbench.core.store.project import Label, Project

if TYPE_CHECKING:
    from workbench.core.data.importer import ImportReport
    from workbench.core.team.merge import MergeReport

__all__ = [
    "IMPORTED",
    "LABEL_SCHEMA_CHANGED",
    "MERGED",
    "PREDICTIONS_STORED",
    "RUNS_CHANGED",
    "SETTINGS_CHANGED",
    "add_label",
    "adjudicate",
    "clear_adjudication",
    "delete_label",
    "import_file",
    "merge_projects",
    "recolour_label",
    "rename_label",
    "reorder_labels",
    "set_assignment",
    "set_blind",
    "set_final_rule",
    "set_roster",
    "store_predictions",
    "update_label",
]

#: A label added, renamed, recoloured, reordered or deleted: annotations show new names.
LABEL_SCHEMA_CHANGED = Changes(label_schema=True, annotations=True, final_labels=True,
                               record_ids=None)
#: Records (and maybe labels and annotations) came in from a file.
IMPORTED = Changes(records=True, annotations=True, label_schema=True, record_ids=None)
#: A teammate's copy was merged in.
MERGED = Changes(records=True, annotations=True, final_labels=True, settings=True,
                 record_ids=None)
#: A team or project setting changed (final rule, roster, assignment, blind).
SETTINGS_CHANGED = Changes(settings=True, final_labels=True, record_ids=None)
#: A model's predictions were stored (the suggestions change).
PREDICTIONS_STORED = Changes(predictions=True, runs=True)
#: A training run started, finished or was removed.
RUNS_CHANGED = Changes(runs=True)


# ----------------------------------------------------------------- label schema
def add_label(project: Project, name: str, **fields: Any) -> tuple[Label, Changes]:
    """Add a label (``color``, ``shortcut``, ``guideline`` optional)."""
    label = project.add_label(name, **fields)
    return label, LABEL_SCHEMA_CHANGED


def update_label(project: Project, name: str, **fields: Any) -> tuple[Label, Changes]:
    """Change a label's name, colour, shortcut or guideline."""
    label = project.update_label(name, **fields)
    return label, LABEL_SCHEMA_CHANGED


def rename_label(project: Project, old: str, new: str) -> Changes:
    """Rename a label; every annotation keeps it."""
    project.rename_label(old, new)
    return LABEL_SCHEMA_CHANGED


def recolour_label(project: Project, name: str, color: str) -> Changes:
    """Give a label another colour."""
    project.update_label(name, color=color)
    return LABEL_SCHEMA_CHANGED


def reorder_labels(project: Project, names: Sequence[str]) -> Changes:
    """Put the labels in this display order."""
    project.reorder_labels(names)
    return LABEL_SCHEMA_CHANGED


def delete_label(project: Project, name: str) -> Changes:
    """Delete a label (and its uses in annotations)."""
    project.delete_label(name)
    return LABEL_SCHEMA_CHANGED


# ----------------------------------------------------------------- team
def adjudicate(project: Project, record_id: int, labels: Sequence[str], **fields: Any) -> Changes:
    """Decide a record's final labels (``adjudicator``, ``comment``, ``origin`` optional)."""
    from workbench.core.team.adjudication import set_final

    set_final(project, record_id, labels, **fields)
    return Changes(final_labels=True, record_ids=frozenset({record_id}))


def clear_adjudication(project: Project, record_id: int) -> Changes:
    """Remove a record's adjudicated final labels."""
    from workbench.core.team.adjudication import clear_final

    clear_final(project, record_id)
    return Changes(final_labels=True, record_ids=frozenset({record_id}))


def set_final_rule(project: Project, rule: str) -> Changes:
    """Choose how final labels are derived from the annotators' labels."""
    from workbench.core.team import settings

    settings.set_final_rule(project, rule)
    return SETTINGS_CHANGED


def set_roster(project: Project, names: Iterable[str]) -> tuple[list[str], Changes]:
    """Set the team's annotator names."""
    from workbench.core.team import settings

    return settings.set_roster(project, names), SETTINGS_CHANGED


def set_assignment(project: Project, mode: str, k: int | None = None) -> Changes:
    """Choose how records are shared among annotators."""
    from workbench.core.team import settings

    settings.set_assignment(project, mode, k)
    return SETTINGS_CHANGED


def set_blind(project: Project, blind: bool) -> Changes:
    """Hide (or show) the other annotators' labels while labelling."""
    from workbench.core.team import settings

    settings.set_blind(project, blind)
    return SETTINGS_CHANGED


# ----------------------------------------------------------------- data
def import_file(project: Project, path: str | Path,
                **options: Any) -> tuple[ImportReport, Changes]:
    """Import a data file (all or nothing); options as
    :func:`workbench.core.data.importer.import_file`."""
    from workbench.core.data.importer import import_file as _import_file

    report = _import_file(project, path, **options)
    project.reload_labels()
    return report, IMPORTED


def merge_projects(project: Project, other_path: str | Path,
                   **options: Any) -> tuple[MergeReport, Changes]:
    """Merge a teammate's copy of the project (one transaction)."""
    from workbench.core.team.merge import merge_projects as _merge

    report = _merge(project, other_path, **options)
    return report, MERGED


def store_predictions(project: Project, run_id: int, record_ids: Sequence[int],
                      labels: Sequence[str], probs: Any, **options: Any) -> Changes:
    """Store a model's predictions (they become the suggestions when that model suggests)."""
    from workbench.core.assist.suggestions import store_predictions as _store

    _store(project, run_id, record_ids, labels, probs, **options)
    return PREDICTIONS_STORED
