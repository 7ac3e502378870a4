"""Calibrated confidence: temperature scaling fitted on the validation split.

A fine-tuned classifier's probabilities are often over- or under-confident: "billing 50 %"
for an obvious billing message, "technical 22 %" for a text that fits no label. One number,
the temperature ``T``, rescales the scores (``softmax(logits / T)``, or ``sigmoid(logits /
T)`` for multi-label) so that among texts shown at 80 % about 8 in 10 are right. It never
changes which label wins (single-label), and multi-label thresholds are moved with it, so
decisions stay the same; only the confidence shown becomes honest.

``T`` is fitted on the validation split by minimising the negative log-likelihood with
scipy's bounded scalar minimiser; the expected calibration error (ECE) before and after is
measured on the test split. The bundle applies the same ``T`` (see ``inference.py``).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "MIN_EXAMPLES",
    "fit_temperature",
    "expected_calibration_error",
    "apply_temperature",
    "logits_from_probs",
    "targets",
    "calibrate_run",
    "scale_thresholds",
]

#: Fewer validation examples than this keep T = 1 (too few to fit anything).
MIN_EXAMPLES = 8
_LOG_T_BOUNDS = (-3.0, 3.0)  # T from 0.05 to 20


def logits_from_probs(probs: np.ndarray, multi_label: bool) -> np.ndarray:
    """Scores whose softmax (or sigmoid) gives ``probs`` back: log-probabilities for
    softmax (a per-row constant away from the logits, which softmax ignores), log-odds for
    sigmoid."""
    p = np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1 - 1e-12)
    return np.log(p / (1 - p)) if multi_label else np.log(p)


def apply_temperature(scores: np.ndarray, temperature: float, multi_label: bool) -> np.ndarray:
    """Probabilities from scores (logits) divided by ``temperature``."""
    from scipy.special import expit, softmax

    z = np.asarray(scores, dtype=np.float64) / float(temperature)
    return expit(z) if multi_label else softmax(z, axis=-1)


def targets(examples: Sequence[Any], labels: Sequence[str], multi_label: bool) -> np.ndarray:
    """Gold labels of examples (``.labels`` tuples): indices, or a 0/1 matrix for multi-label."""
    index = {name: i for i, name in enumerate(labels)}
    if multi_label:
        y = np.zeros((len(examples), len(labels)), dtype=np.float64)
        for row, ex in enumerate(examples):
            for name in ex.labels:
                if name in index:
                    y[row, index[name]] = 1.0
        return y
    return np.array([index.get(ex.labels[0], -1) if ex.labels else -1 for ex in examples])


def _nll(scores: np.ndarray, y: np.ndarray, temperature: float, multi_label: bool) -> float:
    from scipy.special import log_expit, log_softmax

    z = scores / temperature
    if multi_label:
        return float(-(y * log_expit(z) + (1 - y) * log_expit(-z)).mean())
    return float(-log_softmax(z, axis=-1)[np.arange(len(y)), y].mean())


def fit_temperature(scores: np.ndarray, y: np.ndarray, multi_label: bool = False) -> float:
    """The temperature minimising the validation negative log-likelihood (1.0 with fewer
    than :data:`MIN_EXAMPLES` examples)."""
    from scipy.optimize import minimize_scalar

    scores = np.asarray(scores, dtype=np.float64)
    y = np.asarray(y)
    if not multi_label:
        keep = y >= 0
        scores, y = scores[keep], y[keep].astype(int)
    if len(y) < MIN_EXAMPLES:
        return 1.0
    result = minimize_scalar(lambda log_t: _nll(scores, y, float(np.exp(log_t)), multi_label),
                             bounds=_LOG_T_BOUNDS, method="bounded")
    return float(np.exp(result.x)) if result.success else 1.0


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, multi_label: bool = False,
                               bins: int = 10) -> float:
    """Expected calibration error over equal-width confidence bins: the gap between the
    shown confidence and the hit rate, averaged with each bin weighted by its size.

    Single-label: the top label's probability against whether it was right; multi-label:
    every (text, label) probability against whether the label applies.
    """
    probs = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y)
    if multi_label:
        conf, hit = probs.ravel(), y.ravel().astype(np.float64)
    else:
        keep = y >= 0
        probs, y = probs[keep], y[keep]
        conf = probs.max(axis=1)
        hit = (probs.argmax(axis=1) == y).astype(np.float64)
    if len(conf) == 0:
        return 0.0
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.sum() / len(conf) * abs(conf[mask].mean() - hit[mask].mean())
    return float(total)


def scale_thresholds(thresholds: Sequence[float] | None, temperature: float) -> list[float] | None:
    """Multi-label thresholds moved into the calibrated scale (same decisions)."""
    if thresholds is None:
        return None
    t = np.clip(np.asarray(thresholds, dtype=np.float64), 1e-6, 1 - 1e-6)
    return [round(float(v), 6) for v in apply_temperature(np.log(t / (1 - t)), temperature, True)]


def calibrate_run(val_probs: np.ndarray, val_y: np.ndarray, test_probs: np.ndarray,
                  test_y: np.ndarray, multi_label: bool) -> tuple[float, dict[str, Any], np.ndarray]:
    """Fit ``T`` on validation; returns ``(T, figures, calibrated test probabilities)``.

    ``figures`` hold the temperature and the ECE before and after on the test split (the
    run's record and the model card show them).
    """
    temperature = fit_temperature(logits_from_probs(val_probs, multi_label), val_y, multi_label)
    calibrated = apply_temperature(logits_from_probs(test_probs, multi_label), temperature,
                                   multi_label)
    figures = {
        "method": "temperature scaling (fitted on validation)",
        "temperature": round(temperature, 6),
        "ece_before": round(expected_calibration_error(test_probs, test_y, multi_label), 6),
        "ece_after": round(expected_calibration_error(calibrated, test_y, multi_label), 6),
        "validation_examples": int(len(val_y)),
        "test_examples": int(len(test_y)),
    }
    return temperature, figures, calibrated


def calibrate_job(job: Any, val_probs: np.ndarray, test_examples: Sequence[Any],
                  test_probs: np.ndarray, metrics: dict[str, Any]) -> np.ndarray:
    """The end-of-run hook: fit ``T``, record it on ``job`` (``temperature``, thresholds in
    the calibrated scale) and in ``metrics["calibration"]``; returns calibrated test
    probabilities."""
    data = job.data
    multi = bool(data.multi_label)
    val_y = targets(data.validation, data.labels, multi)
    test_y = targets(test_examples, data.labels, multi)
    temperature, figures, calibrated = calibrate_run(
        np.asarray(val_probs), val_y, np.asarray(test_probs), test_y, multi)
    job.temperature = temperature
    if multi:
        job.thresholds = scale_thresholds(job.thresholds, temperature)
        metrics["thresholds"] = job.thresholds
    metrics["calibration"] = figures
    return calibrated


def calibrate_delivered(job: Any, fit_probs: np.ndarray, fit_y: np.ndarray, eval_probs: np.ndarray,
                        eval_y: np.ndarray, metrics: dict[str, Any], fitted_on: str) -> np.ndarray:
    """Temperature scaling for a run of the few-label methods (``training/methods``): ``T``
    fitted on ``fit_probs`` (the validation split, or out-of-fold predictions of every
    labelled record when the run was cross-validated), ECE before/after on ``eval_probs``.
    Records ``job.temperature`` (and ``job.calibrated_thresholds`` for multi-label) and
    ``metrics["calibration"]``; returns the calibrated ``eval_probs``."""
    multi = bool(job.data.multi_label)
    temperature, figures, calibrated = calibrate_run(
        np.asarray(fit_probs), np.asarray(fit_y), np.asarray(eval_probs), np.asarray(eval_y), multi)
    figures["method"] = f"temperature scaling (fitted on {fitted_on})"
    job.temperature = temperature
    if multi:
        job.calibrated_thresholds = scale_thresholds(
            metrics.get("thresholds") or [0.5] * len(job.data.labels), temperature)
        metrics["thresholds"] = job.calibrated_thresholds
    metrics["calibration"] = figures
    return calibrated
