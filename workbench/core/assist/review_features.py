"""Out-of-fold probabilities for the label-error review, from the better features.

Which features judge a record (``ReviewOptions.features``):

* ``combined`` (what ``auto`` uses when the sentence encoder loads): the mean of two
  out-of-fold probability tables, one from logistic regression on the frozen bundled
  encoder's mean-pooled embeddings (as the ``linear`` training method), one from TF-IDF
  word and character n-grams. On real texts with 10 % of labels flipped the mean finds
  more of the flips than either alone (``benchmarks/label_errors.py``): embeddings carry
  the meaning, TF-IDF the rare exact words.
* ``embeddings``: the embedding model alone.
* ``tfidf``: TF-IDF alone (also what ``auto`` falls back to when the encoder cannot be
  loaded; the result says which features were used).
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from workbench.core.assist import embeddings as emb
from workbench.core.assist.textmodel import fit_predict_linear, tfidf_features
from workbench.core.errors import Cancelled

__all__ = ["REVIEW_FEATURES", "COMBINED", "out_of_fold_probs", "review_probs", "features_words"]

COMBINED = "combined"
#: Choices of the review's ``features`` setting.
REVIEW_FEATURES = ("auto", COMBINED, emb.EMBEDDINGS, emb.TFIDF)
#: Inverse regularisation of the logistic regressions: sparse TF-IDF rows want a weak
#: penalty, dense normalised embeddings scikit-learn's default (the ``linear`` method's).
TFIDF_C = 10.0
EMBED_C = 1.0


def features_words(kind: str) -> str:
    """Plain words for the features a review used."""
    if kind == COMBINED:
        return "sentence-encoder embeddings and TF-IDF word features"
    return emb.feature_words(kind)


def out_of_fold_probs(
    features: Any,
    y: np.ndarray,
    *,
    folds: int = 5,
    seed: int = 0,
    multi_label: bool = False,
    c: float = TFIDF_C,
    should_stop: Callable[[], bool] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Probabilities of every row from a model that did not see it (k-fold, stratified).

    Single-label: ``y`` are class indices and the output has ``y.max() + 1`` columns.
    """
    from sklearn.model_selection import KFold, StratifiedKFold

    n = len(y)
    folds = max(2, min(folds, n))
    if multi_label:
        splitter = KFold(n_splits=folds, shuffle=True, random_state=seed)
        splits = list(splitter.split(np.zeros(n)))
        out = np.zeros(y.shape, dtype=float)
    else:
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        with warnings.catch_warnings():  # a rare label with fewer records than folds is fine
            warnings.simplefilter("ignore", UserWarning)
            splits = list(splitter.split(np.zeros(n), y))
        out = np.zeros((n, int(y.max()) + 1), dtype=float)
    for i, (train_idx, test_idx) in enumerate(splits):
        if should_stop is not None and should_stop():
            raise Cancelled("Review cancelled.")
        out[test_idx] = fit_predict_linear(
            features, y, train_idx, test_idx, multi_label=multi_label, C=c
        )
        if progress is not None:
            progress(i + 1, len(splits))
    return out


def review_probs(
    texts: Sequence[str],
    y: np.ndarray,
    *,
    choice: str = "auto",
    folds: int = 5,
    seed: int = 0,
    multi_label: bool = False,
    cache: Path | None = None,
    base_model: str = "bundled",
    should_stop: Callable[[], bool] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[np.ndarray, str]:
    """``(out-of-fold probabilities, features used)``; ``progress(message, done, total)``.

    ``choice`` is one of :data:`REVIEW_FEATURES`; ``embeddings`` or ``combined`` without a
    loadable encoder fall back to ``tfidf`` (the returned name says so).
    """
    if choice not in REVIEW_FEATURES:
        raise ValueError(f"features must be one of {', '.join(REVIEW_FEATURES)}, not {choice!r}")
    report = progress or (lambda _m, _d, _t: None)
    vectors = None
    if choice != emb.TFIDF:
        report("Computing sentence embeddings (cached per text)…", 0, len(texts))
        vectors = emb.text_embeddings(
            texts, folder=cache, base_model=base_model, should_stop=should_stop,
            on_batch=lambda d, t: report(f"Computing sentence embeddings: {d} of {t} new texts", d, t),
        )
    kind = emb.TFIDF if vectors is None else (emb.EMBEDDINGS if choice == emb.EMBEDDINGS else COMBINED)
    tables = []
    if vectors is not None:
        tables.append((vectors, EMBED_C, "embeddings"))
    if kind != emb.EMBEDDINGS:
        tables.append((tfidf_features(texts), TFIDF_C, "TF-IDF"))
    total = folds * len(tables)
    out = None
    for t, (features, c, name) in enumerate(tables):
        def fold_done(done: int, n: int, t: int = t, name: str = name) -> None:
            report(f"Cross-validating on {name}: fold {done} of {n}", t * folds + done, total)

        probs = out_of_fold_probs(features, y, folds=folds, seed=seed, multi_label=multi_label,
                                  c=c, should_stop=should_stop, progress=fold_done)
        out = probs if out is None else out + probs
    assert out is not None
    return out / len(tables), kind
