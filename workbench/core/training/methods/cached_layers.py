"""Cached frozen layers: the lower encoder layers run once per record, the upper ones train.

With the embeddings and the lower layers frozen and in eval mode (no dropout), their output
for a record never changes during a run, so it is computed once and kept (a
``[tokens, hidden]`` tensor per record, at its own length); every training step then runs
only the upper layers on the cached states, padded per batch. SetFit sees each record in
~40 pairs, so it pays the lower layers once instead of ~40 times. The fine-tuning loop
uses it too (``core/training/cached_finetune.py``), lazily (a record's states are computed
the first time it is in a batch) and within a memory budget (records beyond it are computed
again whenever asked for).

The cache is checked when it is built: the upper layers over the cached states must
reproduce the full encoder's output (eval mode) within 1e-4 on a few records; a model
whose layers are called differently falls back to the plain encoder (``usable`` False).
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch

from workbench.core.training.freezing import encoder_parts

__all__ = ["LayerCache", "extended_mask"]

log = logging.getLogger(__name__)


def extended_mask(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Additive attention mask [batch, 1, 1, tokens] (0 keep, dtype min for padding), the
    eager attention's form."""
    return (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


class LayerCache:
    """Per-record outputs of the embeddings and the first ``n_frozen`` layers of ``encoder``."""

    def __init__(
        self,
        encoder: Any,
        ids: Sequence[Sequence[int]],
        n_frozen: int,
        batch_size: int = 32,
        *,
        lazy: bool = False,
        budget_bytes: int | None = None,
        check: bool = True,
    ) -> None:
        """``lazy``: compute a record's states the first time they are asked for (the
        fine-tuning loop's first epoch) instead of all at once; ``budget_bytes``: keep at
        most this many bytes of states, records beyond it are computed again when asked for."""
        self.encoder = encoder
        self.ids = ids
        self.batch_size = batch_size
        self.budget_bytes = budget_bytes
        self.nbytes = 0
        parts = encoder_parts(encoder)
        self.usable = parts is not None and 0 < n_frozen < len(parts[1])
        self.states: list[torch.Tensor | None] = [None] * len(ids) if self.usable else []
        if not self.usable:
            return
        self.embeddings, layers = parts
        self.lower, self.upper = layers[:n_frozen], layers[n_frozen:]
        for module in [self.embeddings, *self.lower]:
            for p in module.parameters():
                p.requires_grad_(False)
        if not lazy:
            self.states_for(range(len(ids)))
        if check:  # (skipped for a second cache of the same layers, already checked)
            self.usable = self._check(ids[: min(4, len(ids))])

    @property
    def cached(self) -> int:
        """Records whose states are kept."""
        return sum(s is not None for s in self.states)

    def _run(self, modules: Sequence[Any], hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        ext = extended_mask(mask, hidden.dtype)
        for layer in modules:
            out = layer(hidden, attention_mask=ext)
            hidden = out[0] if isinstance(out, tuple) else out
        return hidden

    def states_for(self, idx: Sequence[int]) -> list[torch.Tensor]:
        """The lower layers' outputs (``[tokens, hidden]``) of records ``idx``; the missing
        ones are computed (eval mode, no gradients) and kept while the budget allows."""
        missing = [i for i in dict.fromkeys(idx) if self.states[i] is None]
        fresh = self._compute(missing) if missing else {}
        for i, state in fresh.items():
            size = state.numel() * state.element_size()
            if self.budget_bytes is None or self.nbytes + size <= self.budget_bytes:
                self.states[i] = state
                self.nbytes += size
        return [s if (s := self.states[i]) is not None else fresh[i] for i in idx]

    def _compute(self, todo: Sequence[int]) -> dict[int, torch.Tensor]:
        ids, out = self.ids, {}
        order = sorted(todo, key=lambda i: len(ids[i]))
        was = [m.training for m in (self.embeddings, *self.lower)]
        self.embeddings.eval()
        for m in self.lower:
            m.eval()
        try:
            with torch.no_grad():
                for start in range(0, len(order), self.batch_size):
                    idx = order[start:start + self.batch_size]
                    t, m = _pad([ids[i] for i in idx])
                    h = self._run(self.lower, self.embeddings(input_ids=t), m)
                    for row, i in enumerate(idx):
                        out[i] = h[row, : len(ids[i])].clone()
        finally:
            for module, flag in zip((self.embeddings, *self.lower), was, strict=True):
                module.train(flag)
        return out

    def _check(self, ids: Sequence[Sequence[int]]) -> bool:
        if not ids:
            return True
        t, m = _pad(ids)
        was = self.encoder.training
        self.encoder.eval()
        try:
            with torch.no_grad():
                full = self.encoder(input_ids=t, attention_mask=m).last_hidden_state
                top, _m = self.forward_upper(range(len(ids)))
            diff = float(((full - top) * m[..., None]).abs().max())
        except Exception as exc:  # another layer calling convention: no cache
            log.info("layer cache not used: %s", exc)
            return False
        finally:
            self.encoder.train(was)
        if diff > 1e-4:
            log.info("layer cache not used: upper layers differ from the encoder by %.2e", diff)
        return diff <= 1e-4

    def padded(self, idx: Sequence[int], width: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """(lower-layer states ``[batch, width, hidden]`` zero-padded, attention mask) of
        records ``idx``; ``width`` at least the longest record's length."""
        states = self.states_for(idx)
        width = max(width, *(s.shape[0] for s in states))
        hidden = torch.zeros((len(states), width, states[0].shape[1]), dtype=states[0].dtype)
        mask = torch.zeros((len(states), width), dtype=torch.long)
        for row, s in enumerate(states):
            hidden[row, : s.shape[0]] = s
            mask[row, : s.shape[0]] = 1
        return hidden, mask

    def forward_upper(self, idx: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """(last hidden states, attention mask) of records ``idx`` from the cache."""
        hidden, mask = self.padded(idx)
        return self._run(self.upper, hidden, mask), mask


def _pad(seqs: Sequence[Sequence[int]], pad: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in seqs)
    t = torch.full((len(seqs), width), pad, dtype=torch.long)
    m = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, s in enumerate(seqs):
        t[row, : len(s)] = torch.tensor(list(s))
        m[row, : len(s)] = 1
    return t, m
