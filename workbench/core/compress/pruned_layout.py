"""Loading a model whose attention heads were pruned.

A BERT config can describe fewer feed-forward neurons (``intermediate_size``) but not
fewer attention heads of the same width, so a head-pruned model folder records the
number of heads kept per layer under :data:`HEADS_KEY` in its ``config.json``; the model
is built from the config, its attention projections narrowed to that many heads, and
the saved weights loaded strictly. The attention code of transformers infers the number
of heads from the projection's width, so the narrowed model runs (and exports to ONNX)
unchanged. This module imports nothing else from Workbench, so loaders can call it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["HEADS_KEY", "is_head_pruned", "narrow_attention", "load_pruned_classifier", "encoder_layers",
           "load_pruned_base"]

HEADS_KEY = "workbench_attention_heads"


def is_head_pruned(model_dir: str | Path) -> bool:
    path = Path(model_dir) / "config.json"
    try:
        return HEADS_KEY in json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False


def encoder_layers(model: Any) -> Any:
    """The encoder's list of transformer layers (BERT family)."""
    return model.base_model.encoder.layer


def narrow_attention(layer: Any, heads: list[int]) -> None:
    """Keep only attention heads ``heads`` (their indices) of one layer, in place."""
    import torch
    from transformers.pytorch_utils import prune_linear_layer

    attn = layer.attention.self
    width = int(attn.attention_head_size)
    index = torch.cat([torch.arange(h * width, (h + 1) * width) for h in heads]).long()
    attn.query = prune_linear_layer(attn.query, index, dim=0)
    attn.key = prune_linear_layer(attn.key, index, dim=0)
    attn.value = prune_linear_layer(attn.value, index, dim=0)
    layer.attention.output.dense = prune_linear_layer(layer.attention.output.dense, index, dim=1)
    attn.num_attention_heads = len(heads)
    attn.all_head_size = len(heads) * width


def load_pruned_classifier(model_dir: str | Path, **head: Any) -> Any:
    """The classifier of a head-pruned model folder (eval mode, eager attention).

    ``head`` (``num_labels``, ``id2label``, ``label2id``, ``problem_type``) gives it a fresh
    classification head instead of the saved one: the folder as the base of a new run."""
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForSequenceClassification

    config = AutoConfig.from_pretrained(str(model_dir), trust_remote_code=False)
    for key, value in head.items():
        setattr(config, key, value)
    kept = list(getattr(config, HEADS_KEY))
    model = AutoModelForSequenceClassification.from_config(config, attn_implementation="eager")
    for layer, count in zip(encoder_layers(model), kept, strict=True):
        narrow_attention(layer, list(range(int(count))))
    state = load_file(str(Path(model_dir) / "model.safetensors"))
    if head:  # a new head: keep the fresh classifier weights
        state = {k: v for k, v in state.items() if not k.startswith("classifier.")}
    model.load_state_dict(state, strict=False)
    missing = [k for k in model.state_dict() if k not in state and not k.endswith("position_ids")
               and not (head and k.startswith("classifier."))]
    if missing:
        raise ValueError(f"the saved weights lack {missing[0]}")
    model.eval()
    return model


def load_pruned_base(model_dir: str | Path, labels: list[str], *, multi_label: bool) -> Any:
    """A head-pruned run's encoder with a fresh head for ``labels`` (training mode)."""
    model = load_pruned_classifier(
        model_dir, num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
        problem_type="multi_label_classification" if multi_label else "single_label_classification")
    model.train()
    return model
