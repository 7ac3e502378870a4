"""SetFit-style few-shot training: contrastive tuning of the sentence encoder, then a
logistic-regression head on its embeddings.

Written with torch and transformers directly rather than the ``setfit`` library: that
library (1.2.0) would add 17 packages here (``datasets``, ``evaluate``, ``aiohttp``,
``accelerate``, ...), runs its own Trainer (no per-step cancel, no thread control, its
own progress bars) and its pair sampling is a few lines. The recipe is SetFit's: pairs of
records with the same label (target cosine 1) and different labels (target 0),
``CosineSimilarityLoss`` (mean squared error of the cosine), one pass, then
the head. Multi-label: records sharing a label are a positive pair.

Early stopping: with validation records (data sets with a stored split) the encoder is
checked every :data:`EVAL_EVERY_FRACTION` of the steps (a head fitted on the training
embeddings, macro-F1 on validation); the best encoder is kept and training stops after
``patience`` checks without improvement. On small data sets (cross-validation, no
validation split) the number of steps is fixed by :func:`plan_pairs`.
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["SetFitResult", "plan_pairs", "make_pairs", "train_setfit_encoder", "LEARNING_RATE",
           "PAIR_TOKENS", "DELIVERED_PAIR_TOKENS", "DELIVERED_MIN_RECORDS",
           "DELIVERED_LEARNING_RATE", "EVERY_LAYER_STEP_COST", "every_layer"]

#: SetFit uses 2e-5 over ~20 pairs per record and every layer; with the pair budget capped
#: (often 6x fewer steps) and only the upper half trained, 2e-5 barely moved the encoder.
LEARNING_RATE = 1e-4
#: SetFit's recipe: 20 positive + 20 negative pairs per record...
ITERATIONS = 20
#: ...but at most this many pairs x tokens per text in a run: a step's cost grows with the
#: tokens, so this caps a model's training time whatever the record length (about 4,000
#: pairs, 250 steps, for texts of 16 tokens: 25-30 s of MiniLM on one core of this 2-core
#: CPU with the lower half cached; 500 pairs for texts of 128). An earlier fixed cap of 320
#: pairs (20 steps; set when every layer was trained and a step took 2-13 s) left the
#: encoder far from converged: on the generated reviews at 32 labels per class, test
#: macro-F1 0.47 with 320 pairs, 0.90 with 1,920 and 0.98 with 3,840 (seed 0; the setfit
#: library's defaults, 6,144 pairs: 1.00).
PAIR_TOKENS = 64_000
#: The delivered model's cap from :data:`DELIVERED_MIN_RECORDS` labelled records, where it
#: also trains every layer (its folds keep :data:`PAIR_TOKENS` and the cached upper half:
#: they only rank the candidates; the delivered model is the one that is used). Topics at
#: 64 labels per class (384 records of about 16 tokens, trained on every label), seed 1,
#: test macro-F1: the upper half at :data:`LEARNING_RATE` 0.683 (15,360 pairs); every
#: layer at 5e-5 0.699 with 4,000 pairs, 0.713 with 8,000 and 0.713 with 15,360 (0.712 at
#: 2e-5); the setfit library's defaults (every layer, 122,880 pairs, 80 minutes on one
#: core) 0.717.
DELIVERED_PAIR_TOKENS = 2 * PAIR_TOKENS
#: Below this many labelled records the delivered model is trained like a fold: at 192
#: records (32 per class) a larger cap for the cached upper half (7,680 pairs instead of
#: 4,000) lost on both data sets of ``benchmarks/few_labels.py`` over three seeds (topics
#: 0.663 against 0.670, reviews 0.991 against 0.999).
DELIVERED_MIN_RECORDS = 300
#: The delivered model's learning rate when it trains every layer (see above).
DELIVERED_LEARNING_RATE = 5e-5
#: A step through every layer costs about this many times a fold's step, counted as the
#: fold's whole processor time (which also builds the cache, embeds the records and fits
#: the head) over its steps: topics at 64 per class on one thread, the delivered model's
#: 520 steps 290 s against 63 s for a fold's 250 (the training steps alone: 547 s against
#: 190 s for the same 960 steps, 2.9).
EVERY_LAYER_STEP_COST = 2.3
#: The cap never goes below this many pairs (very long texts).
MIN_PAIRS_CAP = 320
#: Mean tokens per text assumed when they are not known.
DEFAULT_TOKENS = 32
EVAL_EVERY_FRACTION = 0.25


@dataclass
class SetFitResult:
    state: dict[str, Any] | None
    steps: int
    samples: int
    train_s: float
    cancelled: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)
    best_score: float | None = None
    cached: bool = False


def plan_pairs(n_records: int, mean_tokens: float | None = None, *, delivered: bool = False) -> int:
    """How many pairs to train on for ``n_records`` labelled records of ``mean_tokens``
    tokens on average: SetFit's recipe, capped by :data:`PAIR_TOKENS` (a fold) or
    :data:`DELIVERED_PAIR_TOKENS` (the delivered model, from :data:`DELIVERED_MIN_RECORDS`)."""
    budget = DELIVERED_PAIR_TOKENS if every_layer(n_records, delivered) else PAIR_TOKENS
    cap = max(MIN_PAIRS_CAP, int(budget / max(1.0, float(mean_tokens or DEFAULT_TOKENS))))
    return int(min(cap, max(64, 2 * ITERATIONS * n_records)))


def every_layer(n_records: int, delivered: bool) -> bool:
    """Whether a model trained on ``n_records`` trains every layer (the delivered model
    from :data:`DELIVERED_MIN_RECORDS`) instead of the upper half from the cache."""
    return bool(delivered and n_records >= DELIVERED_MIN_RECORDS)


def _groups(y: np.ndarray, multi_label: bool) -> list[set[int]]:
    if multi_label:
        return [set(np.flatnonzero(row).tolist()) for row in y]
    return [{int(v)} for v in y]


def make_pairs(y: np.ndarray, multi_label: bool, n_pairs: int, seed: int) -> list[tuple[int, int, float]]:
    """Alternating positive and negative (i, j, target) pairs, SetFit's sampling."""
    rng = random.Random(seed)
    groups = _groups(y, multi_label)
    n = len(groups)
    by_label: dict[int, list[int]] = {}
    for i, g in enumerate(groups):
        for lab in g:
            by_label.setdefault(lab, []).append(i)
    pairs: list[tuple[int, int, float]] = []
    order = list(range(n))
    while len(pairs) < n_pairs:
        rng.shuffle(order)
        for i in order:
            if len(pairs) >= n_pairs:
                break
            if groups[i]:
                lab = rng.choice(sorted(groups[i]))
                same = [j for j in by_label[lab] if j != i]
                if same:
                    pairs.append((i, rng.choice(same), 1.0))
            others = [j for j in range(n) if not (groups[j] & groups[i]) and j != i]
            if others:
                pairs.append((i, rng.choice(others), 0.0))
        if not pairs:  # every record shares a label with every other: nothing to contrast
            break
    return pairs[:n_pairs]


