"""Which records sit behind each cell of a run's confusion matrix."""
from __future__ import annotations

import json
from collections import defaultdict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.core.store.project import Project

__all__ = ["cell_records"]


def _parse_predicted(raw: Any, multi_label: bool) -> list[str]:
    """The predicted label(s) stored in the ``predictions`` table ('a|b' when multi-label)."""
    if raw is None or raw == "":
        return []
    text = str(raw)
    if text.startswith("["):
        try:
            return [str(x) for x in json.loads(text)]
        except ValueError:
            pass
    return text.split("|") if multi_label else [text]


def cell_records(project: Project, run_id: int) -> dict[tuple[str, str], list[int]]:
    """Record ids behind each confusion-matrix cell of a run's test predictions.

    Single-label: key ``(true label, predicted label)``. Multi-label: key
    ``(label, kind)`` with kind ``"correct"``, ``"missed"`` or ``"false alarm"``.
    The true labels are the project's final labels (see ``workbench.core.store.snapshot``).
    """
    from workbench.core.store import snapshot

    rows = project.db.execute(
        "SELECT record_id, label FROM predictions WHERE run_id = ? ORDER BY record_id",
        [run_id],
    ).fetchall()
    if not rows:
        return {}
    if hasattr(snapshot, "resolve_label_map"):  # labels only, no texts: cheap on big projects
        truth = snapshot.resolve_label_map(project)
    else:
        truth = {rid: labels for rid, _t, labels, _s in snapshot.resolve_labels(project).examples}
    cells: dict[tuple[str, str], list[int]] = defaultdict(list)
    multi = project.multi_label
    for rid, raw in rows:
        if rid not in truth:
            continue  # unlabelled since the run, or now a tie
        true, predicted = set(truth[rid]), set(_parse_predicted(raw, multi))
        if not multi:
            if true and predicted:
                cells[(next(iter(true)), next(iter(predicted)))].append(rid)
            continue
        for name in true | predicted:
            kind = "correct" if name in true and name in predicted else (
                "missed" if name in true else "false alarm"
            )
            cells[(name, kind)].append(rid)
    return dict(cells)
