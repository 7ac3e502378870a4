"""What an export needs from a project: the run's model folder, texts for the checks,
training-data figures for the model card; and storing bundle predictions back."""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.core.errors import ModelError, WorkbenchError

if TYPE_CHECKING:
    from workbench.core.store.project import Project

__all__ = [
    "RUN_FILE",
    "EXPORTS_DIR",
    "read_run_file",
    "resolve_run",
    "verification_data",
    "training_figures",
    "default_export_dir",
    "latest_export",
    "store_predictions",
    "list_exportable_runs",
    "unlabelled_records",
    "predict_unlabelled",
]

RUN_FILE = "workbench_run.json"
EXPORTS_DIR = "exports"
#: At most this many validation texts are used for the parity check.
MAX_PARITY_TEXTS = 256


def read_run_file(model_dir: Path) -> dict[str, Any]:
    """The ``workbench_run.json`` of a model folder, checked for the fields exports need."""
    from workbench.core.training.models import check_model_folder, read_json_file

    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelError(f"Model folder {model_dir} does not exist.")
    path = model_dir / RUN_FILE
    if not path.is_file():
        raise ModelError(f"{model_dir} is not a Workbench model folder: {RUN_FILE} is missing.")
    if not (model_dir / "config.json").is_file():
        raise ModelError(f"{model_dir} is incomplete: config.json is missing.")
    # Paths, config and weights first: a hostile folder is refused before anything is read.
    check_model_folder(model_dir)
    info = read_json_file(path, what=RUN_FILE)
    labels = info.get("labels") if isinstance(info, dict) else None
    if not isinstance(labels, list) or not labels:
        raise ModelError(f"{path} has no label list.")
    return info


