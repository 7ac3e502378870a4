"""The last encoder layer computed for the first token only (for classifiers that read it).

A sequence classifier of the BERT family reads one position of the last layer: the first
token (BERT's pooler and DistilBERT's head both take ``hidden[:, 0]``). In the last layer
every other position's output is thrown away, so only the first token's query, attention
output and feed-forward block are needed; the keys and values still come from every
token. This is exact, not an approximation: the first token's output (and so the logits
and the gradients) is the same as in the whole layer, dropout included (the first token's
row of the attention weights and its hidden states get their dropout as before; the masks
of the discarded positions are simply not drawn). It saves about 5/6 of the last layer's
work (its query projection, attention output projection and feed-forward block run on one
token instead of all), forward and backward: with MiniLM's 3 trained layers, a quarter of
a cached training step.

Only layers built like BERT's are wrapped (DistilBERT's and others run whole). Used by the
frozen-layer cache (``cached_finetune.py``), whose start-up check compares the
logits with the whole model's, so a model whose head reads other positions (mean pooling,
last token) is caught there and runs with the whole last layer.
"""
from __future__ import annotations

from typing import Any

import torch

__all__ = ["FirstTokenLayer", "first_token_layer"]


class FirstTokenLayer(torch.nn.Module):
    """Wraps a BERT-like encoder layer: returns ``[batch, 1, hidden]``, its output at the
    first position only. Train/eval mode follows the wrapped layer (the model's own)."""

    def __init__(self, layer: Any) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None,
                *args: Any, **kwargs: Any) -> torch.Tensor:
        layer = self.layer
        sa = layer.attention.self
        batch, tokens, _ = hidden_states.shape
        heads, size = sa.num_attention_heads, sa.attention_head_size
        first = hidden_states[:, :1]
        q = sa.query(first).view(batch, 1, heads, size).transpose(1, 2)
        k = sa.key(hidden_states).view(batch, tokens, heads, size).transpose(1, 2)
        v = sa.value(hidden_states).view(batch, tokens, heads, size).transpose(1, 2)
        mask = attention_mask
        if mask is not None and mask.dim() == 4 and mask.shape[-2] > 1:
            mask = mask[:, :, :1]
        p = sa.dropout.p if layer.training else 0.0
        context = torch.nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=p, scale=sa.scaling)
        context = context.transpose(1, 2).reshape(batch, 1, heads * size)
        attended = layer.attention.output(context, first)
        return layer.output(layer.intermediate(attended), attended)


def first_token_layer(layer: Any) -> FirstTokenLayer | None:
    """The wrapper for ``layer`` when it is built like a BERT encoder layer (self-attention
    with query/key/value, its output block, intermediate and output blocks; no decoder,
    no cross-attention, no chunked feed-forward), else None."""
    attention = getattr(layer, "attention", None)
    sa = getattr(attention, "self", None)
    needed = (
        all(isinstance(getattr(sa, name, None), torch.nn.Linear) for name in ("query", "key", "value"))
        and isinstance(getattr(sa, "dropout", None), torch.nn.Dropout)
        and isinstance(getattr(sa, "num_attention_heads", None), int)
        and isinstance(getattr(sa, "attention_head_size", None), int)
        and getattr(sa, "scaling", None) is not None
        and callable(getattr(attention, "output", None))
        and callable(getattr(layer, "intermediate", None))
        and callable(getattr(layer, "output", None))
        and not getattr(layer, "is_decoder", False)
        and not getattr(layer, "add_cross_attention", False)
        and not getattr(layer, "chunk_size_feed_forward", 0)
        and getattr(sa, "position_embedding_type", "absolute") == "absolute"
    )
    return FirstTokenLayer(layer) if needed else None
