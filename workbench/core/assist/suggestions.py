"""Model-assisted labelling: stored predictions, the cold-start model and suggestions.

Predictions of one model for the unlabelled records live in the ``predictions`` table
under that model's run id. The run whose predictions currently drive suggestions and the
uncertainty queues is remembered in the project meta (``assist.prediction_run``). Until a
trained model has been run over the project, a cheap cold-start model (TF-IDF + logistic
regression on the labelled records) fills in; it is stored under a run row of kind
``coldstart`` and refitted when enough new labels arrive.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from workbench.core.assist.textmodel import calibrated_fit_predict, encode_labels, tfidf_features
from workbench.core.errors import Cancelled, WorkbenchError
from workbench.core.jobs import ProgressEvent
from workbench.core.store.operations import ACCEPTED_PROVENANCE
from workbench.core.store.project import Annotation, Project, now_iso

__all__ = [
    "describe_run",
    "run_row",
    "ACCEPTED_PROVENANCE",
    "COLDSTART_KIND",
    "AssistEvent",
    "PredictionSet",
    "Suggestion",
    "accept_suggestion",
    "coldstart_is_stale",
    "coldstart_predict",
    "current_suggester",
    "ensure_predictions",
    "latest_trained_run",
    "load_predictions",
    "prediction_run_id",
    "refresh_coldstart",
    "store_predictions",
    "suggestion_for",
    "unlabelled_record_ids",
    "tfidf_features",  # re-exported quick-model helper
]

log = logging.getLogger(__name__)

COLDSTART_KIND = "coldstart"
META_RUN = "assist.prediction_run"
#: The cold-start model is refitted once this many new labels (or 10 % more) arrived.
COLDSTART_REFRESH = 5
_CHUNK = 2000


@dataclass
class AssistEvent(ProgressEvent):
    """Progress of an assist job (predicting, retraining, reviewing)."""


class Suggestion(NamedTuple):
    """A model's suggestion for one record: label names, confidence and which model."""

    labels: tuple[str, ...]
    confidence: float
    source: str


@dataclass
class PredictionSet:
    """Stored probabilities of one run for some records (rows follow ``ids``)."""

    run_id: int
    labels: list[str]
    multi_label: bool
    thresholds: np.ndarray
    ids: np.ndarray
    probs: np.ndarray


def _noop(*_args: Any) -> None:
    return None


def _never() -> bool:
    return False


# --------------------------------------------------------------------------- records
def unlabelled_record_ids(project: Project) -> list[int]:
    """Ids of records nobody has labelled yet, in import order."""
    rows = project.db.execute(
        "SELECT r.id FROM records r WHERE NOT EXISTS (SELECT 1 FROM annotations a "
        "WHERE a.record_id = r.id AND a.status = 'labelled') ORDER BY r.id"
    ).fetchall()
    return [r[0] for r in rows]


def _labelled_total(project: Project) -> int:
    return project.db.execute(
        "SELECT count(DISTINCT record_id) FROM annotations WHERE status = 'labelled'"
    ).fetchone()[0]


# --------------------------------------------------------------------------- runs
def latest_trained_run(project: Project) -> int | None:
    """Id of the newest training run that saved a model, or ``None``."""
    row = project.db.execute(
        "SELECT id FROM runs WHERE kind = 'train' AND model_path IS NOT NULL "
        "ORDER BY id DESC LIMIT 1"
    ).fetchone()
    return row[0] if row else None


def run_row(project: Project, run_id: int) -> dict[str, Any] | None:
    """A run's row (kind, status, model path, decoded metrics and config), or None."""
    row = project.db.execute(
        "SELECT id, kind, status, model_path, metrics, config, base_model FROM runs WHERE id = ?",
        [run_id],
    ).fetchone()
    if row is None:
        return None
    keys = ("id", "kind", "status", "model_path", "metrics", "config", "base_model")
    info = dict(zip(keys, row, strict=False))
    for key in ("metrics", "config"):
        try:
            info[key] = json.loads(info[key]) if info[key] else {}
        except ValueError:
            info[key] = {}
    return info


def _run_meta(project: Project, run_id: int) -> dict[str, Any]:
    """``workbench_run.json`` of a trained run's model folder ({} when missing)."""
    info = run_row(project, run_id) or {}
    candidates = []
    if info.get("model_path"):
        model_path = Path(info["model_path"])
        if not model_path.is_absolute():
            model_path = project.path.parent / model_path
        candidates.append(model_path)
    candidates.append(project.models_dir / f"run-{run_id}")
    for folder in candidates:
        path = folder / "workbench_run.json"
        if path.is_file():
            try:
                return json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                log.warning("Cannot read %s", path)
    return {}


