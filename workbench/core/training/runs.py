"""Run records in the project's ``runs`` table and test-split predictions."""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from workbench.core.errors import WorkbenchError

if TYPE_CHECKING:
    from workbench.core.store.project import Project

__all__ = [
    "create_run", "touch_run", "finish_run", "store_predictions", "list_runs", "get_run",
    "run_kind",
]

_COLUMNS = (
    "id", "kind", "status", "created_at", "finished_at", "base_model", "config", "metrics",
    "model_path", "snapshot_hash", "device", "timings", "error",
)
_JSON = ("config", "metrics", "timings")


def _decode(row: Sequence[Any]) -> dict[str, Any]:
    out = dict(zip(_COLUMNS, row, strict=True))
    for key in _JSON:
        try:
            out[key] = json.loads(out[key]) if out[key] else {}
        except json.JSONDecodeError:
            out[key] = {}
    return out


def create_run(
    project: Project, *, base_model: str, config: dict[str, Any], snapshot_hash: str, device: str
) -> int:
    """Insert a run in status 'running', owned by this process; returns its id."""
    from workbench.core.store.liveness import owner_tag
    from workbench.core.store.project import now_iso

    now = now_iso()
    with project.db.atomic():
        cur = project.db.execute(
            # Numbered from 1 whatever quick models came before (those take ids below 1).
            "INSERT INTO runs(id, kind, status, created_at, base_model, config, snapshot_hash, device, "
            "owner, heartbeat) VALUES ((SELECT max(1, coalesce(max(id), 0) + 1) FROM runs), "
            "'train', 'running', ?, ?, ?, ?, ?, ?, ?)",
            [now, base_model, json.dumps(config), snapshot_hash, device, owner_tag(), now],
        )
    return int(cur.lastrowid)


def touch_run(project: Project, run_id: int) -> None:
    """Renew a running run's heartbeat (lets a machine sharing the project tell it is alive)."""
    from workbench.core.store.project import now_iso

    with project.db.atomic():
        project.db.execute(
            "UPDATE runs SET heartbeat = ? WHERE id = ? AND status = 'running'", [now_iso(), run_id]
        )


def finish_run(
    project: Project,
    run_id: int,
    *,
    status: str,
    metrics: dict[str, Any] | None = None,
    model_path: str | None = None,
    timings: dict[str, Any] | None = None,
    error: str | None = None,
    config: dict[str, Any] | None = None,
) -> None:
    """Record the outcome of a run."""
    from workbench.core.store.project import now_iso

    sets = ["status = ?", "owner = NULL", "finished_at = ?", "metrics = ?", "model_path = ?", "timings = ?", "error = ?"]
    params: list[Any] = [
        status, now_iso(), json.dumps(metrics or {}), model_path, json.dumps(timings or {}), error,
    ]
    if config is not None:
        sets.append("config = ?")
        params.append(json.dumps(config))
    with project.db.atomic():
        project.db.execute(f"UPDATE runs SET {', '.join(sets)} WHERE id = ?", [*params, run_id])


def store_predictions(
    project: Project, run_id: int, rows: Sequence[tuple[int, dict[str, float], str, float]]
) -> None:
    """Store (record id, probabilities, predicted label(s), confidence) rows of a run."""
    with project.db.atomic():
        project.db.execute("DELETE FROM predictions WHERE run_id = ?", [run_id])
        project.conn.executemany(
            "INSERT INTO predictions(run_id, record_id, probs, label, confidence) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(run_id, record_id) DO NOTHING",
            [(run_id, rid, json.dumps(probs), label, conf) for rid, probs, label, conf in rows],
        )


def list_runs(project: Project) -> list[dict[str, Any]]:
    """Every training run, newest first, with ``config``, ``metrics`` and ``timings`` decoded."""
    rows = project.db.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM runs WHERE kind = 'train' ORDER BY id DESC"
    ).fetchall()
    return [_decode(r) for r in rows]


def get_run(project: Project, run: str | int = "latest") -> dict[str, Any]:
    """One run by id, or with ``"latest"`` the newest run that saved a model."""
    if run in ("latest", None, ""):
        row = project.db.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM runs WHERE kind = 'train' AND model_path IS NOT NULL "
            "ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            raise WorkbenchError("This project has no trained model yet: run training first.")
        return _decode(row)
    try:
        run_id = int(run)
    except (TypeError, ValueError):
        raise WorkbenchError(f"Run must be a number or 'latest', not {run!r}.") from None
    row = project.db.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM runs WHERE id = ?", [run_id]
    ).fetchone()
    if row is None:
        raise WorkbenchError(f"There is no run {run_id} in this project.")
    return _decode(row)


def run_kind(project: Project, run_id: int) -> str | None:
    """The kind of a run ("train", "coldstart", ...), or ``None`` when it does not exist."""
    row = project.db.execute("SELECT kind FROM runs WHERE id = ?", [run_id]).fetchone()
    return row[0] if row else None
