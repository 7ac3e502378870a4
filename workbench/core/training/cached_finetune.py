"""Fine-tuning from cached frozen layers: the lower layers run once per record, not once per epoch.

With the embeddings and the first N encoder layers frozen (:mod:`.freezing`), their output
for a record never changes during a run as long as they run in eval mode (no dropout).
The fine-tuning loop then asks this module for a batch's logits: a record's lower-layer
output is computed the first time it is in a batch (the first epoch pays) and kept
(:class:`~workbench.core.training.methods.cached_layers.LayerCache`, the cache SetFit
uses); later epochs run only the upper layers and the classification head on the kept
states. Batches are formed exactly as before (length-grouped, padded to the batch's
longest record); cancel, early stopping, evaluation and metrics are unchanged (evaluation
runs the whole model as before).

Differences from the plain loop: the frozen part runs without dropout (eval mode), so its
random dropout masks disappear; the trained layers keep theirs. With dropout switched off
the two loops give the same losses step by step (tested).

When it is used: training on the CPU in one process, at least one layer frozen, the
``cache_frozen_layers`` setting on, a model whose embeddings and layers are recognised, and
a check at the start (the logits of a few records from the cache equal the whole model's
within 1e-4, eval mode) passes; otherwise the plain loop runs.

Memory rule: a record's states take tokens x hidden size x 4 bytes (float32; MiniLM,
384 wide: 1.5 kB per token, 190 kB for a 128-token record). The cache keeps at most
:func:`cache_budget` bytes: the smaller of :data:`MAX_CACHE_BYTES` (2 GiB) and
:data:`MEMORY_SHARE` (a quarter) of the memory available when the run starts. When the
training records do not all fit, the ones first seen are kept and the others' lower layers
are computed again in every epoch (no gradients, as in the plain loop): never slower than
the plain loop, faster by the share that fits.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch

from workbench.core.training.first_token_layer import first_token_layer
from workbench.core.training.freezing import encoder_parts
from workbench.core.training.methods.cached_layers import LayerCache

__all__ = [
    "MAX_CACHE_BYTES",
    "MEMORY_SHARE",
    "CachedLowerLayers",
    "available_memory",
    "cache_budget",
    "estimate_cache_bytes",
    "layer_cache_for",
]

log = logging.getLogger(__name__)

#: The cache never keeps more than this many bytes of states.
MAX_CACHE_BYTES = 2 * 1024**3
#: ... nor more than this share of the memory available when the run starts.
MEMORY_SHARE = 0.25
#: Records whose logits are compared with the whole model's at the start.
CHECK_RECORDS = 4


def available_memory() -> int | None:
    """Bytes of memory available now (Linux: MemAvailable; elsewhere free pages), or None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def cache_budget(available: int | None = None) -> int:
    """Most bytes of lower-layer states a run keeps (see the module's memory rule)."""
    available = available_memory() if available is None else available
    if available is None:
        return MAX_CACHE_BYTES // 4
    return int(min(MAX_CACHE_BYTES, MEMORY_SHARE * available))


def estimate_cache_bytes(lengths: Sequence[int], hidden_size: int) -> int:
    """Bytes the states of records of these token ``lengths`` take (float32)."""
    return int(sum(lengths)) * int(hidden_size) * 4