def prediction_run_id(project: Project) -> int | None:
    """The run whose stored predictions currently drive suggestions (``None``: none yet).

    That is the run last chosen by :func:`predict_project`; without one (or while only the
    cold-start model was used), the newest trained run whose predictions for unlabelled
    records were stored some other way (e.g. from the Inference panel).
    """
    chosen = _chosen_run(project)
    if chosen is not None and (run_row(project, chosen) or {}).get("kind") != COLDSTART_KIND:
        return chosen
    trained = _trained_with_predictions(project)
    return trained if trained is not None else chosen


def _chosen_run(project: Project) -> int | None:
    value = project.get_meta(META_RUN)
    if not value:
        return None
    try:
        run_id = int(value)
    except ValueError:
        return None
    info = run_row(project, run_id)
    if info is None or not _usable(info):
        return None
    return run_id


def _usable(info: dict[str, Any]) -> bool:
    if info["kind"] == COLDSTART_KIND:
        return info["status"] == "completed"
    return bool(info["model_path"])


def _trained_with_predictions(project: Project) -> int | None:
    """Newest trained run with a stored prediction for some unlabelled record."""
    row = project.db.execute(
        "SELECT p.run_id FROM predictions p JOIN runs r ON r.id = p.run_id "
        "WHERE r.kind = 'train' AND r.model_path IS NOT NULL AND NOT EXISTS ("
        " SELECT 1 FROM annotations a WHERE a.record_id = p.record_id AND a.status = 'labelled') "
        "ORDER BY p.run_id DESC LIMIT 1"
    ).fetchone()
    return row[0] if row else None


# --------------------------------------------------------------------------- storage
def store_predictions(
    project: Project,
    run_id: int,
    record_ids: Sequence[int],
    labels: Sequence[str],
    probs: np.ndarray,
    *,
    multi_label: bool = False,
    thresholds: Sequence[float] | np.ndarray | None = None,
) -> None:
    """Write probabilities (rows follow ``record_ids``) under ``run_id``, one transaction."""
    probs = np.asarray(probs, dtype=float)
    if probs.shape != (len(record_ids), len(labels)):
        raise WorkbenchError(
            f"Predictions have shape {probs.shape}, expected ({len(record_ids)}, {len(labels)})."
        )
    thr = np.full(len(labels), 0.5) if thresholds is None else np.asarray(thresholds, float)
    rows = []
    for rid, row in zip(record_ids, probs, strict=False):
        prob_map = {name: round(float(p), 6) for name, p in zip(labels, row, strict=False)}
        if multi_label:
            chosen = [name for name, p, t in zip(labels, row, thr, strict=False) if p >= t]
            if not chosen:
                chosen = [labels[int(row.argmax())]]
            label = ";".join(chosen)
            confidence = float(np.mean(np.maximum(row, 1.0 - row)))
        else:
            label = labels[int(row.argmax())]
            confidence = float(row.max())
        rows.append((run_id, int(rid), json.dumps(prob_map), label, confidence))
    with project.db.atomic():
        project.conn.executemany(
            "INSERT OR REPLACE INTO predictions(run_id, record_id, probs, label, confidence) "
            "VALUES (?, ?, ?, ?, ?)",
            rows,
        )


def _parse_probs(raw: str, labels: list[str]) -> np.ndarray | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    if isinstance(value, dict):
        return np.array([float(value.get(name, 0.0)) for name in labels])
    if isinstance(value, list) and len(value) == len(labels):
        return np.array([float(p) for p in value])
    return None


