"""Linear methods: TF-IDF or frozen sentence-encoder embeddings + logistic regression.

Features:

* TF-IDF over the base model's tokenizer word pieces (lower-cased by the MiniLM
  tokenizer), ``sublinear_tf`` and L2 norm (scikit-learn's ``TfidfTransformer``). Word
  pieces rather than words so the very same counting runs in the ONNX bundle from the
  bundle's ``tokenizer.json`` (:class:`~workbench.core.training.methods.modules.TfidfHead`).
* Embeddings: the base encoder's mean-pooled, L2-normalised token vectors (the bundled
  MiniLM is a sentence encoder trained for exactly this), computed once per record.

The head is scikit-learn's ``LogisticRegression`` (multinomial for single-label, one
binary model per label for multi-label), with balanced class weights; its coefficients
become the linear layer of the exported graph, so softmax/sigmoid of the bundle's logits
equal scikit-learn's ``predict_proba``.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from workbench.core.errors import Cancelled

__all__ = [
    "TFIDF_C", "EMBED_C", "token_ids", "TfidfFeaturizer", "fit_logistic", "logits_of",
    "probs_of", "embed_texts",
]

#: Inverse regularisation strength of the head. L2-normalised TF-IDF vectors are sparse and
#: long: a weak penalty (C=10) is the usual choice; normalised sentence embeddings are dense
#: and short: scikit-learn's default C=1 (SetFit's head uses the same).
TFIDF_C = 10.0
EMBED_C = 1.0
#: Multi-label: a label that is always (never) present in the training data gets this
#: constant logit instead of a fitted model.
CONSTANT_LOGIT = 6.0


def token_ids(tokenizer: Any, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Word-piece ids of ``texts`` as the bundle tokenizes them (with special tokens)."""
    return tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]


class TfidfFeaturizer:
    """Counts of word-piece ids (special tokens left out) -> TF-IDF (scikit-learn)."""

    def __init__(self, vocab_size: int, special_ids: Sequence[int]) -> None:
        from sklearn.feature_extraction.text import TfidfTransformer

        self.vocab_size = int(vocab_size)
        self.special = sorted({int(i) for i in special_ids if 0 <= int(i) < vocab_size})
        self.transformer = TfidfTransformer(sublinear_tf=True, smooth_idf=True, norm="l2")

    def counts(self, ids: Sequence[Sequence[int]]) -> Any:
        from scipy.sparse import csr_matrix

        rows, cols = [], []
        for r, seq in enumerate(ids):
            rows.extend([r] * len(seq))
            cols.extend(seq)
        data = np.ones(len(cols), dtype=np.float64)
        m = csr_matrix((data, (rows, cols)), shape=(len(ids), self.vocab_size))
        m.sum_duplicates()
        if self.special:
            from scipy.sparse import diags

            keep = np.ones(self.vocab_size)
            keep[self.special] = 0.0
            m = (m @ diags(keep)).tocsr()
            m.eliminate_zeros()
        return m

    def fit_transform(self, ids: Sequence[Sequence[int]]) -> Any:
        return self.transformer.fit_transform(self.counts(ids))

    def transform(self, ids: Sequence[Sequence[int]]) -> Any:
        return self.transformer.transform(self.counts(ids))

    def idf(self) -> np.ndarray:
        """The IDF vector as the exported graph uses it (0 for special tokens)."""
        idf = np.asarray(self.transformer.idf_, dtype=np.float32).copy()
        idf[self.special] = 0.0
        return idf


def fit_logistic(x: Any, y: np.ndarray, *, multi_label: bool, n_labels: int, c: float,
                 balanced: bool = True, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(weight [labels x features], bias [labels]) of a logistic-regression head.

    ``y`` holds class indices (single-label) or a 0/1 matrix (multi-label). Labels absent
    from ``y`` (single-label) get a very low bias, so they are never predicted.
    """
    from sklearn.linear_model import LogisticRegression

    dim = x.shape[1]
    weight = np.zeros((n_labels, dim), dtype=np.float32)
    bias = np.zeros(n_labels, dtype=np.float32)
    cw = "balanced" if balanced else None
    if multi_label:
        for j in range(n_labels):
            col = np.asarray(y[:, j]).astype(int)
            if col.min() == col.max():
                bias[j] = CONSTANT_LOGIT if col[0] else -CONSTANT_LOGIT
                continue
            clf = LogisticRegression(C=c, max_iter=2000, class_weight=cw, random_state=seed)
            clf.fit(x, col)
            weight[j] = clf.coef_[0]
            bias[j] = clf.intercept_[0]
        return weight, bias
    present = np.unique(y)
    bias[:] = -1e4 if len(present) < n_labels else 0.0
    clf = LogisticRegression(C=c, max_iter=2000, class_weight=cw, random_state=seed)
    clf.fit(x, y)
    if len(clf.classes_) == 2:  # one coefficient row: softmax([-z/2, z/2]) = sigmoid(z)
        rows = np.vstack([-clf.coef_[0] / 2, clf.coef_[0] / 2])
        ints = np.array([-clf.intercept_[0] / 2, clf.intercept_[0] / 2])
    else:
        rows, ints = clf.coef_, clf.intercept_
    for k, cls in enumerate(clf.classes_):
        weight[int(cls)] = rows[k]
        bias[int(cls)] = ints[k]
    return weight, bias


def logits_of(x: Any, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    return np.asarray(x @ weight.T) + bias


def probs_of(logits: np.ndarray, multi_label: bool) -> np.ndarray:
    """Sigmoid (multi-label) or softmax (single-label) of logits."""
    if multi_label:
        return 1.0 / (1.0 + np.exp(-logits))
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def embed_texts(model: Any, tokenizer: Any, texts: Sequence[str], *, max_length: int,
                batch_size: int = 32, should_stop: Callable[[], bool] | None = None,
                on_batch: Callable[[int], None] | None = None) -> np.ndarray:
    """Mean-pooled, normalised embeddings of ``texts`` from an
    :class:`~workbench.core.training.methods.modules.EncoderHead` (batches sorted by length,
    dynamic padding; inference mode)."""
    import torch

    ids = token_ids(tokenizer, texts, max_length)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    dim = int(model.config.hidden_size)
    out = np.zeros((len(ids), dim), dtype=np.float32)
    pad = tokenizer.pad_token_id or 0
    was = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                if should_stop is not None and should_stop():
                    raise Cancelled("Stopped while computing embeddings.")
                idx = order[start:start + batch_size]
                width = max(len(ids[i]) for i in idx)
                t = torch.full((len(idx), width), pad, dtype=torch.long)
                m = torch.zeros((len(idx), width), dtype=torch.long)
                for row, i in enumerate(idx):
                    t[row, :len(ids[i])] = torch.tensor(ids[i])
                    m[row, :len(ids[i])] = 1
                out[idx] = model.embed(t, m).float().numpy()
                if on_batch is not None:
                    on_batch(len(idx))
    finally:
        model.train(was)
    return out
