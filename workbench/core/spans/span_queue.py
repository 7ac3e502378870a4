"""The labelling queue of a span project: most uncertain first, by token-level uncertainty.

:class:`SpanLeastConfidence` is the span project's model-driven queue strategy. It is
offered under the classification name ``least-confidence`` (the token-level score is a
least confidence too: one minus the tag probability of the word the model is least sure
about), so the Label panel's queue box, ``workbench queue --strategy least-confidence``
and :mod:`workbench.core.assist.navigation` give the same order: the one of
:func:`workbench.core.spans.span_assist.uncertainty_order`. As for classification, the
records without a stored span prediction follow the ranked ones in import order.
"""
from __future__ import annotations

import json
from collections.abc import Collection
from typing import TYPE_CHECKING

from workbench.core.assist.queue import QueueStrategy
from workbench.core.assist.span_suggestions import SPAN_PREDICTION_LABEL
from workbench.core.errors import WorkbenchError
from workbench.core.spans.span_assist import uncertainty_order
from workbench.core.store.project import default_annotator

if TYPE_CHECKING:
    from workbench.core.store.project import Project

__all__ = ["SPAN_STRATEGIES", "SpanLeastConfidence"]


class SpanLeastConfidence(QueueStrategy):
    """Unannotated records whose least certain word the newest trained model is least
    sure about first; then those without a prediction, in import order."""

    name = "least-confidence"
    description = (
        "Most uncertain first: records whose least certain word the newest trained model "
        "is least sure about (token-level uncertainty); records it has not predicted follow "
        "in import order."
    )

    def next_ids(
        self,
        project: Project,
        annotator: str | None,
        limit: int,
        exclude: Collection[int] = (),
    ) -> list[int]:
        if not project.is_spans:
            raise WorkbenchError("This queue order is for span projects only.")
        if limit <= 0:
            return []
        annotator = annotator or default_annotator()
        excluded = set(exclude)
        # At most len(excluded) of the first limit + len(excluded) ranked ids are dropped.
        ranked = uncertainty_order(project, annotator=annotator,
                                   limit=limit + len(excluded))
        out = [i for i in ranked if i not in excluded][:limit]
        if len(out) < limit:
            out += unpredicted_ids(project, annotator, limit - len(out), excluded | set(out))
        return out


def unpredicted_ids(project: Project, annotator: str, limit: int,
                    exclude: Collection[int] = ()) -> list[int]:
    """Records the annotator has not annotated and no trained run predicted spans for
    (those :func:`uncertainty_order` leaves out), in import order, none in ``exclude``."""
    sql = (
        "SELECT r.id FROM records r WHERE NOT EXISTS (SELECT 1 FROM annotations a "
        " WHERE a.record_id = r.id AND a.annotator = ?) "
        "AND NOT EXISTS (SELECT 1 FROM predictions p JOIN runs ru ON ru.id = p.run_id "
        " WHERE p.record_id = r.id AND p.label = ? AND ru.model_path IS NOT NULL) "
    )
    params: list[object] = [annotator, SPAN_PREDICTION_LABEL]
    if exclude:
        sql += "AND r.id NOT IN (SELECT value FROM json_each(?)) "
        params.append(json.dumps(sorted(int(i) for i in exclude)))
    sql += "ORDER BY r.id LIMIT ?"
    params.append(int(limit))
    return [row[0] for row in project.db.execute(sql, params)]


#: The model-driven queue orders of a span project, by name (see navigation).
SPAN_STRATEGIES: dict[str, type[QueueStrategy]] = {
    SpanLeastConfidence.name: SpanLeastConfidence,
}
