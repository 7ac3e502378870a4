"""Read-only queries over the spans of a span project (records table counts)."""
from __future__ import annotations

from collections.abc import Sequence

from workbench.core.store.project import Project, default_annotator

__all__ = ["span_counts"]


def span_counts(project: Project, record_ids: Sequence[int] | None = None, *,
                annotator: str | None = None) -> dict[int, dict[str, int]]:
    """Per record, how many spans of each label one annotator (default: the current one)
    gave it. Records without spans are left out."""
    annotator = annotator or default_annotator()
    sql = (
        "SELECT a.record_id, json_extract(j.value, '$[2]'), count(*) "
        "FROM annotations a, json_each(a.spans) j "
        "WHERE a.annotator = ? AND a.spans IS NOT NULL"
    )
    params: list[object] = [annotator]
    out: dict[int, dict[str, int]] = {}
    ids = list(record_ids) if record_ids is not None else None
    chunks = [ids[i : i + 500] for i in range(0, len(ids), 500)] if ids is not None else [None]
    for chunk in chunks:
        where = sql
        args = list(params)
        if chunk is not None:
            if not chunk:
                continue
            where += f" AND a.record_id IN ({','.join('?' * len(chunk))})"
            args += chunk
        for record_id, label, n in project.db.execute(
            where + " GROUP BY a.record_id, json_extract(j.value, '$[2]')", args
        ):
            out.setdefault(record_id, {})[label] = n
    return out