def resolve_run(project: Project, run: str | int = "latest") -> dict[str, Any]:
    """The run row (id, model_path, status, created_at, base_model) for an id or "latest".

    "latest" is the newest training run that saved a model (a run stopped early keeps
    its best model so far).
    """
    cols = "id, status, created_at, base_model, model_path, metrics"
    if run in ("latest", None, ""):
        row = project.db.execute(
            f"SELECT {cols} FROM runs WHERE kind = 'train' AND model_path IS NOT NULL "
            "ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            raise WorkbenchError("This project has no trained model to export yet: train one first.")
    else:
        try:
            run_id = int(run)
        except (TypeError, ValueError):
            raise WorkbenchError(f"Run must be a number or 'latest', not {run!r}.") from None
        row = project.db.execute(f"SELECT {cols} FROM runs WHERE id = ?", [run_id]).fetchone()
        if row is None:
            raise WorkbenchError(f"Run {run_id} does not exist in this project.")
        if not row[4]:
            raise WorkbenchError(f"Run {run_id} has no trained model (status: {row[1]}).")
    model_path = Path(row[4])
    if not model_path.is_absolute():
        model_path = project.path.parent / model_path
    return {
        "run_id": row[0],
        "status": row[1],
        "created_at": row[2],
        "base_model": row[3],
        "model_path": model_path,
        "metrics": json.loads(row[5]) if row[5] else {},
    }


def verification_data(project: Project) -> tuple[list[str], list[str], list[list[str]]]:
    """(parity texts, test texts, test gold labels) from the project's splits.

    Parity uses the validation records (any, labelled or not); without any, a sample of
    the project's texts. The int8 check uses the labelled test records.
    """
    rows = project.db.execute(
        "SELECT text FROM records WHERE split = 'validation' ORDER BY id LIMIT ?",
        [MAX_PARITY_TEXTS],
    ).fetchall()
    parity = [r[0] for r in rows]
    if not parity:
        rows = project.db.execute(
            "SELECT text FROM records ORDER BY id LIMIT ?", [min(64, MAX_PARITY_TEXTS)]
        ).fetchall()
        parity = [r[0] for r in rows]
    test_texts: list[str] = []
    test_gold: list[list[str]] = []
    for _rid, text, labels, split in project.labelled_examples():
        if split == "test":
            test_texts.append(text)
            test_gold.append(list(labels))
    return parity, test_texts, test_gold


def training_figures(project: Project) -> dict[str, Any]:
    """Labelled-example counts per split and per label (training split) for the model card."""
    examples = project.labelled_examples()
    by_split = Counter(split for *_rest, split in examples)
    train = [labels for _rid, _text, labels, split in examples if split == "train"]
    if not train:  # splits not assigned yet: describe all labelled data
        train = [labels for _rid, _text, labels, _split in examples]
    by_label = Counter(name for labels in train for name in labels)
    return {
        "labelled": len(examples),
        "by_split": dict(by_split),
        "train_examples": len(train),
        "train_by_label": dict(by_label),
    }


def default_export_dir(project_path: Path, run_id: int) -> Path:
    """``<project>.models/exports/run-<id>``."""
    project_path = Path(project_path)
    return project_path.with_name(project_path.stem + ".models") / EXPORTS_DIR / f"run-{run_id}"


def latest_export(project_path: Path) -> Path | None:
    """The most recently written bundle under the project's exports folder, if any."""
    project_path = Path(project_path)
    root = project_path.with_name(project_path.stem + ".models") / EXPORTS_DIR
    if not root.is_dir():
        return None
    # Hidden folders are exports in progress (or killed before they finished): skip them.
    bundles = [p for p in root.iterdir()
               if not p.name.startswith(".") and (p / "bundle.json").is_file()]
    if not bundles:
        return None
    return max(bundles, key=lambda p: (p / "bundle.json").stat().st_mtime)


def store_predictions(
    project: Project,
    run_id: int,
    record_ids: Sequence[int],
    results: Sequence[dict[str, Any]],
) -> int:
    """Store predictions for records under a run (one transaction); returns the count.

    Each result is a :meth:`Predictor.predict` dict; existing predictions of that run for
    those records are replaced.
    """
    if project.db.execute("SELECT 1 FROM runs WHERE id = ?", [run_id]).fetchone() is None:
        raise WorkbenchError(
            f"Run {run_id} of this bundle does not exist in project {project.name}: "
            "predictions can only be stored in the project the model was trained in."
        )
    rows = []
    for rid, res in zip(record_ids, results, strict=True):
        probs = res["probs"]
        if "labels" in res:
            label = ";".join(res["labels"]) or None
            conf = max((probs[n] for n in res["labels"]), default=None)
        else:
            label = res["label"]
            conf = probs[label]
        rows.append((run_id, int(rid), json.dumps(probs), label, conf))
    with project.db.atomic():
        project.conn.executemany(
            "INSERT INTO predictions(run_id, record_id, probs, label, confidence) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(run_id, record_id) DO UPDATE SET "
            "probs = excluded.probs, label = excluded.label, confidence = excluded.confidence",
            rows,
        )
    return len(rows)


def list_exportable_runs(project: Project) -> list[dict[str, Any]]:
    """Training runs that saved a model, newest first (run_id, created_at, base_model,
    macro_f1, model_path, status)."""
    rows = project.db.execute(
        "SELECT id, created_at, base_model, metrics, model_path, status FROM runs "
        "WHERE kind = 'train' AND model_path IS NOT NULL ORDER BY id DESC"
    ).fetchall()
    runs = []
    for run_id, created, base, metrics, model_path, status in rows:
        try:
            decoded = json.loads(metrics) if metrics else {}
        except ValueError:
            decoded = {}
        f1 = decoded.get("macro_f1") if isinstance(decoded, dict) else None
        if f1 is None and isinstance(decoded, dict) and isinstance(decoded.get("test"), dict):
            f1 = decoded["test"].get("macro_f1")
        runs.append({"run_id": run_id, "created_at": created, "base_model": base,
                     "macro_f1": f1, "model_path": model_path, "status": status})
    return runs


def unlabelled_records(project: Project) -> list[tuple[int, str]]:
    """(id, text) of records that no annotator has labelled yet, in import order."""
    rows = project.db.execute(
        "SELECT r.id, r.text FROM records r WHERE NOT EXISTS ("
        " SELECT 1 FROM annotations a WHERE a.record_id = r.id AND a.status = 'labelled') "
        "ORDER BY r.id"
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def predict_unlabelled(
    project_path: str | Path,
    bundle_dir: str | Path,
    *,
    progress: Callable[[Any], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> int:
    """Predict every unlabelled record with a bundle and store the results under the
    bundle's run id (one transaction, nothing stored on cancel). Returns the count.
    ``progress`` receives ``ProgressEvent("predict", done, total)``.

    Opens its own project connection, so it may run in a worker thread.
    """
    from workbench.core.deploy.inference import Predictor
    from workbench.core.jobs import ProgressEvent
    from workbench.core.store.project import Project

    predictor = Predictor.load(bundle_dir)
    run_id = predictor.config.get("run_id")
    if run_id is None:
        raise WorkbenchError("This bundle does not say which run it comes from: its "
                             "predictions cannot be stored in a project.")
    with Project.open(project_path) as project:
        if project.db.execute("SELECT 1 FROM runs WHERE id = ?", [run_id]).fetchone() is None:
            raise WorkbenchError(
                f"Run {run_id} of this bundle does not exist in project {project.name}: "
                "predictions can only be stored in the project the model was trained in."
            )
        if list(predictor.labels) != project.label_names():
            missing = set(predictor.labels) - set(project.label_names())
            if missing:
                raise WorkbenchError(
                    "The bundle's labels do not match the project's: "
                    f"{', '.join(sorted(missing))} not in the project."
                )
        records = unlabelled_records(project)
    results = predictor.predict(
        [text for _rid, text in records],
        progress=(lambda done, total: progress(ProgressEvent("predict", done, total))) if progress else None,
        should_stop=should_stop,
    )
    with Project.open(project_path) as project:
        return store_predictions(project, int(run_id), [rid for rid, _t in records], results)
