"""Automatic settings and length-grouped, dynamically padded batches.

Sorting texts by length inside shuffled "mega-batches" keeps the padding per batch small
(a batch is only as wide as its longest text) while the order stays random enough for
training; padding everything to the maximum length wastes most of the compute on short
texts.
"""
from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

__all__ = [
    "MEGA_BATCH",
    "auto_learning_rate",
    "auto_epochs",
    "choose_max_length",
    "length_grouped_batches",
    "collate",
]

#: Batches per mega-batch inside which texts are sorted by length.
MEGA_BATCH = 50
#: Optimizer steps the automatic epoch count aims for on small data sets.
TARGET_STEPS = 300


def auto_learning_rate(size_class: str) -> float:
    """Learning rate by model size: small models with little data need a larger step
    (at 5e-5 a MiniLM collapsed to the majority class on a few hundred imbalanced texts)."""
    return {"small": 1e-4, "base": 5e-5}.get(size_class, 2e-5)


def auto_epochs(n_train: int, batch_size: int) -> int:
    """Enough epochs for about :data:`TARGET_STEPS` steps on small data (3-20), fewer on
    large data (at least 2); early stopping ends the run sooner when it stops improving."""
    steps_per_epoch = max(1, math.ceil(n_train / batch_size))
    wanted = math.ceil(TARGET_STEPS / steps_per_epoch)
    low = 2 if n_train > 20_000 else 3
    return max(low, min(20, wanted))


def choose_max_length(lengths: Sequence[int], cap: int, model_max: int) -> int:
    """Token limit: the 99th percentile of the texts' lengths rounded up to 16, within
    ``cap`` (the user's setting) and the model's position limit."""
    limit = max(8, min(cap, model_max))
    if not lengths:
        return limit
    ordered = sorted(lengths)
    p99 = ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]
    return max(min(16, limit), min(limit, int(math.ceil(p99 / 16) * 16)))


def length_grouped_batches(
    lengths: Sequence[int],
    batch_size: int,
    seed: int,
    *,
    world_size: int = 1,
    rank: int = 0,
) -> list[list[int]]:
    """Index batches for one epoch: shuffled, sorted by length within mega-batches, the
    batch order shuffled again. With several processes each gets every ``world_size``-th
    batch (the same count each, as data-parallel training needs)."""
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    mega = batch_size * MEGA_BATCH
    batches: list[list[int]] = []
    for start in range(0, len(order), mega):
        chunk = sorted(order[start : start + mega], key=lambda i: lengths[i], reverse=True)
        batches.extend(chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    if world_size > 1:
        usable = (len(batches) // world_size) * world_size or world_size
        while len(batches) < usable:  # fewer batches than processes: repeat some
            batches.append(batches[len(batches) % max(1, len(batches))])
        batches = batches[:usable][rank::world_size]
    return batches


def collate(
    encoded: Sequence[Sequence[int]], idx: Sequence[int], pad_id: int, *, multiple_of: int = 1
) -> tuple[Any, Any]:
    """(input_ids, attention_mask) tensors for ``idx``, padded to the batch's longest text."""
    import torch

    width = max(len(encoded[i]) for i in idx)
    if multiple_of > 1:
        width = int(math.ceil(width / multiple_of) * multiple_of)
    ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(idx), width), dtype=torch.long)
    for row, i in enumerate(idx):
        seq = encoded[i]
        ids[row, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids, mask
