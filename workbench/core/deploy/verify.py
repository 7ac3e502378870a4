"""Checks run on every export: ONNX vs PyTorch parity, int8 vs fp32 agreement, macro-F1."""
from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "PARITY_TOLERANCE",
    "F1_DROP_WARNING",
    "torch_logits",
    "decisions",
    "agreement",
    "macro_f1",
    "batch1_latency_ms",
    "f1_drop_warning",
]

from workbench.core.deploy import F1_DROP_WARNING, PARITY_TOLERANCE  # noqa: E402


def torch_logits(model: Any, tokenizer: Any, texts: Sequence[str], max_length: int, batch_size: int = 16,
                 windows: dict[str, Any] | None = None) -> np.ndarray:
    """PyTorch logits for texts, tokenized as in training (transformers tokenizer); with
    ``windows`` pooled over overlapping windows, as the bundle does."""
    import torch

    if windows:
        from workbench.core.training.long_records import torch_window_logits

        return torch_window_logits(model, tokenizer, texts, max_length=max_length, windows=windows,
                                   batch_size=batch_size)

    out = []
    model.eval()
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            chunk = list(texts[start : start + batch_size])
            enc = tokenizer(chunk, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
            out.append(model(**enc).logits.float().numpy())
    if not out:
        return np.zeros((0, int(model.config.num_labels)), dtype=np.float32)
    return np.concatenate(out, axis=0)


def decisions(probs: np.ndarray, multi_label: bool, thresholds: Sequence[float] | None) -> np.ndarray:
    """Class indices (single-label) or a 0/1 matrix (multi-label) from probabilities."""
    if multi_label:
        th = np.asarray(thresholds if thresholds is not None else [0.5] * probs.shape[1])
        return (probs >= th).astype(int)
    return probs.argmax(axis=1)


def agreement(a: np.ndarray, b: np.ndarray) -> float | None:
    """Share of texts with the same prediction (multi-label: the same label set)."""
    if len(a) == 0:
        return None
    if a.ndim == 2:
        return float(np.mean(np.all(a == b, axis=1)))
    return float(np.mean(a == b))


def macro_f1(gold: Sequence[Sequence[str]], pred: np.ndarray, labels: Sequence[str], multi_label: bool) -> float | None:
    """Macro-F1 (0-1) of predictions against gold label lists; None without gold labels."""
    from sklearn.metrics import f1_score

    if len(gold) == 0:
        return None
    index = {name: i for i, name in enumerate(labels)}
    if multi_label:
        y = np.zeros((len(gold), len(labels)), dtype=int)
        for row, names in enumerate(gold):
            for name in names:
                if name in index:
                    y[row, index[name]] = 1
        return float(f1_score(y, pred, average="macro", zero_division=0))
    y = np.array([index.get(names[0], -1) if names else -1 for names in gold])
    present = sorted(set(y[y >= 0].tolist()) | set(np.asarray(pred).tolist()))
    return float(f1_score(y, pred, labels=present, average="macro", zero_division=0))


def batch1_latency_ms(predictor: Any, texts: Sequence[str], repeats: int = 30) -> dict[str, float]:
    """Median and 95th-percentile latency of one-text calls (tokenization included)."""
    sample = [t for t in texts if t][:repeats] or ["an example text"]
    while len(sample) < min(repeats, 10):
        sample = sample + sample
    predictor.predict_proba(sample[:2])  # warm-up
    times = []
    for text in sample:
        t0 = time.perf_counter()
        predictor.predict_proba([text])
        times.append((time.perf_counter() - t0) * 1000.0)
    times.sort()
    p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
    return {"p50": round(statistics.median(times), 3), "p95": round(p95, 3)}


def f1_drop_warning(f1_fp32: float | None, f1_int8: float | None) -> str | None:
    """The warning shown when int8 loses more than :data:`F1_DROP_WARNING` macro-F1 points."""
    if f1_fp32 is None or f1_int8 is None:
        return None
    drop = round(100 * (f1_fp32 - f1_int8), 6)  # 0.90 - 0.89 is 1.0000000000000009 points
    if drop <= F1_DROP_WARNING:
        return None
    return (
        f"int8 quantization lowers macro-F1 by {drop:.1f} points ({100 * f1_fp32:.1f} -> "
        f"{100 * f1_int8:.1f}); consider exporting without quantization (model.fp32.onnx)."
    )