def load_predictions(
    project: Project, run_id: int | None = None, record_ids: Sequence[int] | None = None
) -> PredictionSet | None:
    """Stored probabilities of a run (default: the current suggester) for some records.

    Columns follow the run's label order; labels no longer in the project's schema are
    dropped. Records without a stored prediction are left out.
    """
    if run_id is None:
        run_id = prediction_run_id(project)
        if run_id is None:
            return None
    info = run_row(project, run_id)
    if info is None:
        return None
    meta = _run_meta(project, run_id)
    run_labels = list(meta.get("labels") or info["config"].get("labels") or [])
    multi = bool(meta.get("multi_label", info["config"].get("multi_label", project.multi_label)))
    raw_thr = meta.get("thresholds") or info["config"].get("thresholds")
    if record_ids is None:
        rows = project.db.execute(
            "SELECT record_id, probs FROM predictions WHERE run_id = ? ORDER BY record_id", [run_id]
        ).fetchall()
    else:
        rows = []
        ids = [int(i) for i in record_ids]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows += project.db.execute(
                f"SELECT record_id, probs FROM predictions WHERE run_id = ? AND record_id IN ({marks})",
                [run_id, *chunk],
            ).fetchall()
        order = {rid: i for i, rid in enumerate(ids)}
        rows.sort(key=lambda r: order[r[0]])
    if not run_labels and rows:
        first = json.loads(rows[0][1])
        run_labels = list(first) if isinstance(first, dict) else project.label_names()
    thresholds = (
        np.asarray(raw_thr, float) if raw_thr and len(raw_thr) == len(run_labels)
        else np.full(len(run_labels), 0.5)
    )
    out_ids, matrix = [], []
    for rid, raw in rows:
        vec = _parse_probs(raw, run_labels)
        if vec is not None:
            out_ids.append(rid)
            matrix.append(vec)
    current = set(project.label_names())
    keep = [i for i, name in enumerate(run_labels) if name in current]
    probs = np.array(matrix, dtype=float).reshape(len(matrix), len(run_labels))[:, keep]
    return PredictionSet(
        run_id=run_id,
        labels=[run_labels[i] for i in keep],
        multi_label=multi,
        thresholds=thresholds[keep],
        ids=np.array(out_ids, dtype=np.int64),
        probs=probs,
    )


