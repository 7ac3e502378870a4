"""Training building blocks: settings, split assignment, batching and metrics."""
from __future__ import annotations

from collections import Counter

import pytest

from workbench.core.errors import WorkbenchError
from workbench.core.training import TrainConfig
from workbench.core.training.batching import (
    auto_epochs,
    auto_learning_rate,
    choose_max_length,
    collate,
    length_grouped_batches,
)
from workbench.core.training.data import assign_splits
from workbench.core.training.evaluate import compute_metrics, tune_thresholds


def test_config_round_trip_help_and_validation():
    cfg = TrainConfig(epochs=4, learning_rate=2e-5, class_weighting="none")
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert TrainConfig.from_dict({"epochs": "3", "reshuffle_split": "yes"}).epochs == 3
    assert "bundled" in TrainConfig.help("base_model")
    import dataclasses

    assert all(f.metadata.get("help") for f in dataclasses.fields(TrainConfig))
    with pytest.raises(WorkbenchError, match="Unknown training setting.*colour"):
        TrainConfig.from_dict({"colour": "red"})
    with pytest.raises(WorkbenchError, match="batch size"):
        TrainConfig(batch_size=0)
    with pytest.raises(WorkbenchError, match="class weighting"):
        TrainConfig(class_weighting="sometimes")
    with pytest.raises(WorkbenchError, match="Invalid value 'many' for training setting epochs"):
        TrainConfig.from_dict({"epochs": "many"})


def _examples(counts: dict[str, int]) -> list[tuple[int, tuple[str, ...], str]]:
    out, rid = [], 0
    for label, n in counts.items():
        for _ in range(n):
            rid += 1
            out.append((rid, (label,), "unassigned"))
    return out


def test_split_is_stratified_seeded_and_keeps_training_examples():
    ex = _examples({"a": 100, "b": 20, "c": 3, "d": 1})
    s1 = assign_splits(ex, validation_fraction=0.15, test_fraction=0.15, seed=1)
    assert s1 == assign_splits(ex, validation_fraction=0.15, test_fraction=0.15, seed=1)
    by = Counter((lab[0], s1[rid]) for rid, lab, _s in ex)
    assert by[("a", "test")] == 15 and by[("a", "validation")] == 15 and by[("a", "train")] == 70
    assert by[("b", "test")] == 3 and by[("b", "validation")] == 3
    assert by[("c", "train")] == by[("c", "validation")] == by[("c", "test")] == 1
    assert by[("d", "train")] == 1
    s2 = assign_splits(ex, validation_fraction=0.15, test_fraction=0.15, seed=2)
    assert s1 != s2


def test_split_keeps_stored_assignment_and_fills_deficits():
    ex = [(rid, lab, "train") for rid, lab, _s in _examples({"a": 20})]
    ex += [(100 + i, ("a",), "unassigned") for i in range(10)]
    s = assign_splits(ex, validation_fraction=0.2, test_fraction=0.2, seed=0)
    assert all(s[rid] == "train" for rid in range(1, 21))
    new = Counter(s[100 + i] for i in range(10))
    assert new == {"test": 6, "validation": 4}
    again = assign_splits(ex, validation_fraction=0.2, test_fraction=0.2, seed=0, reshuffle=True)
    assert Counter(again.values()) == {"train": 18, "test": 6, "validation": 6}


def test_length_grouped_batches_cover_every_index_once_and_group_lengths():
    lengths = [(i * 37) % 200 + 5 for i in range(1000)]
    batches = length_grouped_batches(lengths, 16, seed=3)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(1000))
    assert all(len(b) <= 16 for b in batches)
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches)
    assert spread / len(batches) < 10  # neighbours in length, not random mixes
    assert length_grouped_batches(lengths, 16, seed=3) == batches
    shards = [length_grouped_batches(lengths, 16, seed=3, world_size=3, rank=r) for r in range(3)]
    assert len({len(s) for s in shards}) == 1
    assert not set(map(tuple, shards[0])) & set(map(tuple, shards[1]))


def test_collate_pads_to_the_longest_in_batch():
    enc = [[1, 2, 3], [4], [5, 6, 7, 8, 9]]
    ids, mask = collate(enc, [0, 1], pad_id=0)
    assert ids.tolist() == [[1, 2, 3], [4, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    ids, _ = collate(enc, [2], pad_id=0, multiple_of=8)
    assert ids.shape == (1, 8)


def test_automatic_settings():
    assert auto_learning_rate("small") > auto_learning_rate("base") > auto_learning_rate("large")
    assert auto_epochs(200, 16) > auto_epochs(5000, 16) >= 3
    assert auto_epochs(200_000, 16) == 2
    short = [12] * 95 + [40] * 5
    assert choose_max_length(short, 256, 512) == 48
    assert choose_max_length([300] * 10, 256, 512) == 256
    assert choose_max_length([300] * 10, 256, 128) == 128
    # By default long texts are cut at 128 tokens; a larger setting lets them through.
    assert choose_max_length([300] * 10, TrainConfig().max_length, 512) == 128
    assert choose_max_length([180] * 10, 256, 512) == 192


def test_metrics_single_and_multi_label():
    m = compute_metrics([0, 0, 1, 2], [0, 1, 1, 1], ["a", "b", "c"], multi_label=False)
    assert m["accuracy"] == 0.5
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]
    assert m["per_label"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.5 + 0) / 3)
    y = [[1, 0], [1, 1], [0, 1]]
    p = [[1, 0], [1, 0], [0, 1]]
    m = compute_metrics(y, p, ["a", "b"], multi_label=True)
    assert m["subset_accuracy"] == pytest.approx(2 / 3)
    assert m["confusion_matrix"][1] == [[1, 0], [1, 1]]
    assert m["micro_f1"] == pytest.approx(2 * 3 / (2 * 3 + 1))


def test_thresholds_are_tuned_per_label():
    probs = [[0.3, 0.9], [0.25, 0.8], [0.1, 0.2], [0.05, 0.6]]
    y = [[1, 1], [1, 1], [0, 0], [0, 0]]
    t = tune_thresholds(probs, y)
    assert 0.1 < t[0] <= 0.25 and 0.6 < t[1] <= 0.8
    assert tune_thresholds([[0.2], [0.3]], [[0], [0]]) == [0.5]
