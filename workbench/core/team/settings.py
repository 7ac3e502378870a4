"""Team settings stored in the project's ``meta`` table, and the assignment of records.

* ``annotators``: the roster, a JSON list of names (order does not matter).
* ``assignment``: ``all`` (everyone labels everything, the default), ``k`` (each record by
  ``assignment_k`` annotators) or ``split`` (each record by one annotator).
* ``blind``: ``"1"`` (default) hides other annotators' labels while labelling; ``"0"`` shows them.
* ``final_rule``: ``adjudicated-first`` (default) or ``majority``; see
  :func:`workbench.core.store.snapshot.resolve_labels`.

Assignment is deterministic and needs no coordination: a record goes to the ``k`` roster
members with the highest score ``hash(record content hash, annotator)`` (rendezvous
hashing). Teammates working in their own copies of a project therefore agree on who labels
what, and adding someone to the roster moves only about ``1/n`` of the records.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from workbench.core.errors import WorkbenchError
from workbench.core.settings import Settings, setting
from workbench.core.store.snapshot import FINAL_RULES, final_rule

if TYPE_CHECKING:
    from workbench.core.store.project import Annotation, Project

__all__ = [
    "ASSIGNMENT_MODES",
    "FINAL_RULES",
    "TeamSettings",
    "team_settings",
    "apply_team_settings",
    "roster",
    "set_roster",
    "add_annotator",
    "remove_annotator",
    "assignment",
    "set_assignment",
    "is_blind",
    "set_blind",
    "final_rule",
    "set_final_rule",
    "assignees",
    "filter_for_annotator",
    "assignment_note",
    "visible_annotations",
]

ASSIGNMENT_MODES = ("all", "k", "split")



@dataclass
class TeamSettings(Settings):
    """The team settings of a project, declared once for the CLI (and any form); stored in
    the project's ``meta`` table (read with :func:`team_settings`, written with
    :func:`apply_team_settings`)."""

    SETTINGS_NAME: ClassVar[str] = "team"

    assignment: str = setting(
        "all",
        "all: everyone labels everything; k: each record by k annotators (annotators per "
        "record); split: each record by one annotator.",
        choices=ASSIGNMENT_MODES, aliases=("--assign",), label="Assignment",
    )
    assignment_k: int = setting(
        2, "Annotators per record with assignment k.", min=1, max=1000,
        cli="--k", metavar="N", label="Annotators per record",
    )
    blind: bool = setting(
        True, "Hide other annotators' labels while labelling.", flag_value=True,
        label="Blind labelling",
    )
    final_rule: str = setting(
        "adjudicated-first",
        "adjudicated-first: adjudicated labels win, else majority; majority: ignore "
        "adjudicated labels.",
        choices=FINAL_RULES, cli="--rule", label="Final labels",
    )


def team_settings(project: Project) -> TeamSettings:
    """The project's team settings (unknown or broken stored values read as defaults)."""
    mode = project.get_meta("assignment", "all") or "all"
    try:
        k = int(project.get_meta("assignment_k", "2") or 2)
    except ValueError:
        k = 2
    return TeamSettings(
        assignment=mode if mode in ASSIGNMENT_MODES else "all",
        assignment_k=min(max(1, k), 1000),
        blind=is_blind(project),
        final_rule=final_rule(project),
    )


def apply_team_settings(project: Project, settings: TeamSettings) -> None:
    """Store the settings that differ from the project's."""
    settings.validate()
    current = team_settings(project)
    if (settings.assignment, settings.assignment_k) != (current.assignment, current.assignment_k):
        k = settings.assignment_k if settings.assignment == "k" else None
        set_assignment(project, settings.assignment, k)
    if settings.blind != current.blind:
        set_blind(project, settings.blind)
    if settings.final_rule != current.final_rule:
        set_final_rule(project, settings.final_rule)


# ----------------------------------------------------------------- roster
def roster(project: Project) -> list[str]:
    """The annotators registered for the project, sorted."""
    raw = project.get_meta("annotators")
    if not raw:
        return []
    try:
        names = json.loads(raw)
    except json.JSONDecodeError:
        return []
    return sorted({str(n) for n in names if str(n).strip()})


def set_roster(project: Project, names: Iterable[str]) -> list[str]:
    """Replace the roster; names are trimmed and de-duplicated."""
    clean = sorted({n.strip() for n in names if n and n.strip()})
    project.set_meta("annotators", json.dumps(clean, ensure_ascii=False))
    return clean


def add_annotator(project: Project, name: str) -> list[str]:
    """Add one annotator to the roster (no change if already there)."""
    if not name or not name.strip():
        raise WorkbenchError("An annotator needs a name.")
    return set_roster(project, [*roster(project), name])