# --------------------------------------------------------------------------- cold start
def coldstart_is_stale(project: Project) -> bool:
    """True when no cold-start predictions exist or enough new labels arrived since."""
    row = project.db.execute(
        "SELECT metrics FROM runs WHERE kind = ? AND status = 'completed' ORDER BY id DESC LIMIT 1",
        [COLDSTART_KIND],
    ).fetchone()
    if row is None:
        return True
    try:
        fitted_on = int(json.loads(row[0] or "{}").get("n_labelled", 0))
    except (ValueError, TypeError):
        return True
    now = _labelled_total(project)
    return abs(now - fitted_on) >= max(COLDSTART_REFRESH, fitted_on // 10)


def coldstart_predict(
    project: Project, *, should_stop: Callable[[], bool] | None = None
) -> int | None:
    """Fit the cold-start model on the labelled records and store its predictions.

    Returns the new run id (below 1), or ``None`` with too few labels (single-label: two
    different labels; multi-label: one label both present and absent). Older ones go.
    """
    should_stop = should_stop or _never
    labels = project.label_names()
    multi = project.multi_label
    examples = [ex for ex in project.labelled_examples() if any(n in labels for n in ex[2])]
    if not examples:
        return None
    y = encode_labels(examples, labels, multi)
    if multi:
        if not any(0 < y[:, j].sum() < len(examples) for j in range(len(labels))):
            return None
    else:
        keep = y >= 0
        examples = [ex for ex, k in zip(examples, keep, strict=False) if k]
        y = y[keep]
        if len(np.unique(y)) < 2:
            return None
    targets = unlabelled_record_ids(project)
    if not targets:  # every record is labelled: nothing to suggest (and nothing to fit on)
        return None
    target_texts = [r.text for r in project.get_records(targets)]
    texts = [ex[1] for ex in examples] + target_texts
    features = tfidf_features(texts)
    if should_stop():
        raise Cancelled("Cold-start prediction cancelled.")
    n = len(examples)
    train_idx = np.arange(n)
    pred_idx = np.arange(n, len(texts))
    probs, temperature = calibrated_fit_predict(features, y, train_idx, pred_idx, multi_label=multi)
    if not multi and probs.shape[1] < len(labels):
        probs = np.hstack([probs, np.zeros((len(pred_idx), len(labels) - probs.shape[1]))])
    if should_stop():
        raise Cancelled("Cold-start prediction cancelled.")
    from workbench.core.store.snapshot import resolve_labels

    snapshot_hash = resolve_labels(project).hash
    now = now_iso()
    config = {"model": "tfidf-logreg", "labels": labels, "multi_label": multi}
    metrics = {"n_labelled": _labelled_total(project), "n_train": n, "temperature": temperature}
    with project.db.atomic():
        cur = project.db.execute(
            "INSERT INTO runs(id, kind, status, created_at, finished_at, base_model, config, "
            "metrics, snapshot_hash, device) VALUES ((SELECT min(0, coalesce(min(id), 0)) - 1 "
            "FROM runs), ?, 'completed', ?, ?, ?, ?, ?, ?, 'cpu')",  # ids < 1: see create_run
            [COLDSTART_KIND, now, now, "tfidf-logreg", json.dumps(config), json.dumps(metrics),
             snapshot_hash],
        )
        run_id = cur.lastrowid
    for start in range(0, len(targets), _CHUNK):
        store_predictions(
            project, run_id, targets[start : start + _CHUNK], labels,
            probs[start : start + _CHUNK], multi_label=multi,
        )
    current = prediction_run_id(project)
    with project.db.atomic():
        if current is None or (run_row(project, current) or {}).get("kind") == COLDSTART_KIND:
            project.set_meta(META_RUN, str(run_id))
        # Older cold-start runs go (their predictions with them, by cascade).
        project.db.execute("DELETE FROM runs WHERE kind = ? AND id != ?", [COLDSTART_KIND, run_id])
    log.info("Cold-start model fitted on %d labels; run %d", n, run_id)
    return run_id


def ensure_predictions(project: Project, *, refresh: bool = True) -> int | None:
    """Run id of usable predictions, fitting or refreshing the cold-start model if needed.

    A trained model's predictions (see :func:`predict_project`) are used as they are; until
    one exists the cold-start model is fitted, and with ``refresh`` refitted when enough
    new labels arrived (the app refreshes it in the background instead).
    """
    current = prediction_run_id(project)
    if current is not None and (run_row(project, current) or {}).get("kind") != COLDSTART_KIND:
        return current
    if current is None or (refresh and coldstart_is_stale(project)):
        try:
            fresh = coldstart_predict(project)
        except Exception:  # a cheap helper must never break labelling
            log.exception("Cold-start model failed")
            fresh = None
        return fresh if fresh is not None else current
    return current


def refresh_coldstart(
    project_path: str | Path,
    progress: Callable[[AssistEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> int | None:
    """Refit the cold-start model if no trained model suggests and it is out of date.

    For a worker thread (opens its own connection). Returns the suggesting run id.
    """
    progress = progress or _noop
    with Project.open(project_path) as project:
        current = prediction_run_id(project)
        info = run_row(project, current) if current is not None else None
        if info is not None and info["kind"] != COLDSTART_KIND:
            return current
        if current is not None and not coldstart_is_stale(project):
            return current
        progress(AssistEvent("coldstart", 0, 0, "Updating the cold-start suggestions…"))
        fresh = coldstart_predict(project, should_stop=should_stop)
        if fresh is not None:
            progress(AssistEvent("done", 0, 0, f"Suggestions now from: {describe_run(project, fresh)}"))
        return fresh if fresh is not None else current


# --------------------------------------------------------------------------- suggestions
def describe_run(project: Project, run_id: int) -> str:
    """Which model makes suggestions, in a few words ("Model of run 3 (int8 ONNX, …)")."""
    info = run_row(project, run_id) or {}
    if info.get("kind") == COLDSTART_KIND:
        n = info.get("metrics", {}).get("n_train") or info.get("metrics", {}).get("n_labelled", 0)
        return f"Cold-start model (TF-IDF + logistic regression on {n} labels)"
    f1 = info.get("metrics", {}).get("macro_f1")
    extra = f", macro-F1 {f1:.2f}" if isinstance(f1, (int, float)) else ""
    return f"Model of run {run_id} (int8 ONNX{extra})"


def current_suggester(project: Project) -> str:
    """A short sentence for the UI saying which model makes the suggestions."""
    run_id = prediction_run_id(project)
    if run_id is None:
        return "No suggestions yet: label a few records with at least two different labels."
    return describe_run(project, run_id)


def suggestion_for(project: Project, record_id: int) -> Suggestion | None:
    """The current model's suggestion for one record, or ``None`` when there is none."""
    run_id = prediction_run_id(project)
    if run_id is None:
        return None
    preds = load_predictions(project, run_id, [record_id])
    if preds is None or len(preds.ids) == 0 or not preds.labels:
        return None
    row = preds.probs[0]
    if preds.multi_label:
        chosen = [n for n, p, t in zip(preds.labels, row, preds.thresholds, strict=False) if p >= t]
        if not chosen:
            chosen = [preds.labels[int(row.argmax())]]
        conf = float(np.mean(np.maximum(row, 1.0 - row)))
        return Suggestion(tuple(chosen), conf, describe_run(project, run_id))
    best = int(row.argmax())
    return Suggestion((preds.labels[best],), float(row[best]), describe_run(project, run_id))


def accept_suggestion(
    project: Project, record_id: int, annotator: str | None = None
) -> Annotation | None:
    """Save the current suggestion as this annotator's label (provenance "accepted suggestion").

    Returns the saved annotation, or ``None`` when there is no suggestion for the record.
    """
    suggestion = suggestion_for(project, record_id)
    if suggestion is None:
        return None
    return project.annotate(
        record_id, list(suggestion.labels), annotator=annotator, provenance=ACCEPTED_PROVENANCE
    )


# --------------------------------------------------------------------------- trained model
