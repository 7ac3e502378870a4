"""Queue strategies: pure uncertainty scores and their order over stored predictions."""
from __future__ import annotations

import json

import numpy as np
import pytest

from workbench.core.assist import active_learning as al
from workbench.core.assist.suggestions import META_RUN, store_predictions
from workbench.core.data.importer import add_texts
from workbench.core.store.project import Project, now_iso

# Rows: confident, tie between two, spread over three, fairly sure, near-uniform.
PROBS = np.array(
    [
        [0.98, 0.01, 0.01],
        [0.50, 0.49, 0.01],
        [0.40, 0.35, 0.25],
        [0.70, 0.20, 0.10],
        [0.34, 0.33, 0.33],
    ]
)


def test_least_confidence_scores():
    assert np.allclose(al.least_confidence_scores(PROBS), [0.02, 0.50, 0.60, 0.30, 0.66])


def test_margin_scores_prefer_ties():
    scores = al.margin_scores(PROBS)
    assert np.allclose(scores, [1 - 0.97, 1 - 0.01, 1 - 0.05, 1 - 0.5, 1 - 0.01])
    assert al.rank_by_score(scores, [10, 11, 12, 13, 14]) == [11, 14, 12, 13, 10]


def test_entropy_scores_order():
    order = al.rank_by_score(al.entropy_scores(PROBS), [1, 2, 3, 4, 5])
    assert order == [5, 3, 4, 2, 1]


def test_rank_ties_keep_id_order():
    assert al.rank_by_score(np.array([0.5, 0.5, 0.9]), [7, 3, 5]) == [5, 3, 7]


def test_multilabel_closeness_and_scores():
    probs = np.array([[0.5, 0.99], [0.9, 0.1], [0.3, 0.6]])
    closeness = al.multilabel_closeness(probs, 0.5)
    assert np.allclose(closeness, [[1.0, 0.02], [0.2, 0.2], [0.6, 0.8]])
    assert np.allclose(al.multilabel_scores(probs, 0.5), [0.51, 0.2, 0.7])
    assert np.allclose(al.multilabel_scores(probs, 0.5, "margin"), [1.0, 0.2, 0.8])
    ent = al.multilabel_scores(probs, 0.5, "entropy")
    assert ent[2] > ent[0] > ent[1]
    # A threshold of 0.2 makes 0.3 far less uncertain than at 0.5.
    shifted = al.multilabel_closeness(np.array([[0.3]]), np.array([0.2]))
    assert shifted[0, 0] == pytest.approx(1 - 0.1 / 0.8)


def test_stable_random_keys_do_not_depend_on_other_ids():
    a = al.stable_random_keys([1, 2, 3, 4, 5], seed=3)
    b = al.stable_random_keys([2, 4], seed=3)
    assert a[1] == b[0] and a[3] == b[1]
    assert not np.array_equal(al.stable_random_keys([1, 2, 3], 1), al.stable_random_keys([1, 2, 3], 2))


def test_diverse_select_spreads_over_clusters():
    # Two tight groups; the four most uncertain rows all sit in group A.
    rng = np.random.default_rng(0)
    group_a = rng.normal(0, 0.01, size=(6, 2))
    group_b = rng.normal(5, 0.01, size=(6, 2))
    features = np.vstack([group_a, group_b])
    uncertainty = np.array([0.9, 0.89, 0.88, 0.87, 0.1, 0.1, 0.5, 0.4, 0.3, 0.2, 0.1, 0.1])
    picks = al.diverse_select(uncertainty, features, 2, pool_factor=6)
    assert picks == [0, 6]
    # Plain uncertainty would have taken two near-copies from group A.
    assert list(np.argsort(-uncertainty)[:2]) == [0, 1]


def test_diverse_select_small_inputs():
    assert al.diverse_select(np.array([]), np.zeros((0, 2)), 3) == []
    assert al.diverse_select(np.array([0.1, 0.9]), np.eye(2), 5) == [1, 0]


