"""The label schema of a project: names, colours, shortcut keys, guidelines and order.

A mixin of :class:`workbench.core.store.project.Project`; labels are referred to by id in
annotations, so a rename keeps every annotation.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workbench.core.errors import WorkbenchError

if TYPE_CHECKING:
    import sqlite_utils

__all__ = ["DEFAULT_SHORTCUTS", "PALETTE", "Label", "LabelSchemaMixin"]

#: A readable palette for new labels (Okabe-Ito plus a few).
PALETTE = [
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7",
    "#56B4E9", "#F0E442", "#999999", "#8C564B", "#17BECF",
]
#: Default shortcut keys, in order: 1-9, then letters not used by the labelling view.
DEFAULT_SHORTCUTS = list("123456789") + list("qwertyuiopadghjklzxcvbnm")


@dataclass(frozen=True)
class Label:
    """One class of the label schema."""

    id: int
    name: str
    color: str
    shortcut: str | None
    guideline: str
    position: int


class LabelSchemaMixin:
    """Label schema methods; the host class provides ``db`` and ``_label_cache``."""

    db: sqlite_utils.Database
    _label_cache: list[Label] | None

    def reload_labels(self) -> None:
        """Forget the cached label schema (after another connection changed it)."""
        self._label_cache = None

    def labels(self) -> list[Label]:
        """The label schema, in display order."""
        if self._label_cache is None:
            rows = self.db.execute(
                "SELECT id, name, color, shortcut, guideline, position FROM labels "
                "ORDER BY position, id"
            ).fetchall()
            self._label_cache = [Label(*row) for row in rows]
        return list(self._label_cache)

    def label_names(self) -> list[str]:
        return [lab.name for lab in self.labels()]

    def label_ids(self, names: Iterable[str]) -> list[int]:
        """The ids of these labels, in the order given; raises for a name not in the schema."""
        by_name = {lab.name: lab.id for lab in self.labels()}
        ids = []
        for name in names:
            if name not in by_name:
                raise WorkbenchError(f"Label {name!r} is not in the project's label schema.")
            ids.append(by_name[name])
        return ids

    def add_label(
        self,
        name: str,
        *,
        color: str | None = None,
        shortcut: str | None = None,
        guideline: str = "",
    ) -> Label:
        """Add a label at the end of the schema; colour and shortcut default sensibly.

        Constant time apart from the insert: the cached schema is extended, not re-read,
        so adding thousands of labels (an import with ``add_labels``) stays linear.
        """
        name = name.strip()
        if not name:
            raise WorkbenchError("A label needs a name.")
        self.labels()  # fills the cache
        existing = self._label_cache
        assert existing is not None
        index = self._label_index()
        if name in index["names"]:
            raise WorkbenchError(f"Label {name!r} already exists.")
        used = index["shortcuts"]
        if shortcut is None:
            shortcut = next((k for k in DEFAULT_SHORTCUTS if k not in used), None)
        elif shortcut in used:
            raise WorkbenchError(f"Shortcut {shortcut!r} is already used by another label.")
        if color is None:
            color = PALETTE[len(existing) % len(PALETTE)]
        position = index["next_position"]
        with self.db.atomic():
            label_id = self.db.execute(
                "INSERT INTO labels(name, color, shortcut, guideline, position) "
                "VALUES (?, ?, ?, ?, ?)",
                [name, color, shortcut, guideline, position],
            ).lastrowid
        label = Label(label_id, name, color, shortcut, guideline, position)
        existing.append(label)  # the cache's order (position, id) is kept
        index["names"].add(name)
        if shortcut:
            used.add(shortcut)
        index["next_position"] = position + 1
        return label

    def add_labels(self, names: Iterable[str]) -> list[Label]:
        """Add several labels at the end of the schema, all or none (linear time)."""
        names = [n.strip() for n in names]
        with self.db.atomic():
            try:
                return [self.add_label(n) for n in names]
            except BaseException:
                self._label_cache = None
                raise

    def _label_index(self) -> dict[str, Any]:
        """Names, used shortcuts and the next position of the cached schema, kept in step
        with ``_label_cache`` (rebuilt whenever the cache was reset)."""
        cache = self._label_cache
        index = getattr(self, "_label_index_cache", None)
        if index is None or index["of"] is not cache:
            cache = cache or []
            index = {
                "of": self._label_cache,
                "names": {lab.name for lab in cache},
                "shortcuts": {lab.shortcut for lab in cache if lab.shortcut},
                "next_position": max((lab.position for lab in cache), default=-1) + 1,
            }
            self._label_index_cache = index
        return index

    def update_label(self, name: str, /, **fields: Any) -> Label:
        """Change ``name``, ``color``, ``shortcut`` or ``guideline`` of a label.

        Renaming keeps every annotation (they refer to the label by id). A shortcut that
        another label already uses is refused.
        """
        allowed = {"name", "color", "shortcut", "guideline"}
        unknown = set(fields) - allowed
        if unknown:
            raise WorkbenchError(f"Unknown label field(s): {', '.join(sorted(unknown))}")
        labels = self.labels()
        current = next((lab for lab in labels if lab.name == name), None)
        if current is None:
            raise WorkbenchError(f"Label {name!r} does not exist.")
        if "name" in fields:
            fields["name"] = str(fields["name"]).strip()
            if not fields["name"]:
                raise WorkbenchError("A label needs a name.")
            if any(lab.name == fields["name"] and lab.id != current.id for lab in labels):
                raise WorkbenchError(f"Label {fields['name']!r} already exists.")
        if fields.get("shortcut"):
            clash = next(
                (lab for lab in labels if lab.shortcut == fields["shortcut"] and lab.id != current.id),
                None,
            )
            if clash is not None:
                raise WorkbenchError(
                    f"Shortcut {fields['shortcut']!r} is already used by label {clash.name!r}."
                )
        if not fields:
            return current
        sets = ", ".join(f"{key} = ?" for key in fields)
        with self.db.atomic():
            self.db.execute(f"UPDATE labels SET {sets} WHERE id = ?", [*fields.values(), current.id])
        self._label_cache = None
        return next(lab for lab in self.labels() if lab.id == current.id)

    def rename_label(self, old: str, new: str) -> Label:
        return self.update_label(old, name=new)

    def label_usage(self, name: str) -> int:
        """Number of annotations that carry this label."""
        (label_id,) = self.label_ids([name])
        return self.db.execute(
            "SELECT count(*) FROM annotation_labels WHERE label_id = ?", [label_id]
        ).fetchone()[0]

    def delete_label(self, name: str) -> int:
        """Delete a label; returns how many annotations carried it (they lose that label)."""
        (label_id,) = self.label_ids([name])
        affected = self.label_usage(name)
        with self.db.atomic():
            self.db.execute("DELETE FROM labels WHERE id = ?", [label_id])
        self._label_cache = None
        return affected

    def reorder_labels(self, names: Sequence[str]) -> None:
        """Set the display order; ``names`` must be a permutation of the label names."""
        if sorted(names) != sorted(self.label_names()):
            raise WorkbenchError("Reorder needs every label exactly once.")
        ids = self.label_ids(names)
        with self.db.atomic():
            for position, label_id in enumerate(ids):
                self.db.execute("UPDATE labels SET position = ? WHERE id = ?", [position, label_id])
        self._label_cache = None
