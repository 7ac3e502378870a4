"""Long records: classified from overlapping windows whose logits are pooled.

A record longer than the max length is cut there unless it is read in windows: the
tokenizer's own truncation with a stride (:func:`workbench.core.deploy.span_runtime.
encode_windows`, the function span projects and every bundle use) gives windows of at
most ``max_length`` tokens that overlap by a quarter of a window, and the record's logits
are the element-wise maximum (the default) or the mean of its windows' logits. Training, evaluation,
the export's parity check and the bundle (``bundle.json`` ``"windows"``) use the same
windows and the same pooling.

**Automatic choice** (the ``long_records`` setting, ``auto``): windows when more than
:data:`LONG_SHARE` (20 %) of the training records are longer than the max length. Below
that the few cut records cost little and windows would only slow training down; above it
a fifth of the records lose text the label may depend on. ``windows`` / ``truncate``
force it.

**Pooling.** ``max`` is the default: in ``benchmarks/long_texts.py`` (a support message
buried in about 90 tokens of unrelated text, MiniLM, windows of 48 tokens) max pooling
reached a test macro-F1 of 0.80 in the bundle against 0.53 for the mean, 0.63 for
head + tail truncation and 0.50 for the head alone: the mean dilutes the one window that
holds the deciding words with the windows that do not.

**Training on pooled logits.** A training example is a record, not a window: all windows
of the records in a batch go through the model as one padded batch (records with more
windows simply make a wider batch; the length-grouped batches keep long records
together), the logits are pooled per record and the loss is taken on the pooled logits,
the same quantity that is predicted. Training every window with its record's label
instead would teach the windows that do not contain the deciding words (the head of a
ticket whose last message decides it) to predict a label they do not show (measured in the same benchmark: 0.80 macro-F1 for pooled training
against 0.76 for per-window training with max pooling, 0.86 against 0.69 accuracy when the
deciding message is at the end). At most
:data:`MAX_TRAIN_WINDOWS` windows per record are used in a training step (spread evenly,
first and last kept) so one very long record cannot exhaust memory; prediction uses all.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from workbench.core.deploy.span_runtime import encode_windows, pool_logits, window_stride

__all__ = [
    "LONG_SHARE",
    "MAX_TRAIN_WINDOWS",
    "choose_windows",
    "collate_records",
    "plan_windows",
    "record_windows",
    "torch_window_logits",
    "window_probs",
]

#: Windows are chosen automatically when more than this share of training records is long.
LONG_SHARE = 0.2
#: Windows per record in one training step (prediction uses every window).
MAX_TRAIN_WINDOWS = 16


def choose_windows(setting: str, n_long: int, n: int, max_length: int) -> tuple[bool, str]:
    """(use windows, the reason in one sentence) for ``n_long`` of ``n`` records longer
    than ``max_length`` tokens."""
    share = n_long / n if n else 0.0
    counted = f"{n_long} of {n} training records ({share:.0%}) are longer than {max_length} tokens"
    if setting == "windows":
        return True, f"Long records are read in overlapping windows (setting); {counted}."
    if setting == "truncate":
        return False, f"Long records are cut at {max_length} tokens (setting); {counted}."
    if share > LONG_SHARE:
        return True, f"{counted}: they are read in overlapping windows (more than {LONG_SHARE:.0%})."
    return False, f"{counted}: they are cut there (windows from more than {LONG_SHARE:.0%})."


def record_windows(tokenizer: Any, texts: Sequence[str], max_length: int, stride: int) -> list[list[list[int]]]:
    """Token ids of each text's windows (a transformers fast tokenizer or a
    ``tokenizers.Tokenizer``)."""
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    out: list[list[list[int]]] = [[] for _ in texts]
    for w in encode_windows(backend, texts, max_length, stride):
        out[w.text_index].append(w.ids)
    return out


def _spread(windows: list[list[int]], most: int) -> list[list[int]]:
    if len(windows) <= most:
        return windows
    step = (len(windows) - 1) / (most - 1)
    return [windows[round(i * step)] for i in range(most)]


def plan_windows(job: Any, tokenizer: Any, texts: Sequence[str], cap: int) -> None:
    """Decide for the training run ``job`` (after its max length is chosen) whether long
    records are read in windows; sets ``job.windows`` (the ``"windows"`` entry of the
    model folder and the bundle, or None), ``job.train_windows`` and ``job.long_records``
    (the decision, for the run record)."""
    from workbench.core.training.config import TrainEvent

    cfg = job.config
    stride = window_stride(cap)
    at_cap = record_windows(tokenizer, texts, cap, stride)
    n_long = sum(1 for w in at_cap if len(w) > 1)
    use, reason = choose_windows(cfg.long_records, n_long, len(texts), cap)
    job.long_records = {"setting": cfg.long_records, "windows": use, "long": n_long,
                        "records": len(texts), "reason": reason}
    job.windows = None
    job.train_windows = None
    if use:
        stride = window_stride(job.max_length)
        job.windows = {"stride": stride, "pooling": cfg.window_pooling}
        job.long_records.update(stride=stride, pooling=cfg.window_pooling)
        windows = at_cap if job.max_length == cap else record_windows(tokenizer, texts, job.max_length, stride)
        job.train_windows = [_spread(w, MAX_TRAIN_WINDOWS) for w in windows]
    if n_long or use:
        job.emit(TrainEvent("prepare", message=f"Note: {reason}"))


def _pool_torch(logits: Any, counts: Sequence[int], pooling: str) -> Any:
    import torch

    parts = logits.split(list(counts))
    if pooling == "max":
        return torch.stack([p.max(dim=0).values for p in parts])
    return torch.stack([p.mean(dim=0) for p in parts])


def collate_records(job: Any, idx: Sequence[int], pad_id: int, multiple_of: int = 1
                    ) -> tuple[Any, Any, Callable[[Any], Any]]:
    """(input_ids, attention_mask, pool) of a training batch: ``pool`` turns the model's
    logits into one row per record (the identity when records are cut)."""
    from workbench.core.training.batching import collate

    if getattr(job, "train_windows", None) is None:
        ids, mask = collate(job.train_ids, idx, pad_id, multiple_of=multiple_of)
        return ids, mask, lambda logits: logits
    flat = [w for i in idx for w in job.train_windows[i]]
    counts = [len(job.train_windows[i]) for i in idx]
    ids, mask = collate(flat, range(len(flat)), pad_id, multiple_of=multiple_of)
    pooling = job.windows["pooling"]
    return ids, mask, lambda logits: _pool_torch(logits, counts, pooling)


def torch_window_logits(model: Any, tokenizer: Any, texts: Sequence[str], *, max_length: int,
                        windows: dict[str, Any], device: Any = None, batch_size: int = 64,
                        should_stop: Callable[[], bool] | None = None,
                        autocast_dtype: Any = None) -> Any:
    """Pooled logits (texts x labels, numpy float32) of a PyTorch classifier over every
    window of each text, the same windows and pooling as the bundle."""
    import numpy as np

    from workbench.core.training.batched_logits import batched_logits

    n_labels = int(model.config.num_labels)
    if not texts:
        return np.zeros((0, n_labels), dtype=np.float32)
    device = device or next(model.parameters()).device
    per_text = record_windows(tokenizer, list(texts), max_length, int(windows["stride"]))
    flat = [w for ws in per_text for w in ws]
    owner = [t for t, ws in enumerate(per_text) for _ in ws]
    out = batched_logits(model, flat, pad_id=getattr(tokenizer, "pad_token_id", None) or 0, n_labels=n_labels,
                         device=device, batch_size=batch_size, should_stop=should_stop,
                         autocast_dtype=autocast_dtype)
    return pool_logits(out, owner, str(windows["pooling"]))


def window_probs(model: Any, tokenizer: Any, texts: Sequence[str], *, multi_label: bool, **kw: Any) -> Any:
    """Probabilities (softmax or sigmoid) of :func:`torch_window_logits`."""
    import numpy as np

    logits = torch_window_logits(model, tokenizer, texts, **kw).astype(np.float64)
    if multi_label:
        return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (z / z.sum(axis=1, keepdims=True)).astype(np.float32)
