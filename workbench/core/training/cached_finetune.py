"""Fine-tuning from cached frozen layers: the lower layers run once per record, not once per epoch.

With the embeddings and the first N encoder layers frozen (:mod:`.freezing`), their output
for a record never changes during a run as long as they run in eval mode (no dropout).
The fine-tuning loop then asks this module for a batch's logits: a record's lower-layer
output is computed the first time it is in a batch (the first epoch pays) and kept
(:class:`~workbench.core.training.methods.cached_layers.LayerCache`, the cache SetFit
uses); later epochs run only the upper layers and the classification head on the kept
states. Where the layers are built like BERT's and the head reads only the first token
(BERT's pooler; checked at the start), the last layer runs for that token only
(:mod:`.first_token_layer`, exact): with MiniLM's 3 trained layers that takes about a
quarter off a cached step. The per-epoch validation reads its records' lower layers from a
second cache too (computed once per run). Batches are formed exactly as before
(length-grouped, padded to the batch's longest record); cancel, early stopping, the final
test evaluation and metrics are unchanged.

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
                 budget_bytes: int | None = None, *, first_token: bool = True,
                 windows: Sequence[Sequence[Sequence[int]]] | None = None) -> None:
        """``first_token``: run the last layer for the first token only where the model's
        head reads just that (:mod:`.first_token_layer`; checked). ``windows``: long records
        read in windows (``long_records.py``), each record's windows in order; the cache
        then keeps every window's states and a batch of records reads all their windows."""
        self.rows: list[list[int]] | None = None
        if windows is not None:
            flat = [w for record in windows for w in record]
            starts = [0]
            for record in windows:
                starts.append(starts[-1] + len(record))
            self.rows = [list(range(starts[i], starts[i + 1])) for i in range(len(windows))]
            train_ids = flat
        self.model = model
        self.n_frozen = n_frozen
        self.base = getattr(model, "base_model", None)
        self.container = _layer_container(self.base)
        self.cache = LayerCache(self.base, train_ids, n_frozen, lazy=True, budget_bytes=budget_bytes)
        self.usable = self.container is not None and self.cache.usable
        self.first_token_only = False
        self.eval_caches: dict[str, LayerCache] = {}
        self._eval_ids: dict[str, tuple[int, list[list[int]], list[int] | None]] = {}
        if self.usable:
            self._replay = _Replay()
            # The last layer for the first token only where the head reads just that (checked).
            last = first_token_layer(self.cache.upper[-1]) if first_token else None
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
               attention_mask: torch.Tensor) -> torch.Tensor:
        """The batch's logits (``input_ids``/``attention_mask`` as collated for the records
        ``idx``; with windows, one row per window in record order), through the upper layers
        only; gradients flow as in the whole model."""
        rows = idx if self.rows is None else [r for i in idx for r in self.rows[i]]
        return self._rows_logits(model, rows, input_ids, attention_mask, self.cache)

    def _rows_logits(self, model: Any, rows: Sequence[int], input_ids: torch.Tensor,
                     attention_mask: torch.Tensor, cache: LayerCache) -> torch.Tensor:
        hidden, _mask = cache.padded(rows, width=int(input_ids.shape[1]))
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
                    out[idx] = self._rows_logits(model, idx, t, m, cache).float().numpy()
        finally:
            model.train(was)
        return out

    def eval_probs(self, model: Any, name: str, tokenizer: Any, texts: Sequence[str], *, max_length: int,
                   multi_label: bool, batch_size: int = 64, windows: dict[str, Any] | None = None) -> Any:
        """Probabilities (records x labels) of ``texts`` as ``evaluate.predict_proba`` gives
        them (same tokenization, cut or ``windows``), the lower layers computed once per run
        under ``name``."""
        import numpy as np

        from workbench.core.deploy.span_runtime import pool_logits
        from workbench.core.training.long_records import record_windows

        memo = self._eval_ids.get(name)
        if memo is None or memo[0] != len(texts):
            if windows:
                per_text = record_windows(tokenizer, list(texts), max_length, int(windows["stride"]))
                ids = [w for ws in per_text for w in ws]
                owner = [t for t, ws in enumerate(per_text) for _ in ws]
            else:
                ids = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"] if texts else []
                owner = None
            memo = self._eval_ids[name] = (len(texts), ids, owner)
        _n, ids, owner = memo
        logits = self.eval_logits(model, name, ids, batch_size)
        if owner is not None:
            logits = np.asarray(pool_logits(logits, owner, str(windows["pooling"])), dtype=np.float32)
        t = torch.from_numpy(logits)
        probs = torch.sigmoid(t) if multi_label else torch.softmax(t, dim=-1)
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
                cached = self._rows_logits(self.model, idx, ids, mask, self.cache)
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
                    device: Any, distributed: bool, amp: Any = None,
                    windows: Sequence[Sequence[Sequence[int]]] | None = None) -> CachedLowerLayers | None:
    """The cache for a fine-tuning run, or None where the plain loop runs (see the module
    docstring for when); ``windows``: the training records' windows where long records are
    read in windows."""
    if not enabled or frozen <= 0 or distributed or amp is not None or getattr(device, "type", "cpu") != "cpu":
        return None
    budget = cache_budget()
    cached = CachedLowerLayers(model, train_ids, frozen, budget, windows=windows)
    if not cached.usable:
        return None
    hidden = int(getattr(getattr(model, "config", None), "hidden_size", 0) or 0)
    seqs = train_ids if windows is None else [w for record in windows for w in record]
    need = estimate_cache_bytes([len(x) for x in seqs], hidden) if hidden else 0
    log.info("training from cached frozen layers: %d layer(s), about %.0f MB of states (budget %.0f MB)",
             frozen, need / 1e6, budget / 1e6)
    return cached