def _batch(ids: list[list[int]], idx: Sequence[int], pad: int) -> tuple[Any, Any]:
    import torch

    width = max(len(ids[i]) for i in idx)
    t = torch.full((len(idx), width), pad, dtype=torch.long)
    m = torch.zeros((len(idx), width), dtype=torch.long)
    for row, i in enumerate(idx):
        t[row, :len(ids[i])] = torch.tensor(ids[i])
        m[row, :len(ids[i])] = 1
    return t, m


def train_setfit_encoder(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    y: np.ndarray,
    *,
    multi_label: bool,
    max_length: int,
    seed: int,
    batch_size: int = 16,
    n_pairs: int | None = None,
    delivered: bool = False,
    evaluate: Callable[[Any], float] | None = None,
    patience: int = 2,
    should_stop: Callable[[], bool] | None = None,
    on_step: Callable[[int, int, float, float], None] | None = None,
) -> SetFitResult:
    """Contrastive tuning of ``model.encoder`` (an ``EncoderHead``) in place.

    ``delivered``: the delivered model, with the larger pair cap of :func:`plan_pairs` and,
    from :data:`DELIVERED_MIN_RECORDS` records, every layer trained (:func:`every_layer`).
    ``evaluate(model) -> score`` enables early stopping (the best state is returned in
    ``state``; ``None`` means the final weights are the ones to keep). A stop request
    ends training after the current step with ``cancelled`` set; ``state`` is then the
    best checked state (or the starting weights when nothing was checked yet).
    """
    import torch

    from workbench.core.training.methods.linear import token_ids

    ids = token_ids(tokenizer, texts, max_length)
    mean_tokens = float(np.mean([len(x) for x in ids])) if len(ids) else None
    pairs = make_pairs(y, multi_label, n_pairs or plan_pairs(len(texts), mean_tokens, delivered=delivered), seed)
    rng = random.Random(seed + 1)
    rng.shuffle(pairs)
    from workbench.core.training.methods.cached_layers import LayerCache
    from workbench.core.training.methods.modules import mean_pool

    encoder = model.encoder
    emb = encoder.get_input_embeddings()
    for p in emb.parameters():  # the word-piece table is large and gains nothing here
        p.requires_grad_(False)
    # The lower half of the layers stays fixed and runs once per record (cached_layers),
    # except for the delivered model on larger projects (every_layer).
    full = every_layer(len(texts), delivered)
    n_layers = int(getattr(encoder.config, "num_hidden_layers", 0) or 0)
    cache = LayerCache(encoder, ids, n_layers // 2) if n_layers >= 2 and not full else None
    if cache is not None and not cache.usable:
        cache = None
    params = [p for p in encoder.parameters() if p.requires_grad]
    lr = DELIVERED_LEARNING_RATE if full else LEARNING_RATE
    try:
        opt = torch.optim.AdamW(params, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        opt = torch.optim.AdamW(params, lr=lr)
    steps_total = max(1, (len(pairs) + batch_size - 1) // batch_size)
    warmup = max(1, int(0.1 * steps_total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warmup if s < warmup else max(0.0, (steps_total - s) / max(1, steps_total - warmup)))
    pad = tokenizer.pad_token_id or 0
    check_every = max(1, int(steps_total * EVAL_EVERY_FRACTION)) if evaluate else 0
    start_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    result = SetFitResult(state=None, steps=0, samples=0, train_s=0.0, cached=cache is not None)
    best, bad = -1.0, 0
    if evaluate is not None:
        best = evaluate(model)
        result.history.append({"step": 0, "macro_f1": best})
        result.state, result.best_score = start_state, best
    t0 = time.perf_counter()
    model.train()
    for step in range(steps_total):
        if should_stop is not None and should_stop():
            result.cancelled = True
            if result.state is None:
                result.state = start_state
            break
        chunk = pairs[step * batch_size:(step + 1) * batch_size]
        target = torch.tensor([p[2] for p in chunk], dtype=torch.float32)
        if cache is not None:
            u = mean_pool(*cache.forward_upper([p[0] for p in chunk]))
            v = mean_pool(*cache.forward_upper([p[1] for p in chunk]))
        else:
            a, am = _batch(ids, [p[0] for p in chunk], pad)
            b, bm = _batch(ids, [p[1] for p in chunk], pad)
            u = model.embed(a, am)
            v = model.embed(b, bm)
        loss = torch.nn.functional.mse_loss((u * v).sum(dim=-1), target)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        result.steps += 1
        result.samples += 2 * len(chunk)
        elapsed = time.perf_counter() - t0
        if on_step is not None:
            on_step(result.steps, steps_total, float(loss.detach()), result.samples / max(elapsed, 1e-9))
        if check_every and (result.steps % check_every == 0 or result.steps == steps_total):
            score = evaluate(model)
            model.train()
            result.history.append({"step": result.steps, "macro_f1": score})
            if score > best + 1e-6:
                best, bad = score, 0
                result.state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                result.best_score = score
            else:
                bad += 1
                if patience and bad >= patience:
                    break
    result.train_s = time.perf_counter() - t0
    model.eval()
    return result
