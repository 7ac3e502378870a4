"""Why the model chose a label: leave-one-word-out (occlusion) on the ONNX model.

Copied verbatim into every exported bundle (as ``explain.py`` beside ``inference.py``):
numpy, tokenizers and onnxruntime only, no torch. Each word of the text is hidden from the
model in turn (its word pieces get attention mask 0, so no layer can read them) and the
drop in the predicted label's calibrated probability is that word's weight: positive
words pushed towards the label, negative ones away from it. All variants of one text run
as batches of one onnxruntime call each.

An explanation is a list of ``{"start", "end", "weight"}`` dicts: character offsets into
the text (``text[start:end]`` is the word) and the signed weight.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["word_spans", "explain", "explain_job", "explain_texts", "top_words"]

#: Variants (one per word, plus the full text) per onnxruntime call (on CPU larger batches
#: were no faster per variant: 8 took 3.5 s, 64 took 4.3 s for a 100-token text, 1 thread,
#: on a busy 2-core machine).
EXPLAIN_BATCH = 8


def word_spans(encoding: Any) -> list[tuple[int, int, list[int]]]:
    """``(start, end, token positions)`` per word of a tokenized text (special tokens left
    out); a word split into several pieces is one span."""
    spans: dict[int, list[int]] = {}
    for pos, word in enumerate(encoding.word_ids):
        if word is not None:
            spans.setdefault(word, []).append(pos)
    out = []
    for positions in spans.values():
        start = encoding.offsets[positions[0]][0]
        end = encoding.offsets[positions[-1]][1]
        if end > start:
            out.append((start, end, positions))
    return out


def explain(predictor: Any, text: str, label: str | None = None) -> tuple[str, list[dict[str, Any]]]:
    """``(label, explanation)`` for one text: the label explained (default: the predicted
    one, for multi-label the most probable) and one weight per word."""
    import numpy as np

    encoding = predictor.tokenizer.encode("" if text is None else str(text))
    spans = word_spans(encoding)
    n_tokens = len(encoding.ids)
    rows = len(spans) + 1
    ids = np.tile(np.asarray(encoding.ids, dtype=np.int64), (rows, 1))
    mask = np.ones((rows, n_tokens), dtype=np.int64)
    for row, (_s, _e, positions) in enumerate(spans, start=1):
        mask[row, positions] = 0
    types = np.tile(np.asarray(encoding.type_ids, dtype=np.int64), (rows, 1))
    arrays = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
    logits = np.concatenate([
        predictor.session.run(
            [predictor.output_name],
            {name: arrays[name][start:start + EXPLAIN_BATCH] for name in predictor.input_names},
        )[0]
        for start in range(0, rows, EXPLAIN_BATCH)
    ])
    probs = predictor.probabilities(logits)
    index = predictor.labels.index(label) if label is not None else int(np.argmax(probs[0]))
    drop = probs[0, index] - probs[1:, index]
    explanation = [{"start": int(s), "end": int(e), "weight": round(float(w), 6)}
                   for (s, e, _p), w in zip(spans, drop, strict=True)]
    return predictor.labels[index], explanation


def explain_texts(predictor: Any, texts: Sequence[str]) -> list[list[dict[str, Any]]]:
    """The explanation of each text's predicted label."""
    return [explain(predictor, text)[1] for text in texts]


def top_words(text: str, explanation: Sequence[dict[str, Any]], k: int = 3) -> list[str]:
    """The ``k`` words that pushed hardest towards the label (positive weights only)."""
    best = sorted((e for e in explanation if e["weight"] > 0), key=lambda e: -e["weight"])[:k]
    return [text[e["start"]:e["end"]] for e in best]


def explain_job(predictor: Any, text: str, label: str | None = None, *, progress: Any = None,
                should_stop: Any = None) -> tuple[str, str, list[dict[str, Any]]]:
    """:func:`explain` as a job for a worker thread: ``(text, label, explanation)`` (the
    text comes back so a caller can drop an answer for a text changed meanwhile)."""
    label, spans = explain(predictor, text, label)
    return text, label, spans
