"""Span predictions of a PyTorch token-classification model (training, evaluation and the
export's parity check), with the same windows and decoding as the ONNX bundle."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from workbench.core.deploy.span_runtime import Window, decode_spans, encode_windows
from workbench.core.store.spans import Span

__all__ = ["torch_window_logits", "torch_spans"]


def torch_window_logits(model: Any, windows: Sequence[Window], *, device: Any = None,
                        pad_id: int = 0, batch_size: int = 32,
                        autocast_dtype: Any = None,
                        should_stop: Callable[[], bool] | None = None) -> list[Any]:
    """Logits (tokens x tags, numpy float32) of each window, batched by length."""
    import numpy as np
    import torch

    device = device or torch.device("cpu")
    out: list[Any] = [None] * len(windows)
    order = sorted(range(len(windows)), key=lambda k: len(windows[k].ids))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(order), batch_size):
                if should_stop is not None and should_stop():
                    break
                idx = order[start : start + batch_size]
                width = max(len(windows[k].ids) for k in idx)
                ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
                mask = torch.zeros((len(idx), width), dtype=torch.long)
                for row, k in enumerate(idx):
                    n = len(windows[k].ids)
                    ids[row, :n] = torch.as_tensor(windows[k].ids)
                    mask[row, :n] = 1
                with torch.autocast(device.type, dtype=autocast_dtype,
                                    enabled=autocast_dtype is not None):
                    logits = model(input_ids=ids.to(device),
                                   attention_mask=mask.to(device)).logits
                logits = logits.float().cpu().numpy()
                for row, k in enumerate(idx):
                    out[k] = logits[row, : len(windows[k].ids)].astype(np.float32)
    finally:
        model.train(was_training)
    return out


def _softmax(x: Any) -> Any:
    import numpy as np

    z = x - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def torch_spans(model: Any, tokenizer: Any, texts: Sequence[str], tags: Sequence[str], *,
                max_length: int, stride: int | None = None, alignment: str = "first",
                device: Any = None, batch_size: int = 32, autocast_dtype: Any = None
                ) -> list[tuple[list[tuple[Span, float]], float]]:
    """Per text: ([(span, score)], uncertainty). ``tokenizer``: a transformers fast
    tokenizer or a ``tokenizers.Tokenizer``."""
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    windows = encode_windows(backend, texts, max_length, stride)
    pad = getattr(tokenizer, "pad_token_id", None) or 0
    logits = torch_window_logits(model, windows, device=device, pad_id=pad,
                                 batch_size=batch_size, autocast_dtype=autocast_dtype)
    probs = [_softmax(x.astype("float64")) for x in logits]
    decoded = decode_spans(texts, windows, probs, tags, alignment)
    return [([(Span(s["start"], s["end"], s["label"]), s["score"]) for s in spans], u)
            for spans, u in decoded]
