"""Which process owns a running job, and clearing up after jobs whose process is gone.

An import or a training run records its owner (host, process id and the process's start
time) and a heartbeat. When a project opens for writing, an import whose owner is gone
is rolled back and a run whose owner is gone becomes ``interrupted``; half-written model
folders (``.run-N.partial``) of runs that are not running are removed.
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import shutil
import socket
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.core.store.project import Project

__all__ = ["owner_tag", "owner_alive", "reap_stale", "discard_import", "STALE_REMOTE_S"]

log = logging.getLogger(__name__)

#: A job owned by a process on another machine (a project on a network share) counts as
#: gone when its heartbeat is older than this (seconds).
STALE_REMOTE_S = 3600.0
#: Rows removed per transaction when an import is rolled back (keeps each one short).
DISCARD_CHUNK = 2000


def _start_ticks(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), or "" elsewhere."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read().decode("ascii", "replace")
    except OSError:
        return ""
    # The command name (field 2) may contain spaces and parentheses: split after it.
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else ""


@cache
def _host() -> str:
    return socket.gethostname() or "localhost"


def owner_tag() -> str:
    """``host:pid:start`` of this process."""
    pid = os.getpid()
    return f"{_host()}:{pid}:{_start_ticks(pid)}"


def owner_alive(owner: str | None, heartbeat: str | None) -> bool:
    """Whether the process named by ``owner`` may still be running."""
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    pid_text, _, ticks = rest.partition(":")
    if host != _host():
        if not heartbeat:
            return True
        try:
            beat = _dt.datetime.fromisoformat(heartbeat)
        except ValueError:
            return False
        age = (_dt.datetime.now(_dt.timezone.utc) - beat).total_seconds()
        return age < STALE_REMOTE_S
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, but belongs to another user
    except OSError:
        return False
    # A reused process id has another start time.
    return not ticks or _start_ticks(pid) in ("", ticks)


def discard_import(project: Project, batch_id: int) -> None:
    """Remove every trace of an unfinished import, in short transactions."""
    conn = project.conn
    while True:
        with project.db.atomic():
            ids = [
                r[0]
                for r in conn.execute(
                    "SELECT id FROM main.records WHERE batch_id = ? ORDER BY id LIMIT ?",
                    [batch_id, DISCARD_CHUNK],
                )
            ]
            if not ids:
                break
            lo, hi = ids[0], ids[-1]
            conn.execute(
                "INSERT INTO records_fts(records_fts, rowid, text) SELECT 'delete', id, text "
                "FROM main.records WHERE batch_id = ? AND id BETWEEN ? AND ?",
                [batch_id, lo, hi],
            )
            conn.execute(
                "DELETE FROM main.records WHERE batch_id = ? AND id BETWEEN ? AND ?",
                [batch_id, lo, hi],
            )
    with project.db.atomic():
        row = conn.execute(
            "SELECT new_labels FROM import_batches WHERE id = ?", [batch_id]
        ).fetchone()
        for label_id in json.loads(row[0]) if row and row[0] else []:
            in_use = conn.execute(
                "SELECT 1 FROM annotation_labels WHERE label_id = ? LIMIT 1", [label_id]
            ).fetchone()
            if not in_use:
                conn.execute("DELETE FROM labels WHERE id = ?", [label_id])
        conn.execute("DELETE FROM import_batches WHERE id = ?", [batch_id])
    project.reload_labels()


def reap_stale(project: Project) -> dict[str, int]:
    """Roll back imports and close runs whose process is gone; remove stale partial folders.

    Returns what was done: ``{"imports": n, "runs": n, "partial_folders": n}``.
    """
    from workbench.core.store.clock import now_iso

    done = {"imports": 0, "runs": 0, "partial_folders": 0}
    conn = project.conn
    for batch_id, owner, beat in conn.execute(
        "SELECT id, owner, heartbeat FROM import_batches WHERE state = 'pending'"
    ).fetchall():
        if not owner_alive(owner, beat):
            log.warning("rolling back import %s of a process that stopped", batch_id)
            discard_import(project, batch_id)
            done["imports"] += 1
    running: set[int] = set()
    for run_id, owner, beat in conn.execute(
        "SELECT id, owner, heartbeat FROM runs WHERE status = 'running'"
    ).fetchall():
        if owner_alive(owner, beat):
            running.add(run_id)
            continue
        with project.db.atomic():
            conn.execute(
                "UPDATE runs SET status = 'interrupted', finished_at = ?, error = ? "
                "WHERE id = ? AND status = 'running'",
                [now_iso(), "The process running it stopped (closed, killed or crashed).",
                 run_id],
            )
        done["runs"] += 1
    models = project.models_dir
    if models.is_dir():
        for folder in models.glob(".run-*.partial"):
            try:
                run_id = int(folder.name[len(".run-") : -len(".partial")])
            except ValueError:
                continue
            if run_id not in running:
                shutil.rmtree(folder, ignore_errors=True)
                done["partial_folders"] += 1
    return done


def needs_reaping(project: Project) -> bool:
    """Cheap test: is there a pending import, a running run or a partial model folder?"""
    conn = project.conn
    if conn.execute(
        "SELECT 1 FROM import_batches WHERE state = 'pending' "
        "UNION ALL SELECT 1 FROM runs WHERE status = 'running' LIMIT 1"
    ).fetchone():
        return True
    models = project.models_dir
    return models.is_dir() and any(models.glob(".run-*.partial"))
