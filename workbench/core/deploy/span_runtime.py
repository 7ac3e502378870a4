"""Span (entity) prediction with token-classification models: overlapping windows over
long texts, and BIO tags decoded back to character spans. numpy and tokenizers only.
The same windows classify long records (:func:`pooled_window_logits`: the windows'
logits pooled per text) when a bundle's ``bundle.json`` has ``"windows"``.

This module is copied into every bundle beside ``inference.py`` and is also used in
training and evaluation, so windows and decoding are the same everywhere. A text is
tokenized once with the tokenizer's own truncation and ``stride`` (the windows overlap
by ``stride`` tokens); each word is scored by its first sub-token, averaged over the
windows that see it, and consecutive words tagged B-X, I-X... become one span from the
first word's start to the last word's end.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

try:  # inside Workbench
    from workbench.core.deploy.bundle_config import BundleError, Cancelled
except ImportError:  # standalone bundle: bundle_config.py lies beside this file
    from bundle_config import BundleError, Cancelled  # type: ignore[no-redef]

__all__ = ["POOLINGS", "Window", "decode_spans", "encode_windows", "pool_logits",
           "pooled_window_logits", "predict_spans", "unit_probabilities", "window_settings",
           "window_stride"]

#: How the windows' logits of one long record are combined.
POOLINGS = ("mean", "max")


@dataclass
class Window:
    """One model input: a slice of a text's tokens."""

    text_index: int
    ids: list[int]
    type_ids: list[int]
    offsets: list[tuple[int, int]]
    word_ids: list[int | None]


def window_stride(max_length: int) -> int:
    """Tokens shared by consecutive windows: a quarter of the window."""
    return max(1, max_length // 4)


def encode_windows(tokenizer: Any, texts: Sequence[str], max_length: int,
                   stride: int | None = None) -> list[Window]:
    """Windows of at most ``max_length`` tokens (special tokens included) covering every
    text; ``tokenizer`` is a ``tokenizers.Tokenizer`` (a transformers fast tokenizer's
    ``backend_tokenizer``). Its truncation setting is restored afterwards."""
    stride = window_stride(max_length) if stride is None else stride
    previous = tokenizer.truncation
    padding = tokenizer.padding
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_length, stride=stride,
                                strategy="longest_first", direction="right")
    try:
        encodings = tokenizer.encode_batch(list(texts))
    finally:
        if previous:
            tokenizer.enable_truncation(**{k: v for k, v in previous.items()
                                           if k in ("max_length", "stride", "strategy",
                                                    "direction")})
        else:
            tokenizer.no_truncation()
        if padding:
            tokenizer.enable_padding(**padding)
    windows: list[Window] = []
    for index, enc in enumerate(encodings):
        for part in [enc, *enc.overflowing]:
            special = part.special_tokens_mask
            words = [None if special[j] else w for j, w in enumerate(part.word_ids)]
            windows.append(Window(index, list(part.ids), list(part.type_ids),
                                  [tuple(o) for o in part.offsets], words))
    return windows