@pytest.fixture
def predicted(tmp_path):
    """Five unlabelled records with known stored probabilities (run 1), plus one without."""
    project = Project.create(tmp_path / "al.wbproj", ["a", "b", "c"])
    ids = add_texts(project, [f"text number {i} about things" for i in range(6)])
    now = now_iso()
    project.db.execute(
        "INSERT INTO runs(id, kind, status, created_at, config, model_path) "
        "VALUES (1, 'train', 'completed', ?, ?, 'al.models/run-1')",
        [now, json.dumps({"labels": ["a", "b", "c"]})],
    )
    store_predictions(project, 1, ids[:5], ["a", "b", "c"], PROBS)
    project.set_meta(META_RUN, "1")
    yield project, ids
    project.close()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("least-confidence", [4, 2, 1, 3, 0, 5]),
        ("margin", [1, 4, 2, 3, 0, 5]),
        ("entropy", [4, 2, 3, 1, 0, 5]),
    ],
)
def test_uncertainty_strategy_order(predicted, name, expected):
    project, ids = predicted
    strategy = al.STRATEGIES[name]()
    assert strategy.name == name
    assert strategy.next_ids(project, "tester", 10) == [ids[i] for i in expected]
    assert strategy.next_ids(project, "tester", 2) == [ids[i] for i in expected[:2]]
    # Excluded and already annotated records are left out.
    project.annotate(ids[expected[0]], ["a"], annotator="tester")
    got = strategy.next_ids(project, "tester", 10, exclude=[ids[expected[1]]])
    assert got == [ids[i] for i in expected[2:]]
    # Another annotator still sees the record "tester" labelled.
    assert ids[expected[0]] in strategy.next_ids(project, "other", 10)


def test_random_strategy_is_seeded_and_stable(predicted):
    project, ids = predicted
    first = al.RandomStrategy(seed=1).next_ids(project, "tester", 10)
    assert sorted(first) == sorted(ids)
    assert al.RandomStrategy(seed=1).next_ids(project, "tester", 10) == first
    assert al.RandomStrategy(seed=2).next_ids(project, "tester", 10) != first
    project.annotate(first[0], ["b"], annotator="tester")
    assert al.RandomStrategy(seed=1).next_ids(project, "tester", 10) == first[1:]


def test_diverse_strategy_returns_every_candidate_once(predicted):
    project, ids = predicted
    got = al.STRATEGIES["diverse"]().next_ids(project, "tester", 10)
    assert sorted(got) == sorted(ids)
    assert got[-1] == ids[5]  # the record without a prediction comes last
    assert al.STRATEGIES["diverse"]().next_ids(project, "tester", 3) == got[:3]


def test_strategies_without_any_model_fall_back_to_import_order(tmp_path):
    project = Project.create(tmp_path / "empty.wbproj", ["a", "b"])
    ids = add_texts(project, ["one", "two", "three"])
    for name in ("least-confidence", "margin", "entropy", "diverse"):
        assert al.STRATEGIES[name]().next_ids(project, "tester", 10) == ids
    project.close()


def test_queue_registry_lists_the_strategies():
    from workbench.core.assist.navigation import available_strategies, get_strategy

    names = available_strategies()
    for name in ("random", "least-confidence", "margin", "entropy", "diverse"):
        assert name in names
        assert get_strategy(name).name == name


def test_ranking_follows_refreshed_predictions(predicted):
    project, ids = predicted
    strategy = al.STRATEGIES["least-confidence"]()
    assert strategy.next_ids(project, "tester", 1) == [ids[4]]
    # The same run is refreshed: record 0 is now the least confident one.
    store_predictions(project, 1, [ids[0]], ["a", "b", "c"], np.array([[0.34, 0.33, 0.33]]))
    store_predictions(project, 1, [ids[4]], ["a", "b", "c"], np.array([[0.9, 0.05, 0.05]]))
    assert strategy.next_ids(project, "tester", 2) == [ids[0], ids[2]]
    # A record imported after the refresh has no prediction: it comes after the ranked ones.
    new = add_texts(project, ["a brand new text"])
    assert strategy.next_ids(project, "tester", 10)[-2:] == [ids[5], new[0]]
