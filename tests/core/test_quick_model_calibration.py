"""The quick TF-IDF model (cold-start suggestions, Review's cross-validated model) shows
temperature-scaled confidence."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest

from workbench.core.assist import textmodel
from workbench.core.assist.suggestions import coldstart_predict, load_predictions
from workbench.core.data.importer import add_texts
from workbench.core.store.project import Project
from workbench.core.training.calibration import (
    apply_temperature,
    fit_temperature,
    logits_from_probs,
)

WORDS = {
    "billing": ["refund", "charge", "card", "payment", "invoice", "bill"],
    "delivery": ["parcel", "courier", "late", "shipping", "arrived", "tracking"],
    "account": ["password", "login", "email", "reset", "profile", "username"],
}
FILLER = "the a my is was it this please help very not can".split()


def _texts(n_per_label: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    rng = random.Random(seed)
    texts, y = [], []
    for j, words in enumerate(WORDS.values()):
        for i in range(n_per_label):
            # Some texts borrow a word of another label: the model cannot be sure of all.
            other = list(WORDS.values())[(j + 1) % 3]
            picked = rng.sample(words, 2) + rng.sample(other, 1 if i % 3 == 0 else 0) + rng.sample(FILLER, 4)
            rng.shuffle(picked)
            texts.append(" ".join(picked))
            y.append(j)
    return texts, np.array(y)


def test_calibrated_fit_predict_fits_t_on_out_of_fold_predictions():
    texts, y = _texts(15)
    features = textmodel.tfidf_features(texts)
    train, rest = np.arange(0, len(y), 1), np.arange(len(y))
    probs, t = textmodel.calibrated_fit_predict(features, y, train, rest)
    raw = textmodel.fit_predict_linear(features, y, train, rest)
    assert t != pytest.approx(1.0, abs=0.05)
    np.testing.assert_allclose(probs, apply_temperature(logits_from_probs(raw, False), t, False), atol=1e-9)
    assert (probs.argmax(1) == raw.argmax(1)).all()  # the same suggestions, other percentages
    # T is the one fitted on two-fold out-of-fold predictions (not on the model's own rows).
    from sklearn.model_selection import StratifiedKFold

    oof = np.zeros_like(raw)
    for a, b in StratifiedKFold(n_splits=2, shuffle=True, random_state=0).split(train, y):
        oof[b] = textmodel.fit_predict_linear(features, y, train[a], train[b])
    assert t == pytest.approx(fit_temperature(logits_from_probs(oof, False), y))
    # Too few rows, or a label seen once: shown as they are.
    few = np.arange(12)
    assert textmodel.calibrated_fit_predict(features, y, few, rest)[1] == 1.0


def test_coldstart_suggestions_are_temperature_scaled(tmp_path):
    texts, y = _texts(12)
    labels = list(WORDS)
    path = tmp_path / "quick.wbproj"
    with Project.create(path, labels) as project:
        ids = add_texts(project, texts + ["my card was charged twice", "where is my parcel"])
        for rid, j in zip(ids, y, strict=False):
            project.annotate(rid, [labels[j]])
        run_id = coldstart_predict(project)
        metrics = json.loads(project.db.execute("SELECT metrics FROM runs WHERE id = ?", [run_id]).fetchone()[0])
        t = metrics["temperature"]
        assert t != pytest.approx(1.0, abs=0.05)
        stored = load_predictions(project, run_id, ids[-2:])
        features = textmodel.tfidf_features(texts + ["my card was charged twice", "where is my parcel"])
        raw = textmodel.fit_predict_linear(features, y, np.arange(len(y)), np.arange(len(y), len(y) + 2))
        expected = apply_temperature(logits_from_probs(raw, False), t, False)
        assert list(stored.ids) == ids[-2:]
        got = stored.probs
        np.testing.assert_allclose(got, expected, atol=1e-5)
