"""Metrics (scikit-learn), batched prediction and evaluation of a saved run.

Single-label metrics: accuracy, macro/micro/weighted F1, per-label precision, recall, F1
and support, and the confusion matrix (rows: true label, columns: predicted label, in
``labels`` order). Multi-label: subset accuracy (reported as ``accuracy`` too), per-label
figures, micro/macro/weighted F1 and one 2x2 matrix ``[[tn, fp], [fn, tp]]`` per label.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from workbench.core.errors import ModelError, WorkbenchError

__all__ = [
    "compute_metrics",
    "tune_thresholds",
    "predict_proba",
    "probs_to_predictions",
    "load_run_model",
    "evaluate_run",
]

log = logging.getLogger(__name__)


def compute_metrics(
    y_true: Any, y_pred: Any, labels: Sequence[str], *, multi_label: bool
) -> dict[str, Any]:
    """All metrics of one evaluation; ``y_*`` are class indices or 0/1 indicator rows."""
    import numpy as np
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        f1_score,
        multilabel_confusion_matrix,
        precision_recall_fscore_support,
    )

    k = len(labels)
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if len(y_true) == 0:
        return {"n": 0, "labels": list(labels), "multi_label": multi_label}
    ids = list(range(k))
    kw: dict[str, Any] = {"zero_division": 0}
    if not multi_label:
        kw["labels"] = ids
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, average=None, **kw)
    out: dict[str, Any] = {
        "n": int(len(y_true)),
        "multi_label": multi_label,
        "labels": list(labels),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", **kw)),
        "micro_f1": float(f1_score(y_true, y_pred, average="micro", **kw)),
        "weighted_f1": float(f1_score(y_true, y_pred, average="weighted", **kw)),
        "per_label": {
            name: {
                "precision": float(p[i]),
                "recall": float(r[i]),
                "f1": float(f[i]),
                "support": int(s[i]),
            }
            for i, name in enumerate(labels)
        },
    }
    if multi_label:
        out["subset_accuracy"] = out["accuracy"]
        out["confusion_matrix"] = multilabel_confusion_matrix(y_true, y_pred).tolist()
    else:
        out["confusion_matrix"] = confusion_matrix(y_true, y_pred, labels=ids).tolist()
    return out


def tune_thresholds(probs: Any, y_true: Any) -> list[float]:
    """Per-label decision thresholds that maximise F1 on validation (0.5 without positives)."""
    import numpy as np
    from sklearn.metrics import f1_score

    probs = np.asarray(probs, dtype=float)
    y_true = np.asarray(y_true, dtype=int)
    grid = np.round(np.arange(0.05, 0.951, 0.05), 2)
    out: list[float] = []
    for j in range(probs.shape[1]):
        if y_true[:, j].sum() == 0:
            out.append(0.5)
            continue
        scores = [f1_score(y_true[:, j], probs[:, j] >= t, zero_division=0) for t in grid]
        best = max(scores)
        # Among equally good thresholds, the one nearest 0.5 generalises best.
        candidates = [t for t, sc in zip(grid, scores, strict=True) if sc >= best - 1e-9]
        out.append(float(min(candidates, key=lambda t: abs(t - 0.5))))
    return out


def probs_to_predictions(
    probs: Any, *, multi_label: bool, thresholds: Sequence[float] | None = None
) -> Any:
    """Class indices (single-label) or a 0/1 matrix (multi-label) from probabilities."""
    import numpy as np

    probs = np.asarray(probs)
    if not multi_label:
        return probs.argmax(axis=1)
    t = np.asarray(thresholds if thresholds is not None else [0.5] * probs.shape[1])
    return (probs >= t).astype(int)


def predict_proba(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    max_length: int,
    multi_label: bool,
    device: Any = None,
    batch_size: int = 64,
    should_stop: Callable[[], bool] | None = None,
    autocast_dtype: Any = None,
    windows: dict[str, Any] | None = None,
) -> Any:
    """Probabilities (n x labels) for ``texts``, batched by length with dynamic padding;
    with ``windows`` long texts are read in pooled overlapping windows (long_records.py)."""
    import numpy as np
    import torch

    if windows:
        from workbench.core.training.long_records import window_probs

        return window_probs(model, tokenizer, texts, multi_label=multi_label, max_length=max_length,
                            windows=windows, device=device, batch_size=batch_size,
                            should_stop=should_stop, autocast_dtype=autocast_dtype)

    if not texts:
        return np.zeros((0, model.config.num_labels), dtype=np.float32)
    from workbench.core.training.batched_logits import batched_logits

    device = device or next(model.parameters()).device
    enc = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    logits = torch.from_numpy(batched_logits(
        model, enc, pad_id=tokenizer.pad_token_id or 0, n_labels=model.config.num_labels, device=device,
        batch_size=batch_size, should_stop=should_stop, autocast_dtype=autocast_dtype))
    probs = torch.sigmoid(logits) if multi_label else torch.softmax(logits, dim=-1)
    return probs.numpy()


def load_run_model(model_dir: Path) -> tuple[Any, Any, dict[str, Any]]:
    """(model, tokenizer, workbench_run.json) of a saved run folder."""
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    from workbench.core.compress.pruned_layout import is_head_pruned, load_pruned_classifier
    from workbench.core.training.models import check_model_folder, load_tokenizer

    hf_logging.disable_progress_bar()
    check_model_folder(model_dir)  # every file inside the folder, weights loadable safely
    info_file = model_dir / "workbench_run.json"
    if not info_file.is_file():
        raise ModelError(f"{model_dir} is not a trained Workbench model (workbench_run.json missing).")
    try:
        info = json.loads(info_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{info_file} cannot be read: {exc}") from None
    from workbench.core.training.methods import modules as custom

    if custom.is_custom_folder(model_dir):  # linear / SetFit models
        return custom.load_custom(model_dir), custom.load_custom_tokenizer(model_dir), info
    from workbench.core.training.methods import lora_folder

    if lora_folder.is_lora_folder(model_dir):  # LoRA: base model + adapters, merged
        return (*lora_folder.load_merged(model_dir), info)
    tokenizer = load_tokenizer(model_dir)
    try:
        if is_head_pruned(model_dir):  # attention heads pruned (core/compress)
            model = load_pruned_classifier(model_dir)
        else:
            model = AutoModelForSequenceClassification.from_pretrained(
                str(model_dir), trust_remote_code=False, use_safetensors=True
            )
    except Exception as exc:
        raise ModelError(f"The model in {model_dir} cannot be loaded: {exc}") from None
    model.eval()
    return model, tokenizer, info


def _read_labelled_file(
    path: Path, text_col: str, label_col: str, known: Sequence[str], multi_label: bool
) -> tuple[list[str], list[list[str]]]:
    from workbench.core.data.importer import split_labels
    from workbench.core.data.readers import detect_format, read_table

    if not path.exists():
        raise WorkbenchError(f"{path}: no such file.")
    texts: list[str] = []
    labels: list[list[str]] = []
    unknown: set[str] = set()
    for rows, first, _frac in read_table(path, detect_format(path)):
        for offset, row in enumerate(rows):
            if text_col not in row or label_col not in row:
                missing = text_col if text_col not in row else label_col
                raise WorkbenchError(f"{path.name}: there is no column {missing!r}.")
            text = row[text_col]
            if text is None or not str(text).strip():
                continue
            names = split_labels(row[label_col], known)
            if not names:
                continue
            if not multi_label and len(names) > 1:
                raise WorkbenchError(
                    f"{path.name}, row {first + offset}: several labels in a single-label model."
                )
            unknown.update(n for n in names if n not in known)
            texts.append(str(text))
            labels.append(names)
    if unknown:
        raise WorkbenchError(
            f"{path.name}: label(s) {', '.join(sorted(unknown))} are not labels of this model "
            f"({', '.join(known)})."
        )
    if not texts:
        raise WorkbenchError(f"{path.name}: no rows with both a text and a label.")
    return texts, labels


def evaluate_run(
    project_path: str | Path,
    run: str | int = "latest",
    input_file: str | Path | None = None,
    text_col: str | None = None,
    label_col: str | None = None,
    *,
    batch_size: int = 64,
) -> dict[str, Any]:
    """Evaluate a saved run on its project's test split (current labels) or a labelled file.

    Returns the metrics dict of :func:`compute_metrics` plus ``run_id``, ``source`` and
    ``skipped`` (test records whose label the model does not know).
    """
    import numpy as np

    from workbench.core.store.project import Project
    from workbench.core.store.snapshot import resolve_labels
    from workbench.core.training.runs import get_run

    with Project.open(project_path) as project:
        row = get_run(project, run)
        if not row.get("model_path"):
            raise ModelError(f"Run {row['id']} has no saved model (status: {row['status']}).")
        model_dir = Path(row["model_path"])
        if not model_dir.is_absolute():
            model_dir = project.path.parent / model_dir
        if not model_dir.is_dir():
            raise ModelError(f"The model folder of run {row['id']} is missing: {model_dir}")
        examples = None if input_file else resolve_labels(project).examples
    model, tokenizer, info = load_run_model(model_dir)
    labels: list[str] = list(info["labels"])
    multi = bool(info.get("multi_label"))
    skipped = 0
    if input_file:
        if not text_col or not label_col:
            raise WorkbenchError("Evaluating a file needs both a text column and a label column.")
        texts, gold = _read_labelled_file(Path(input_file), text_col, label_col, labels, multi)
        source = str(input_file)
    else:
        texts, gold = [], []
        for _rid, text, names, split in examples or []:
            if split != "test":
                continue
            if any(n not in labels for n in names):
                skipped += 1
                continue
            texts.append(text)
            gold.append(list(names))
        source = "test split"
        if not texts:
            raise WorkbenchError("The project's test split has no labelled records to evaluate on.")
    index = {n: i for i, n in enumerate(labels)}
    probs = predict_proba(
        model, tokenizer, texts, max_length=int(info.get("max_length", 256)),
        multi_label=multi, batch_size=batch_size, windows=info.get("windows"),
    )
    pred = probs_to_predictions(probs, multi_label=multi, thresholds=info.get("thresholds"))
    if multi:
        y_true = np.zeros((len(gold), len(labels)), dtype=int)
        for i, names in enumerate(gold):
            for n in names:
                y_true[i, index[n]] = 1
    else:
        y_true = np.array([index[names[0]] for names in gold])
    metrics = compute_metrics(y_true, pred, labels, multi_label=multi)
    metrics.update({"run_id": int(row["id"]), "source": source, "skipped": skipped})
    return metrics
