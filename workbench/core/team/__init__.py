"""Team work: annotators and assignment, blind labelling, agreement, adjudication, merging.

Everything here is Qt-free and works on an open :class:`~workbench.core.project.Project`.
"""
from __future__ import annotations

from workbench.core.team.settings import (
    ASSIGNMENT_MODES,
    FINAL_RULES,
    add_annotator,
    assignees,
    assignment,
    assignment_note,
    filter_for_annotator,
    final_rule,
    is_blind,
    remove_annotator,
    roster,
    set_assignment,
    set_blind,
    set_final_rule,
    set_roster,
    visible_annotations,
)

__all__ = [
    "ASSIGNMENT_MODES",
    "FINAL_RULES",
    "add_annotator",
    "assignees",
    "assignment",
    "assignment_note",
    "filter_for_annotator",
    "final_rule",
    "is_blind",
    "remove_annotator",
    "roster",
    "set_assignment",
    "set_blind",
    "set_final_rule",
    "set_roster",
    "visible_annotations",
]
