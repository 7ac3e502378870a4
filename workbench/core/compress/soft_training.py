"""Training a student on a teacher's soft targets plus the hard labels.

Used by distillation (a smaller student) and by pruning (the pruned model recovers from
the unpruned one). The teacher's logits are computed once for every training text, the
labelled training records and the project's unlabelled records alike; the loss is

    soft_weight * T^2 * KL(softmax(teacher / T) || softmax(student / T))
    + (1 - soft_weight) * cross-entropy(student, label)       (labelled texts only)

(sigmoid and binary cross-entropy per label for multi-label projects). The student with
the best validation macro-F1 is kept, then measured on the test split, with its agreement
with the teacher.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from workbench.core.compress.common import CompressEvent
from workbench.core.errors import Cancelled

__all__ = ["SoftData", "SoftSettings", "SoftOutcome", "teacher_logits", "train_on_soft_targets"]

log = logging.getLogger(__name__)


@dataclass
class SoftData:
    """Texts and labels of one student training (label indices in the teacher's order)."""

    labels: list[str]
    multi_label: bool
    train_texts: list[str]
    train_targets: list[tuple[int, ...] | None]  # None: an unlabelled text
    val_texts: list[str]
    val_targets: list[tuple[int, ...]]
    test_texts: list[str]
    test_targets: list[tuple[int, ...]]
    test_ids: list[int] = field(default_factory=list)
    max_length: int = 128


@dataclass
class SoftSettings:
    temperature: float = 2.0
    soft_weight: float = 0.5
    epochs: int = 3
    learning_rate: float = 1e-4
    batch_size: int = 32
    max_steps: int = 0
    seed: int = 42
    phase: str = "distill"


@dataclass
class SoftOutcome:
    metrics: dict[str, Any]
    probs: Any
    thresholds: list[float] | None
    history: list[dict[str, Any]]
    agreement: float | None
    teacher_f1: float | None
    steps: int


def _probs_batches(model: Any, enc: Sequence[Sequence[int]], pad: int, batch: int,
                   should_stop: Callable[[], bool] | None) -> Any:
    import numpy as np
    import torch

    from workbench.core.training.batching import collate

    out = np.zeros((len(enc), int(model.config.num_labels)), dtype=np.float32)
    order = sorted(range(len(enc)), key=lambda i: len(enc[i]))
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch):
            if should_stop is not None and should_stop():
                raise Cancelled("Cancelled; nothing was written.")
            idx = order[start:start + batch]
            ids, mask = collate(enc, idx, pad)
            out[idx] = model(input_ids=ids, attention_mask=mask).logits.float().numpy()
    return out


def teacher_logits(model: Any, tokenizer: Any, texts: Sequence[str], max_length: int,
                   should_stop: Callable[[], bool] | None = None) -> Any:
    """The teacher's logits (n x labels) for ``texts``, batched by length."""
    enc = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"] if texts else []
    return _probs_batches(model, enc, tokenizer.pad_token_id or 0, 64, should_stop)


def _indicator(targets: Sequence[tuple[int, ...]], k: int, multi: bool) -> Any:
    import numpy as np

    if multi:
        y = np.zeros((len(targets), k), dtype=int)
        for i, t in enumerate(targets):
            y[i, list(t)] = 1
        return y
    return np.asarray([t[0] for t in targets], dtype=int)


def _evaluate(model: Any, tokenizer: Any, texts: list[str], targets: list[tuple[int, ...]], data: SoftData,
              thresholds: list[float] | None, tune: bool, should_stop: Any) -> tuple[dict, Any, Any]:
    from workbench.core.training.evaluate import (
        compute_metrics,
        predict_proba,
        probs_to_predictions,
        tune_thresholds,
    )

    y = _indicator(targets, len(data.labels), data.multi_label)
    probs = predict_proba(model, tokenizer, texts, max_length=data.max_length, multi_label=data.multi_label,
                          batch_size=64, should_stop=should_stop)
    if data.multi_label and tune and len(texts):
        thresholds = tune_thresholds(probs, y)
    pred = probs_to_predictions(probs, multi_label=data.multi_label, thresholds=thresholds)
    return compute_metrics(y, pred, data.labels, multi_label=data.multi_label), probs, thresholds


