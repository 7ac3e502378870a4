"""Logits of a PyTorch classifier for token-id sequences: batched by length with dynamic
padding, in eval mode, cancellable between batches. Shared by evaluation (one sequence per
text) and long records (one sequence per window)."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from workbench.core.errors import Cancelled

__all__ = ["batched_logits"]


def batched_logits(model: Any, sequences: Sequence[Sequence[int]], *, pad_id: int, n_labels: int,
                   device: Any, batch_size: int = 64, should_stop: Callable[[], bool] | None = None,
                   autocast_dtype: Any = None) -> Any:
    """float32 numpy array (sequences x labels) of the model's logits."""
    import numpy as np
    import torch

    order = sorted(range(len(sequences)), key=lambda k: len(sequences[k]))
    out = np.zeros((len(sequences), n_labels), dtype=np.float32)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                if should_stop is not None and should_stop():
                    raise Cancelled("Evaluation cancelled.")
                idx = order[start : start + batch_size]
                width = max(len(sequences[k]) for k in idx)
                ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
                mask = torch.zeros((len(idx), width), dtype=torch.long)
                for row, k in enumerate(idx):
                    ids[row, : len(sequences[k])] = torch.tensor(sequences[k])
                    mask[row, : len(sequences[k])] = 1
                with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
                    logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
                out[idx] = logits.float().cpu().numpy()
    finally:
        model.train(was_training)
    return out
