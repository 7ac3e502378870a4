"""Keeping the lower layers of the encoder fixed (not trained).

The embeddings and the first encoder layers of a pre-trained model change little during
fine-tuning on small data sets; keeping them fixed skips their gradients and optimizer
updates. On a CPU, freezing half of the MiniLM layers made training steps about 1.5x
faster at the same (after three epochs slightly better) macro-F1.
"""
from __future__ import annotations

import logging
from typing import Any

__all__ = ["auto_freeze_layers", "freeze_lower_layers", "encoder_parts"]

log = logging.getLogger(__name__)

#: Models with fewer encoder layers are never frozen automatically.
MIN_LAYERS_TO_FREEZE = 4


def auto_freeze_layers(requested: int, num_layers: int, device_type: str) -> int:
    """The number of encoder layers to freeze for the setting ``requested``.

    -1 (automatic) means half of the layers (rounded down) on a CPU for models with at
    least :data:`MIN_LAYERS_TO_FREEZE` layers, and none on a GPU (fast enough to train
    every layer). Explicit values are capped at the number of layers.
    """
    if requested >= 0:
        return min(requested, max(0, num_layers))
    if device_type == "cpu" and num_layers >= MIN_LAYERS_TO_FREEZE:
        return num_layers // 2
    return 0


def encoder_parts(model: Any) -> tuple[Any, list[Any]] | None:
    """(embeddings module, list of encoder layers) of a classifier, or None when the
    model is built differently.

    BERT-like models keep them in ``base_model.embeddings`` and
    ``base_model.encoder.layer``; DistilBERT in ``base_model.embeddings`` and
    ``base_model.transformer.layer``.
    """
    base = getattr(model, "base_model", None)
    embeddings = getattr(base, "embeddings", None)
    if base is None or embeddings is None:
        return None
    for container in ("encoder", "transformer"):
        layers = getattr(getattr(base, container, None), "layer", None)
        if layers is not None:
            try:
                return embeddings, list(layers)
            except TypeError:
                return None
    return None


def freeze_lower_layers(model: Any, n: int) -> int:
    """Freeze the embeddings and the first ``n`` encoder layers of ``model`` (their
    parameters stop requiring gradients); returns the number of layers frozen (0 when
    ``n`` is 0 or the model's structure is not recognised)."""
    if n <= 0:
        return 0
    parts = encoder_parts(model)
    if parts is None:
        log.debug("layer freezing skipped: no embeddings/encoder layers found in %s",
                  type(model).__name__)
        return 0
    embeddings, layers = parts
    n = min(n, len(layers))
    for module in [embeddings, *layers[:n]]:
        for p in module.parameters():
            p.requires_grad_(False)
    return n
