"""Zero-shot suggestions before the first label: label names and guidelines as prompts.

Each label is described by its name and guideline ("billing. Charges, invoices and
payments."); every unlabelled record and every description is embedded with the bundled
sentence encoder (mean pooling, normalised), and the record's suggestion is the softmax of
its cosine similarities over the labels at temperature :data:`TEMPERATURE`
(multi-label: a sigmoid around :data:`MULTI_THRESHOLD_COS`). The predictions are stored as
a cold-start run, so the queue (least confident, diverse...) and the suggested label work
from record one; the TF-IDF cold-start model replaces them once labels arrive.

Runs in the background cold-start job only (:func:`workbench.core.assist.jobs.coldstart_job`):
embedding a project takes seconds to minutes on a CPU.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from workbench.core.errors import Cancelled

if TYPE_CHECKING:
    from workbench.core.store.project import Project

__all__ = [
    "TEMPERATURE", "MAX_RECORDS", "label_descriptions", "zero_shot_probs", "zero_shot_predict",
    "zero_shot_if_unlabelled",
]

log = logging.getLogger(__name__)

#: Softmax temperature over cosine similarities (sentence-encoder cosines of related texts
#: differ by a few hundredths, so a low temperature is needed for usable confidences).
TEMPERATURE = 0.05
#: Multi-label: a label is suggested when its cosine exceeds this.
MULTI_THRESHOLD_COS = 0.3
#: At most this many unlabelled records are embedded (the oldest first); the rest wait for
#: the first trained or cold-start model.
MAX_RECORDS = 5000


def label_descriptions(project: Project) -> list[str]:
    """One text per label: its name (underscores as spaces) and its guideline."""
    out = []
    for label in project.labels():
        name = label.name.replace("_", " ").replace("-", " ")
        guide = (label.guideline or "").strip()
        out.append(f"{name}. {guide}" if guide else name)
    return out


def zero_shot_probs(descriptions: Sequence[str], texts: Sequence[str], *, multi_label: bool = False,
                    base_model: str = "bundled", should_stop: Callable[[], bool] | None = None) -> np.ndarray:
    """(texts x labels) suggestion probabilities from embedding similarity."""
    import torch
    from transformers import AutoModel

    from workbench.core.training.methods.linear import embed_texts
    from workbench.core.training.methods.modules import EncoderHead
    from workbench.core.training.models import load_tokenizer, validate_base_model

    info = validate_base_model(base_model)
    tok = load_tokenizer(info.path)
    with torch.inference_mode():
        model = EncoderHead(AutoModel.from_pretrained(str(info.path), use_safetensors=True), len(descriptions))
    lab = embed_texts(model, tok, list(descriptions), max_length=128)
    emb = embed_texts(model, tok, list(texts), max_length=128, should_stop=should_stop)
    cos = emb @ lab.T
    if multi_label:
        return 1.0 / (1.0 + np.exp(-(cos - MULTI_THRESHOLD_COS) / TEMPERATURE))
    z = cos / TEMPERATURE
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def zero_shot_predict(project: Project, *, should_stop: Callable[[], bool] | None = None) -> int | None:
    """Store zero-shot predictions for the unlabelled records as a cold-start run; returns
    its id (``None`` when there is nothing to predict)."""
    from workbench.core.assist import suggestions as sg
    from workbench.core.store.project import now_iso

    labels = project.label_names()
    targets = sg.unlabelled_record_ids(project)[:MAX_RECORDS]
    if len(labels) < 2 or not targets:
        return None
    texts = [r.text for r in project.get_records(targets)]
    probs = zero_shot_probs(label_descriptions(project), texts, multi_label=project.multi_label,
                            should_stop=should_stop)
    if should_stop is not None and should_stop():
        raise Cancelled("Zero-shot suggestions cancelled.")
    now = now_iso()
    config = {"model": "zero-shot-minilm", "labels": labels, "multi_label": project.multi_label}
    with project.db.atomic():
        cur = project.db.execute(
            "INSERT INTO runs(kind, status, created_at, finished_at, base_model, config, metrics, "
            "snapshot_hash, device) VALUES (?, 'completed', ?, ?, ?, ?, ?, '', 'cpu')",
            [sg.COLDSTART_KIND, now, now, "zero-shot-minilm", json.dumps(config),
             json.dumps({"n_labelled": 0, "n_train": 0, "zero_shot": True})],
        )
        run_id = int(cur.lastrowid)
    thresholds = [0.5] * len(labels) if project.multi_label else None
    sg.store_predictions(project, run_id, targets, labels, probs, multi_label=project.multi_label,
                         thresholds=thresholds)
    with project.db.atomic():
        current = sg.prediction_run_id(project)
        if current is None or (sg.run_row(project, current) or {}).get("kind") == sg.COLDSTART_KIND:
            project.set_meta(sg.META_RUN, str(run_id))
        project.db.execute("DELETE FROM runs WHERE kind = ? AND id != ?", [sg.COLDSTART_KIND, run_id])
    log.info("Zero-shot suggestions stored for %d records; run %d", len(targets), run_id)
    return run_id


def zero_shot_if_unlabelled(project_path: str | Path, progress: Callable[..., None] | None = None,
                            should_stop: Callable[[], bool] | None = None) -> int | None:
    """For a worker thread: store zero-shot suggestions when nothing suggests yet and no
    record is labelled; the suggesting run id (``None``: nothing done). A failure is logged
    and labelling goes on without suggestions."""
    from workbench.core.assist import suggestions as sg
    from workbench.core.assist.suggestions import AssistEvent
    from workbench.core.store.project import Project

    with Project.open(project_path) as project:
        if sg.prediction_run_id(project) is not None or project.labelled_examples():
            return None
        if progress is not None:
            progress(AssistEvent("coldstart", 0, 0, "Suggesting from the label names and guidelines…"))
        try:
            return zero_shot_predict(project, should_stop=should_stop)
        except Cancelled:
            raise
        except Exception:  # optional help
            log.exception("Zero-shot suggestions failed")
            return None
