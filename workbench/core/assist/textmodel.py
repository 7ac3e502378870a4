"""Quick text classifiers for suggestions and reviews: TF-IDF features and logistic
regression (scikit-learn, imported inside the functions)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from scipy.sparse import spmatrix

__all__ = ["tfidf_features", "fit_predict_linear", "encode_labels", "temperature_scaled",
           "calibrated_fit_predict"]

#: Fewer labelled records than this: the quick model's scores are shown unscaled.
MIN_CALIBRATION_RECORDS = 20


def tfidf_features(texts: Sequence[str], *, max_features: int = 50_000) -> spmatrix:
    """Sparse TF-IDF features of word 1-2-grams and character 2-4-grams (rows L2-normed)."""
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    texts = [t or "" for t in texts]
    word = TfidfVectorizer(
        ngram_range=(1, 2), sublinear_tf=True, max_features=max_features, min_df=1,
        token_pattern=r"(?u)\b\w+\b",
    )
    char = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, max_features=max_features,
        min_df=1,
    )
    return normalize(hstack([word.fit_transform(texts), char.fit_transform(texts)]).tocsr())


def fit_predict_linear(
    features: Any, y: np.ndarray, train_idx: np.ndarray, predict_idx: np.ndarray,
    *, multi_label: bool = False, C: float = 10.0,
) -> np.ndarray:
    """Logistic regression fitted on ``train_idx`` rows; probabilities for ``predict_idx``.

    Single-label: ``y`` is class indices (n,), output (m, n_classes) with a column for every
    class in ``0..y.max()`` (classes absent from the training rows get 0). Multi-label: ``y``
    is an (n, L) 0/1 matrix; a label seen only one way gets a constant probability.
    """
    from sklearn.linear_model import LogisticRegression

    X_train, X_pred = features[train_idx], features[predict_idx]
    if multi_label:
        y_train = y[train_idx]
        out = np.zeros((len(predict_idx), y.shape[1]))
        for j in range(y.shape[1]):
            col = y_train[:, j]
            if col.min() == col.max():
                out[:, j] = float(col[0]) if len(col) else 0.0
                continue
            clf = LogisticRegression(C=C, max_iter=1000, class_weight="balanced")
            clf.fit(X_train, col)
            out[:, j] = clf.predict_proba(X_pred)[:, 1]
        return out
    n_classes = int(y.max()) + 1
    y_train = y[train_idx]
    present = np.unique(y_train)
    out = np.zeros((len(predict_idx), n_classes))
    if len(present) == 1:
        out[:, present[0]] = 1.0
        return out
    clf = LogisticRegression(C=C, max_iter=1000, class_weight="balanced")
    clf.fit(X_train, y_train)
    out[:, clf.classes_] = clf.predict_proba(X_pred)
    return out


def encode_labels(
    examples: list[tuple[int, str, list[str], str]], labels: list[str], multi: bool
) -> np.ndarray:
    """Targets for :func:`fit_predict_linear`: class indices (-1 for an unknown label), or
    a 0/1 matrix for multi-label."""
    index = {name: i for i, name in enumerate(labels)}
    if multi:
        y = np.zeros((len(examples), len(labels)), dtype=int)
        for row, (_rid, _text, names, _split) in enumerate(examples):
            for name in names:
                if name in index:
                    y[row, index[name]] = 1
        return y
    return np.array([index.get(ex[2][0], -1) if ex[2] else -1 for ex in examples], dtype=int)


def temperature_scaled(probs: np.ndarray, y: np.ndarray, *, multi_label: bool = False,
                       fit_probs: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """``(probabilities, T)``: ``probs`` temperature-scaled (``core/training/calibration``)
    with ``T`` fitted on ``fit_probs`` (default: ``probs`` themselves, which must then be
    out-of-fold predictions) against the gold labels ``y``."""
    from workbench.core.training.calibration import (
        apply_temperature,
        fit_temperature,
        logits_from_probs,
    )

    fit = probs if fit_probs is None else fit_probs
    temperature = fit_temperature(logits_from_probs(fit, multi_label), y, multi_label)
    return apply_temperature(logits_from_probs(probs, multi_label), temperature, multi_label), temperature


def calibrated_fit_predict(
    features: Any, y: np.ndarray, train_idx: np.ndarray, predict_idx: np.ndarray,
    *, multi_label: bool = False,
) -> tuple[np.ndarray, float]:
    """:func:`fit_predict_linear` with honest confidence: ``T`` is fitted on two-fold
    out-of-fold predictions of the training rows (about one more fit), then applied to the
    predictions of the model fitted on every training row. ``T`` = 1 with fewer than
    :data:`MIN_CALIBRATION_RECORDS` rows or a label too rare to split."""
    from sklearn.model_selection import KFold, StratifiedKFold

    probs = fit_predict_linear(features, y, train_idx, predict_idx, multi_label=multi_label)
    y_train = y[train_idx]
    if len(train_idx) < MIN_CALIBRATION_RECORDS:
        return probs, 1.0
    if multi_label:
        splits = KFold(n_splits=2, shuffle=True, random_state=0).split(train_idx)
        oof = np.zeros(y_train.shape, dtype=float)
    else:
        counts = np.bincount(y_train)
        if counts[counts > 0].min() < 2:  # a label seen once cannot be on both sides
            return probs, 1.0
        splits = StratifiedKFold(n_splits=2, shuffle=True, random_state=0).split(train_idx, y_train)
        oof = np.zeros((len(train_idx), probs.shape[1]), dtype=float)
    for fit_rows, held_rows in splits:
        part = fit_predict_linear(features, y, train_idx[fit_rows], train_idx[held_rows],
                                  multi_label=multi_label)
        oof[held_rows, : part.shape[1]] = part
    return temperature_scaled(probs, y_train, multi_label=multi_label, fit_probs=oof)
