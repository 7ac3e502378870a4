"""What the compression jobs share: the parent run, staging folders and publishing a run.

A job writes its model into a hidden staging folder beside the project's runs
(``.compress-<pid>.partial``) and only at the very end, in one project transaction,
creates the run row, renames the folder to ``run-<id>`` and records the metrics: a cancel
or a crash leaves no run and no run folder (a staging folder of a killed job is removed
by the next job).
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.core.errors import WorkbenchError
from workbench.core.jobs import ProgressEvent

__all__ = [
    "CompressEvent",
    "CompressResult",
    "Parent",
    "load_parent",
    "project_texts",
    "staging_folder",
    "publish_run",
    "parent_of",
    "compression_of",
]

log = logging.getLogger(__name__)

STAGING_PREFIX = ".compress-"


@dataclass
class CompressEvent(ProgressEvent):
    """Progress of a compression job (phase, done of total, message)."""


@dataclass
class CompressResult:
    """The run a compression job created and its figures."""

    run_id: int
    parent_run: int
    method: str
    model_path: Path
    metrics: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "parent_run": self.parent_run, "method": self.method,
                "model_path": str(self.model_path), "metrics": self.metrics,
                "details": self.details}


@dataclass
class Parent:
    """The finished run a compressed model is derived from."""

    run_id: int
    model_dir: Path
    info: dict[str, Any]
    row: dict[str, Any]
    models_dir: Path
    project_path: Path

    @property
    def labels(self) -> list[str]:
        return [str(x) for x in self.info["labels"]]

    @property
    def multi_label(self) -> bool:
        return bool(self.info.get("multi_label", False))


def load_parent(project_path: str | Path, run: str | int) -> Parent:
    """The run ``run`` of the project (it must have saved a model)."""
    from workbench.core.deploy.project_data import read_run_file, resolve_run
    from workbench.core.store.project import Project

    with Project.open(project_path) as project:
        row = resolve_run(project, run)
        models_dir = project.models_dir
        path = project.path
    info = read_run_file(row["model_path"])
    return Parent(int(row["run_id"]), Path(row["model_path"]), info, row, models_dir, path)


def project_texts(project_path: str | Path) -> list[str]:
    """Every record text of the project, in import order."""
    from workbench.core.store.project import Project

    with Project.open(project_path) as project:
        return [r[0] for r in project.db.execute("SELECT text FROM main.records ORDER BY id")]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def staging_folder(models_dir: Path) -> Path:
    """A fresh hidden folder for a model being made (stale ones of dead jobs removed)."""
    models_dir.mkdir(parents=True, exist_ok=True)
    for old in models_dir.glob(f"{STAGING_PREFIX}*.partial"):
        pid = old.name[len(STAGING_PREFIX):].split(".")[0].split("-")[0]
        if pid.isdigit() and (int(pid) == os.getpid() or not _pid_alive(int(pid))):
            shutil.rmtree(old, ignore_errors=True)
    folder = models_dir / f"{STAGING_PREFIX}{os.getpid()}.partial"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    return folder


def publish_run(
    parent: Parent,
    staging: Path,
    *,
    method: str,
    base_model: str,
    config: dict[str, Any],
    metrics: dict[str, Any],
    predictions: list[tuple[int, dict[str, float], str, float]] | None = None,
    snapshot_hash: str = "",
    after: Callable[[Any, int], None] | None = None,
) -> tuple[int, Path]:
    """Create the run of a finished model in one transaction; returns (run id, folder).

    The run row, the renamed model folder (``run-<id>``), its test predictions and its
    metrics appear together or not at all (``after(project, run_id)`` writes more inside
    the same transaction, e.g. a span run's predictions).
    """
    from workbench.core.store.project import Project, now_iso
    from workbench.core.training.runs import store_predictions

    config = {**config, "parent_run": parent.run_id,
              "compression": {**config.get("compression", {}), "method": method,
                              "parent_run": parent.run_id}}
    with Project.open(parent.project_path) as project:
        final: Path | None = None
        try:
            with project.db.atomic():
                now = now_iso()
                cur = project.db.execute(
                    "INSERT INTO main.runs(kind, status, created_at, finished_at, base_model, config, "
                    "metrics, snapshot_hash, device, timings) VALUES ('train', 'completed', ?, ?, ?, ?, ?, ?, 'cpu', '{}')",
                    [now, now, base_model, json.dumps(config), json.dumps(metrics), snapshot_hash],
                )
                run_id = int(cur.lastrowid)
                info_path = staging / "workbench_run.json"
                info = json.loads(info_path.read_text(encoding="utf-8"))
                info.update(run_id=run_id, parent_run=parent.run_id, compression=method)
                info_path.write_text(json.dumps(info, indent=2), encoding="utf-8")
                final = project.models_dir / f"run-{run_id}"
                if final.exists():  # left over from a project file that was replaced
                    shutil.rmtree(final)
                staging.rename(final)
                rel = final.relative_to(project.path.parent) if final.is_relative_to(project.path.parent) else final
                project.db.execute("UPDATE main.runs SET model_path = ? WHERE id = ?", [str(rel), run_id])
                if predictions:
                    store_predictions(project, run_id, predictions)
                if after is not None:
                    after(project, run_id)
        except BaseException:
            if final is not None and final.exists():
                shutil.rmtree(final, ignore_errors=True)
            raise
    return run_id, final


def parent_of(run_config: dict[str, Any]) -> int | None:
    """The parent run id recorded in a run's config, if it was derived from one."""
    value = run_config.get("parent_run") if isinstance(run_config, dict) else None
    return int(value) if isinstance(value, int) else None


def compression_of(run_config: dict[str, Any]) -> str | None:
    """The compression method ("trim", "distill", "prune") of a derived run."""
    comp = run_config.get("compression") if isinstance(run_config, dict) else None
    return comp.get("method") if isinstance(comp, dict) else None


def check_method_supported(model: Any) -> None:
    """Refuse models whose layout the compression steps do not know (one clear line)."""
    if getattr(model.config, "model_type", None) not in ("bert",):
        raise WorkbenchError(
            f"Compression supports BERT-family encoders (bert, MiniLM); this model is "
            f"{getattr(model.config, 'model_type', 'unknown')!r}."
        )
