"""The label-error review and the diverse queue read the bundled sentence encoder's
embeddings (cached per text), fall back to TF-IDF when the encoder cannot be loaded, and
say which features they used."""
from __future__ import annotations

import json

import numpy as np
import pytest

from workbench.core.assist import active_learning as al
from workbench.core.assist import embeddings as emb
from workbench.core.assist.review import find_label_issues
from workbench.core.assist.review_features import review_probs
from workbench.core.assist.suggestions import META_RUN, store_predictions
from workbench.core.data.importer import add_texts, import_rows
from workbench.core.errors import Cancelled
from workbench.core.store.project import Project, now_iso

DELIVERY = ["my parcel is late again", "the courier never came to my house",
            "package still not delivered after ten days", "where is my shipment",
            "tracking shows no movement for a week", "the box arrived crushed and wet",
            "delivery driver left it at the wrong address", "order stuck at the depot"]
LOGIN = ["I cannot sign in to the app", "password reset email never arrives",
         "my account is locked after three tries", "the two-factor code is rejected",
         "login page keeps failing with an error", "forgot my username and password",
         "it says my credentials are wrong", "signing in loops back to the start page"]


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    yield


def _labelled(tmp_path, flip=("D3", "L5")):
    project = Project.create(tmp_path / "e.wbproj", ["delivery", "login"])
    rows = []
    for prefix, texts, label, other in (("D", DELIVERY, "delivery", "login"), ("L", LOGIN, "login", "delivery")):
        for i, text in enumerate(texts * 2):  # twice, with a suffix: 16 per label
            rid = f"{prefix}{i}"
            rows.append({"id": rid, "text": f"{text} (ticket {i})", "label": other if rid in flip else label})
    import_rows(project, rows, text_col="text", id_col="id", label_col="label", source="test")
    return project


def test_review_uses_embeddings_and_tfidf_and_says_so(tmp_path):
    project = _labelled(tmp_path)
    try:
        issues = find_label_issues(project)
        by_ext = {x.external_id: x for x in issues}
        assert {"D3", "L5"} <= set(by_ext)
        assert {issues[0].external_id, issues[1].external_id} == {"D3", "L5"}
        assert all(x.features == "combined" for x in issues)
        assert "sentence-encoder embeddings and TF-IDF" in by_ext["D3"].reason
        assert by_ext["D3"].suggested_label == "delivery"
        assert by_ext["D3"].to_dict()["features"] == "combined"
        # The per-text cache is on disk beside the project; a rerun embeds nothing new.
        cache = emb.cache_folder(project.models_dir)
        assert list(cache.glob("*.npz"))
        texts = [r.text for r in project.get_records(list(range(1, 33)))]
        counted = []
        again = emb.text_embeddings(texts, folder=cache, on_batch=lambda d, t: counted.append(d))
        assert counted == [] and again.shape == (32, 384)
        assert np.allclose(np.linalg.norm(again, axis=1), 1.0, atol=1e-4)
    finally:
        project.close()


def test_review_falls_back_to_tfidf_when_the_encoder_cannot_be_loaded(tmp_path):
    project = _labelled(tmp_path)
    try:
        issues = find_label_issues(project, base_model=str(tmp_path / "no-such-model"))
        assert issues and all(x.features == "tfidf" for x in issues)
        assert "TF-IDF word features" in issues[0].reason
        assert emb.encoder_problem(str(tmp_path / "no-such-model"))
    finally:
        project.close()


def test_review_features_refuse_unknown_choices_and_cancel():
    y = np.array([0, 1] * 6)
    with pytest.raises(ValueError, match="features must be one of"):
        review_probs(["a"] * 12, y, choice="bert")
    with pytest.raises(Cancelled):
        review_probs([f"text {i}" for i in range(12)], y, choice="tfidf", should_stop=lambda: True)


def test_diverse_queue_groups_by_embeddings(tmp_path):
    project = Project.create(tmp_path / "d.wbproj", ["delivery", "login"])
    try:
        ids = add_texts(project, DELIVERY + LOGIN)
        now = now_iso()
        project.db.execute(
            "INSERT INTO runs(id, kind, status, created_at, config, model_path) "
            "VALUES (1, 'train', 'completed', ?, ?, 'd.models/run-1')",
            [now, json.dumps({"labels": ["delivery", "login"]})])
        store_predictions(project, 1, ids, ["delivery", "login"], np.full((len(ids), 2), 0.5))
        project.set_meta(META_RUN, "1")
        strategy = al.Diverse()
        strategy.batch = 2
        picks = strategy.next_ids(project, "tester", 2)
        assert strategy.features_used == "embeddings"
        topics = {"delivery" if ids.index(p) < len(DELIVERY) else "login" for p in picks}
        assert topics == {"delivery", "login"}, picks
        tfidf = al.Diverse()
        tfidf.features = "tfidf"
        assert len(tfidf.next_ids(project, "tester", 4)) == 4 and tfidf.features_used == "tfidf"
    finally:
        project.close()