class _Replay(torch.nn.Module):
    """Stands in for the embeddings during a cached step: returns the batch's cached states."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden: torch.Tensor | None = None

    def forward(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        assert self.hidden is not None
        return self.hidden


class CachedLowerLayers:
    """Logits of a sequence classifier whose lower ``n_frozen`` layers come from a cache."""

    def __init__(self, model: Any, train_ids: Sequence[Sequence[int]], n_frozen: int,
                 budget_bytes: int | None = None) -> None:
        self.model = model
        self.n_frozen = n_frozen
        self.base = getattr(model, "base_model", None)
        self.container = _layer_container(self.base)
        self.cache = LayerCache(self.base, train_ids, n_frozen, lazy=True, budget_bytes=budget_bytes)
        self.usable = self.container is not None and self.cache.usable
        self.first_token_only = False
        self.eval_caches: dict[str, LayerCache] = {}
        self._eval_ids: dict[str, list[list[int]]] = {}
        if self.usable:
            self._replay = _Replay()
            # The last layer for the first token only where the head reads just that (checked).
            last = first_token_layer(self.cache.upper[-1])
            if last is not None:
                self._upper = torch.nn.ModuleList([*self.cache.upper[:-1], last])
                self.first_token_only = self._check(train_ids)
            if not self.first_token_only:
                self._upper = torch.nn.ModuleList(self.cache.upper)
                self.usable = self._check(train_ids)

    @contextmanager
    def _upper_only(self, hidden: torch.Tensor) -> Iterator[None]:
        """The model with its embeddings replaced by ``hidden`` and only its upper layers."""
        base, container = self.base, self.container
        embeddings, layers = base.embeddings, container.layer
        self._replay.hidden = hidden
        base.embeddings, container.layer = self._replay, self._upper
        try:
            yield
        finally:
            base.embeddings, container.layer = embeddings, layers
            self._replay.hidden = None

    def logits(self, model: Any, idx: Sequence[int], input_ids: torch.Tensor,
               attention_mask: torch.Tensor, cache: LayerCache | None = None) -> torch.Tensor:
        """The batch's logits (``input_ids``/``attention_mask`` as collated for ``idx``),
        through the upper layers only; gradients flow as in the whole model."""
        hidden, _mask = (cache or self.cache).padded(idx, width=int(input_ids.shape[1]))
        with self._upper_only(hidden):
            return model(input_ids=input_ids, attention_mask=attention_mask).logits

    def eval_logits(self, model: Any, name: str, ids: Sequence[Sequence[int]], batch_size: int = 64) -> Any:
        """float32 numpy logits (records x labels) of the token-id sequences ``ids`` in eval
        mode, their lower layers kept under ``name`` (e.g. the validation records, evaluated
        after every epoch: the lower layers run for them once per run). The cache keeps
        what fits in the budget the training records left."""
        import numpy as np

        from workbench.core.training.batching import collate

        cache = self.eval_caches.get(name)
        if cache is None or cache.ids is not ids:
            left = None if self.cache.budget_bytes is None else max(0, self.cache.budget_bytes - self.cache.nbytes)
            cache = LayerCache(self.base, ids, self.n_frozen, lazy=True, budget_bytes=left, check=False)
            self.eval_caches[name] = cache
        out = np.zeros((len(ids), model.config.num_labels), dtype=np.float32)
        order = sorted(range(len(ids)), key=lambda k: len(ids[k]))
        was = model.training
        model.eval()
        try:
            with torch.no_grad():
                for start in range(0, len(order), batch_size):
                    idx = order[start:start + batch_size]
                    t, m = collate(ids, idx, 0)
                    out[idx] = self.logits(model, idx, t, m, cache).float().numpy()
        finally:
            model.train(was)
        return out

    def eval_probs(self, model: Any, name: str, tokenizer: Any, texts: Sequence[str], *, max_length: int,
                   multi_label: bool, batch_size: int = 64) -> Any:
        """Probabilities (records x labels) of ``texts`` as ``evaluate.predict_proba`` gives
        them (same tokenization and cut), the lower layers computed once per run under
        ``name``."""
        ids = self._eval_ids.get(name)
        if ids is None or len(ids) != len(texts):
            ids = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"] if texts else []
            self._eval_ids[name] = ids
        logits = torch.from_numpy(self.eval_logits(model, name, ids, batch_size))
        probs = torch.sigmoid(logits) if multi_label else torch.softmax(logits, dim=-1)
        return probs.numpy()

    def _check(self, train_ids: Sequence[Sequence[int]]) -> bool:
        from workbench.core.training.batching import collate

        idx = list(range(min(CHECK_RECORDS, len(train_ids))))
        if not idx:
            return False
        ids, mask = collate(train_ids, idx, 0)
        was = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                full = self.model(input_ids=ids, attention_mask=mask).logits
                cached = self.logits(self.model, idx, ids, mask)
            diff = float((full - cached).abs().max())
        except Exception as exc:  # a model that calls its parts differently: plain loop
            log.info("frozen-layer cache not used: %s", exc)
            return False
        finally:
            self.model.train(was)
        if diff > 1e-4:
            log.info("frozen-layer cache not used: its logits differ from the model's by %.2e", diff)
        return diff <= 1e-4

    def describe(self) -> dict[str, Any]:
        """What the cache holds now (for the run's record)."""
        return {"records": len(self.cache.states), "kept": self.cache.cached,
                "bytes": self.cache.nbytes, "budget_bytes": self.cache.budget_bytes,
                "first_token_last_layer": self.first_token_only,
                "evaluation_kept": {k: c.cached for k, c in self.eval_caches.items()}}


def _layer_container(base: Any) -> Any:
    """The module whose ``layer`` list holds the encoder layers (BERT-like ``encoder``,
    DistilBERT ``transformer``), or None."""
    if base is None or encoder_parts(base) is None:
        return None
    for name in ("encoder", "transformer"):
        container = getattr(base, name, None)
        if isinstance(getattr(container, "layer", None), torch.nn.ModuleList):
            return container
    return None


def layer_cache_for(model: Any, train_ids: Sequence[Sequence[int]], frozen: int, *, enabled: bool,
                    device: Any, distributed: bool, amp: Any = None) -> CachedLowerLayers | None:
    """The cache for a fine-tuning run, or None where the plain loop runs (see the module
    docstring for when)."""
    if not enabled or frozen <= 0 or distributed or amp is not None or getattr(device, "type", "cpu") != "cpu":
        return None
    budget = cache_budget()
    cached = CachedLowerLayers(model, train_ids, frozen, budget)
    if not cached.usable:
        return None
    hidden = int(getattr(getattr(model, "config", None), "hidden_size", 0) or 0)
    need = estimate_cache_bytes([len(x) for x in train_ids], hidden) if hidden else 0
    log.info("training from cached frozen layers: %d layer(s), about %.0f MB of states (budget %.0f MB)",
             frozen, need / 1e6, budget / 1e6)
    return cached
