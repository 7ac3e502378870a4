"""Cached frozen layers: the lower encoder layers run once per record, the upper ones train.

With the embeddings and the lower layers frozen and in eval mode (no dropout), their output
for a record never changes during a run, so it is computed once and kept (a
``[tokens, hidden]`` tensor per record, at its own length); every training step then runs
only the upper layers on the cached states, padded per batch. SetFit sees each record in
~40 pairs, so it pays the lower layers once instead of ~40 times.

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

    def __init__(self, encoder: Any, ids: Sequence[Sequence[int]], n_frozen: int, batch_size: int = 32) -> None:
        self.encoder = encoder
        parts = encoder_parts(encoder)
        self.usable = parts is not None and 0 < n_frozen < len(parts[1])
        self.states: list[torch.Tensor] = []
        if not self.usable:
            return
        self.embeddings, layers = parts
        self.lower, self.upper = layers[:n_frozen], layers[n_frozen:]
        for module in [self.embeddings, *self.lower]:
            for p in module.parameters():
                p.requires_grad_(False)
        self.states = self._compute(ids, batch_size)
        self.usable = self._check(ids[: min(4, len(ids))])

    def _run(self, modules: Sequence[Any], hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        ext = extended_mask(mask, hidden.dtype)
        for layer in modules:
            out = layer(hidden, attention_mask=ext)
            hidden = out[0] if isinstance(out, tuple) else out
        return hidden

    def _compute(self, ids: Sequence[Sequence[int]], batch_size: int) -> list[torch.Tensor]:
        out: list[torch.Tensor] = [torch.empty(0)] * len(ids)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        was = [m.training for m in (self.embeddings, *self.lower)]
        self.embeddings.eval()
        for m in self.lower:
            m.eval()
        with torch.no_grad():
            for start in range(0, len(order), batch_size):
                idx = order[start:start + batch_size]
                t, m = _pad([ids[i] for i in idx])
                h = self._run(self.lower, self.embeddings(input_ids=t), m)
                for row, i in enumerate(idx):
                    out[i] = h[row, : len(ids[i])].clone()
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

    def forward_upper(self, idx: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """(last hidden states, attention mask) of records ``idx`` from the cache."""
        states = [self.states[i] for i in idx]
        width = max(s.shape[0] for s in states)
        hidden = torch.zeros((len(states), width, states[0].shape[1]), dtype=states[0].dtype)
        mask = torch.zeros((len(states), width), dtype=torch.long)
        for row, s in enumerate(states):
            hidden[row, : s.shape[0]] = s
            mask[row, : s.shape[0]] = 1
        return self._run(self.upper, hidden, mask), mask


def _pad(seqs: Sequence[Sequence[int]], pad: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in seqs)
    t = torch.full((len(seqs), width), pad, dtype=torch.long)
    m = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, s in enumerate(seqs):
        t[row, : len(s)] = torch.tensor(list(s))
        m[row, : len(s)] = 1
    return t, m