def _entities(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """(first, last + 1, type) of predicted BIO tags (an I- after O or another type starts
    a new entity)."""
    out: list[tuple[int, int, str]] = []
    start, kind = None, None
    for i, tag in enumerate(tags):
        if tag == "O" or "-" not in tag:
            if start is not None:
                out.append((start, i, kind))
            start = kind = None
            continue
        prefix, label = tag.split("-", 1)
        if prefix == "B" or start is None or label != kind:
            if start is not None:
                out.append((start, i, kind))
            start, kind = i, label
    if start is not None:
        out.append((start, len(tags), kind))
    return out  # type: ignore[return-value]


def unit_probabilities(n_texts: int, windows: Sequence[Window], probs: Sequence[Any],
                       alignment: str = "first") -> list[list[list[Any]]]:
    """Per text, its units in text order as ``[start, end, mean tag probabilities]``: words
    (scored by their first sub-token) with ``alignment`` "first", every sub-token with
    "all"; a unit seen by several windows gets the mean of their probabilities."""
    import numpy as np

    words: list[dict[Any, list[Any]]] = [{} for _ in range(n_texts)]
    for window, p in zip(windows, probs, strict=True):
        table = words[window.text_index]
        seen: set[Any] = set()
        for j, word in enumerate(window.word_ids):
            if word is None:
                continue
            a, b = window.offsets[j]
            w = word if alignment == "first" else (a, b)
            entry = table.get(w)
            if entry is None:
                entry = table[w] = [a, b, None, 0]
            entry[0], entry[1] = min(entry[0], a), max(entry[1], b)
            if w in seen:
                continue
            seen.add(w)
            if alignment == "first" and j > 0 and window.word_ids[j - 1] == word:
                continue  # the window starts inside this word: not its first sub-token
            row = np.asarray(p[j], dtype=np.float64)
            entry[2] = row if entry[2] is None else entry[2] + row
            entry[3] += 1
    return [[[e[0], e[1], e[2] / e[3]] for e in sorted(table.values(), key=lambda e: e[0])
             if e[2] is not None] for table in words]


def decode_spans(texts: Sequence[str], windows: Sequence[Window], probs: Sequence[Any],
                 tags: Sequence[str], alignment: str = "first"
                 ) -> list[tuple[list[dict[str, Any]], float]]:
    """Per text: (spans ``{"start", "end", "label", "text", "score"}``, uncertainty), from
    each window's tag probabilities (``probs[k]``: tokens x tags). With ``alignment``
    "first" words are tagged (by their first sub-token), with "all" every sub-token. The
    uncertainty is one minus the probability of the least confident unit's tag (0 for a
    text without words)."""
    import numpy as np

    results: list[tuple[list[dict[str, Any]], float]] = []
    for text, ordered in zip(texts, unit_probabilities(len(texts), windows, probs, alignment),
                             strict=True):
        if not ordered:
            results.append(([], 0.0))
            continue
        mean = np.stack([e[2] for e in ordered])
        best = mean.argmax(axis=1)
        conf = mean[np.arange(len(best)), best]
        spans = []
        for first, stop, label in _entities([tags[k] for k in best]):
            start, end = ordered[first][0], ordered[stop - 1][1]
            spans.append({"start": int(start), "end": int(end), "label": label,
                          "text": text[start:end],
                          "score": round(float(conf[first:stop].mean()), 6)})
        results.append((spans, float(1.0 - conf.min())))
    return results


def _softmax(x: Any) -> Any:
    import numpy as np

    z = x - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def predict_spans(predictor: Any, texts: Sequence[str], *, batch_size: int = 32,
                  progress: Callable[[int, int], None] | None = None,
                  should_stop: Callable[[], bool] | None = None,
                  with_uncertainty: bool = False) -> list[dict[str, Any]]:
    """``{"text", "spans": [{"start", "end", "label", "text", "score"}]}`` per text, with
    an onnxruntime :class:`inference.Predictor` of a span bundle (and ``"uncertainty"``
    when asked)."""
    import numpy as np

    texts = ["" if t is None else str(t) for t in texts]
    tags = list(predictor.config["tags"])
    windows = encode_windows(predictor.tokenizer, texts, predictor.max_length,
                             predictor.config.get("stride"))
    order = sorted(range(len(windows)), key=lambda k: len(windows[k].ids))
    probs: list[Any] = [None] * len(windows)
    done_texts: set[int] = set()
    for start in range(0, len(order), max(1, batch_size)):
        if should_stop is not None and should_stop():
            raise Cancelled("Prediction cancelled.")
        idx = order[start : start + batch_size]
        width = max(len(windows[k].ids) for k in idx)
        ids = np.full((len(idx), width), predictor.pad_id, dtype=np.int64)
        mask = np.zeros((len(idx), width), dtype=np.int64)
        types = np.zeros((len(idx), width), dtype=np.int64)
        for row, k in enumerate(idx):
            n = len(windows[k].ids)
            ids[row, :n] = windows[k].ids
            mask[row, :n] = 1
            types[row, :n] = windows[k].type_ids
        arrays = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        feeds = {name: arrays[name] for name in predictor.input_names}
        logits = predictor.session.run([predictor.output_name], feeds)[0]
        p = _softmax(logits.astype(np.float64))
        for row, k in enumerate(idx):
            probs[k] = p[row, : len(windows[k].ids)]
            done_texts.add(windows[k].text_index)
        if progress is not None:
            progress(min(len(texts), len(done_texts)), len(texts))
    decoded = decode_spans(texts, windows, probs, tags,
                           predictor.config.get("alignment", "first"))
    out = []
    for text, (spans, uncertainty) in zip(texts, decoded, strict=True):
        item: dict[str, Any] = {"text": text, "spans": spans}
        if with_uncertainty:
            item["uncertainty"] = uncertainty
        out.append(item)
    return out


# ---------------------------------------------------------------------- long records
def window_settings(config: dict[str, Any], max_length: int) -> tuple[int, str]:
    """(stride, pooling) of a classification bundle's ``"windows"`` entry, checked (a
    bundle may come from anywhere: one line naming the problem)."""
    windows = config.get("windows")
    stride = windows.get("stride") if isinstance(windows, dict) else None
    pooling = windows.get("pooling") if isinstance(windows, dict) else None
    if (not isinstance(stride, int) or isinstance(stride, bool) or not 0 <= stride < max_length // 2
            or pooling not in POOLINGS):
        raise BundleError(
            f"'windows' in bundle.json must be {{\"stride\": 0 to {max(0, max_length // 2 - 1)} "
            f"tokens, \"pooling\": one of {', '.join(POOLINGS)}}}, not {windows!r}.")
    return stride, pooling


def pool_logits(window_logits: Any, text_index: Sequence[int], pooling: str) -> Any:
    """One row per text from the logits of its windows (``text_index``: each window's
    text, ascending, every text present), by their mean or element-wise maximum."""
    import numpy as np

    logits = np.asarray(window_logits, dtype=np.float32)
    index = np.asarray(text_index)
    starts = np.flatnonzero(np.r_[True, index[1:] != index[:-1]]) if len(index) else index
    if pooling == "max":
        return np.maximum.reduceat(logits, starts, axis=0)
    counts = np.diff(np.r_[starts, len(index)]).astype(np.float32)
    return np.add.reduceat(logits, starts, axis=0) / counts[:, None]


def pooled_window_logits(predictor: Any, texts: Sequence[str], *, batch_size: int = 32,
                         progress: Callable[[int, int], None] | None = None,
                         should_stop: Callable[[], bool] | None = None) -> Any:
    """Logits (texts x labels) of a classification bundle that reads long records in
    overlapping windows (:func:`encode_windows`, as in training) and pools them."""
    import numpy as np

    stride, pooling = window_settings(predictor.config, predictor.max_length)
    texts = ["" if t is None else str(t) for t in texts]
    if not texts:
        return np.zeros((0, len(predictor.labels)), dtype=np.float32)
    windows = encode_windows(predictor.tokenizer, texts, predictor.max_length, stride)
    order = sorted(range(len(windows)), key=lambda k: len(windows[k].ids))
    out = np.zeros((len(windows), len(predictor.labels)), dtype=np.float32)
    for start in range(0, len(order), max(1, batch_size)):
        if should_stop is not None and should_stop():
            raise Cancelled("Prediction cancelled.")
        idx = order[start : start + batch_size]
        width = max(len(windows[k].ids) for k in idx)
        arrays = {name: np.zeros((len(idx), width), dtype=np.int64)
                  for name in ("input_ids", "attention_mask", "token_type_ids")}
        arrays["input_ids"][:] = predictor.pad_id
        for row, k in enumerate(idx):
            n = len(windows[k].ids)
            arrays["input_ids"][row, :n] = windows[k].ids
            arrays["attention_mask"][row, :n] = 1
            arrays["token_type_ids"][row, :n] = windows[k].type_ids
        feeds = {name: arrays[name] for name in predictor.input_names}
        logits = predictor.session.run([predictor.output_name], feeds)[0]
        if logits.ndim != 2 or logits.shape[1] != len(predictor.labels):
            raise BundleError(
                f"The label map lists {len(predictor.labels)} labels but the model outputs "
                f"{logits.shape[-1]} scores: the bundle's files do not belong together.")
        out[idx] = logits
        if progress is not None:  # in texts, counted by the share of windows done
            progress(len(texts) * min(len(order), start + len(idx)) // len(order), len(texts))
    return pool_logits(out, [w.text_index for w in windows], pooling)