def remove_annotator(project: Project, name: str) -> list[str]:
    """Remove one annotator from the roster; their annotations are kept."""
    names = roster(project)
    if name not in names:
        raise WorkbenchError(f"{name!r} is not on the project's annotator list.")
    return set_roster(project, [n for n in names if n != name])


# ----------------------------------------------------------------- settings
def assignment(project: Project) -> tuple[str, int]:
    """The assignment mode and ``k`` (``k`` is 1 for ``split``, the roster size for ``all``)."""
    mode = project.get_meta("assignment", "all") or "all"
    if mode not in ASSIGNMENT_MODES:
        mode = "all"
    if mode == "split":
        return mode, 1
    if mode == "all":
        return mode, max(1, len(roster(project)))
    try:
        k = int(project.get_meta("assignment_k", "2") or 2)
    except ValueError:
        k = 2
    return mode, max(1, k)


def set_assignment(project: Project, mode: str, k: int | None = None) -> None:
    """Set the assignment mode (``all``, ``k`` or ``split``); ``k`` is needed for ``k``."""
    if mode not in ASSIGNMENT_MODES:
        raise WorkbenchError(
            f"Unknown assignment mode {mode!r} (use one of: {', '.join(ASSIGNMENT_MODES)})."
        )
    if mode == "k":
        if k is None:
            k = int(project.get_meta("assignment_k", "2") or 2)
        if k < 1:
            raise WorkbenchError("k must be at least 1 annotator per record.")
        with project.db.atomic():
            project.set_meta("assignment", mode)
            project.set_meta("assignment_k", str(int(k)))
        return
    project.set_meta("assignment", mode)


def is_blind(project: Project) -> bool:
    """True when annotators must not see each other's labels while labelling (default)."""
    return (project.get_meta("blind", "1") or "1") != "0"


def set_blind(project: Project, blind: bool) -> None:
    project.set_meta("blind", "1" if blind else "0")


def set_final_rule(project: Project, rule: str) -> None:
    if rule not in FINAL_RULES:
        raise WorkbenchError(f"Unknown final rule {rule!r} (use one of: {', '.join(FINAL_RULES)}).")
    project.set_meta("final_rule", rule)


# ----------------------------------------------------------------- assignment
def _score(content_hash: str, annotator: str) -> bytes:
    return hashlib.blake2b(f"{content_hash}\x1f{annotator}".encode(), digest_size=8).digest()


def assignees(content_hash: str, names: Sequence[str], k: int) -> list[str]:
    """The ``k`` annotators of ``names`` to whom a record with this content hash goes."""
    ranked = sorted(names, key=lambda a: _score(content_hash, a), reverse=True)
    return ranked[:k]


def _hashes(project: Project, ids: Sequence[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    for start in range(0, len(ids), 5000):
        chunk = list(ids[start : start + 5000])
        for rid, h in project.db.execute(
            "SELECT id, hash FROM records WHERE id IN (SELECT value FROM json_each(?))",
            [json.dumps(chunk)],
        ):
            found[rid] = h
    return found


def filter_for_annotator(project: Project, annotator: str, ids: Sequence[int]) -> list[int]:
    """The ids (in the given order) that the assignment mode gives to ``annotator``.

    Mode ``all``, an empty roster, or ``k`` at least the roster size: every id. Otherwise an
    annotator who is not on the roster is assigned nothing (see :func:`assignment_note`).
    """
    ids = list(ids)
    mode, k = assignment(project)
    if mode == "all" or not ids:
        return ids
    names = roster(project)
    if not names or k >= len(names):
        return ids
    if annotator not in names:
        return []
    hashes = _hashes(project, ids)
    return [rid for rid in ids if rid in hashes and annotator in assignees(hashes[rid], names, k)]


def assignment_note(project: Project, annotator: str) -> str | None:
    """A sentence for the labelling view when the assignment limits what ``annotator`` sees."""
    mode, k = assignment(project)
    names = roster(project)
    if mode == "all" or not names or k >= len(names):
        return None
    if annotator not in names:
        return (
            f"{annotator} is not on this project's annotator list, so no records are assigned "
            "to them. Add them in the Team panel."
        )
    if mode == "split":
        return f"Records are split between {len(names)} annotators: you see about 1/{len(names)}."
    return f"Each record goes to {k} of {len(names)} annotators."


def visible_annotations(project: Project, record_id: int, viewer: str) -> list[Annotation]:
    """Annotations of a record that ``viewer`` may see while labelling (blind rule applied)."""
    found = project.annotations_for(record_id)
    if is_blind(project):
        return [a for a in found if a.annotator == viewer]
    return found