def train_on_soft_targets(
    teacher: Any, student: Any, tokenizer: Any, data: SoftData, settings: SoftSettings, *,
    thresholds: list[float] | None = None,
    progress: Callable[[Any], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> SoftOutcome:
    """Train ``student`` (in place, best validation weights kept) on ``teacher``'s targets."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    from workbench.core.training.batching import collate, length_grouped_batches

    stop = should_stop or (lambda: False)
    emit = progress or (lambda _e: None)
    k, multi, T = len(data.labels), data.multi_label, float(settings.temperature)
    emit(CompressEvent(settings.phase, 0, 0, f"Teacher predictions on {len(data.train_texts)} training texts"))
    soft = torch.as_tensor(teacher_logits(teacher, tokenizer, data.train_texts, data.max_length, stop))
    enc = tokenizer(data.train_texts, truncation=True, max_length=data.max_length)["input_ids"]
    has_label = torch.tensor([t is not None for t in data.train_targets])
    if multi:
        hard = torch.zeros((len(enc), k))
        for i, t in enumerate(data.train_targets):
            if t is not None:
                hard[i, list(t)] = 1.0
    else:
        hard = torch.tensor([t[0] if t is not None else -1 for t in data.train_targets], dtype=torch.long)
    lengths = [len(x) for x in enc]
    per_epoch = len(length_grouped_batches(lengths, settings.batch_size, settings.seed))
    total = per_epoch * settings.epochs
    if settings.max_steps:
        total = min(total, settings.max_steps)
    torch.manual_seed(settings.seed)
    optimizer = torch.optim.AdamW(student.parameters(), lr=settings.learning_rate, weight_decay=0.01)
    warmup = max(1, int(0.06 * total))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / warmup if s < warmup else max(0.0, (total - s) / max(1, total - warmup)))
    pad = tokenizer.pad_token_id or 0
    best_f1, best_state, history, step = -1.0, None, [], 0
    best_thresholds = thresholds
    t0 = time.perf_counter()
    for epoch in range(settings.epochs):
        student.train()
        for idx in length_grouped_batches(lengths, settings.batch_size, settings.seed + epoch):
            if stop():
                raise Cancelled("Cancelled; nothing was written.")
            ids, mask = collate(enc, idx, pad)
            logits = student(input_ids=ids, attention_mask=mask).logits.float()
            t = soft[idx]
            if multi:
                loss_soft = F.binary_cross_entropy_with_logits(logits / T, torch.sigmoid(t / T)) * T * T
            else:
                loss_soft = F.kl_div(F.log_softmax(logits / T, -1), F.softmax(t / T, -1),
                                     reduction="batchmean") * T * T
            lab = has_label[idx]
            loss = settings.soft_weight * loss_soft
            if bool(lab.any()) and settings.soft_weight < 1.0:
                if multi:
                    loss_hard = F.binary_cross_entropy_with_logits(logits[lab], hard[idx][lab])
                else:
                    loss_hard = F.cross_entropy(logits[lab], hard[idx][lab])
                loss = loss + (1.0 - settings.soft_weight) * loss_hard
            loss.backward()
            torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            elapsed = time.perf_counter() - t0
            emit(CompressEvent(settings.phase, step, total, "",
                               {"loss": float(loss.detach()), "epoch": epoch + 1,
                                "eta_s": elapsed / step * (total - step)}))
            if step >= total:
                break
        metrics, _p, th = _evaluate(student, tokenizer, data.val_texts, data.val_targets, data,
                                    thresholds, True, stop)
        f1 = float(metrics.get("macro_f1", 0.0))
        history.append({"epoch": epoch + 1, "step": step, "macro_f1": f1})
        emit(CompressEvent(settings.phase, step, total, f"Epoch {epoch + 1}: validation macro-F1 {f1:.3f}"))
        if f1 > best_f1 + 1e-6 or best_state is None:
            best_f1, best_thresholds = f1, th
            best_state = {n: v.detach().clone() for n, v in student.state_dict().items()}
        if step >= total:
            break
    if best_state is not None:
        student.load_state_dict(best_state)
    student.eval()
    metrics, probs, _th = _evaluate(student, tokenizer, data.test_texts, data.test_targets, data,
                                    best_thresholds, False, stop)
    metrics["validation"] = {"macro_f1": best_f1}
    metrics["history"] = history
    metrics["steps"] = step
    teacher_metrics, teacher_probs, _ = _evaluate(teacher, tokenizer, data.test_texts, data.test_targets, data,
                                                  thresholds, False, stop)
    agreement = None
    if len(data.test_texts):
        from workbench.core.training.evaluate import probs_to_predictions

        a = probs_to_predictions(probs, multi_label=multi, thresholds=best_thresholds)
        b = probs_to_predictions(teacher_probs, multi_label=multi, thresholds=thresholds)
        same = np.all(a == b, axis=1) if multi else a == b
        agreement = float(np.mean(same))
    return SoftOutcome(metrics, probs, best_thresholds, history, agreement,
                       teacher_metrics.get("macro_f1"), step)
