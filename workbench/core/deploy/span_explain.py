"""Why a span (entity) model found each entity: leave-one-word-out on the ONNX model.

Copied verbatim into every exported bundle (beside ``span_runtime.py``): numpy,
tokenizers and onnxruntime only, no torch. The text is read in the same windows as a
prediction; then each word in turn has its pieces replaced by the mask token (positions
kept, so every other token's tag stays comparable) and all these copies run batched. An
entity's score is the mean probability of its predicted tags over its words; a word's
weight for that entity is how much the score drops when the word is masked (positive:
the word supports the entity, negative: it speaks against it). The entity's own words
are weighed too.

Each span of :func:`explain_spans` is a prediction's span dict with ``"explanation"``:
``[{"start", "end", "weight"}]``, character offsets of the words (``text[start:end]``).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

try:  # inside Workbench
    from workbench.core.deploy.span_runtime import decode_spans, encode_windows, unit_probabilities
except ImportError:  # standalone bundle: span_runtime.py lies beside this file
    from span_runtime import decode_spans, encode_windows, unit_probabilities  # type: ignore[no-redef]

__all__ = ["SPAN_EXPLAIN_BATCH", "explain_spans", "explain_spans_job", "mask_token_id"]

#: Masked copies of a window per onnxruntime call.
SPAN_EXPLAIN_BATCH = 16


def mask_token_id(tokenizer: Any, pad_id: int) -> int:
    """The tokenizer's mask token (else its unknown token, else padding)."""
    for token in ("[MASK]", "<mask>", "[UNK]", "<unk>"):
        found = tokenizer.token_to_id(token)
        if found is not None:
            return int(found)
    return int(pad_id)


def _run(predictor: Any, rows: Sequence[tuple[list[int], list[int]]]) -> list[Any]:
    """Tag probabilities (tokens x tags) of each ``(ids, type_ids)`` row, batched."""
    import numpy as np

    out: list[Any] = []
    for start in range(0, len(rows), SPAN_EXPLAIN_BATCH):
        chunk = rows[start:start + SPAN_EXPLAIN_BATCH]
        width = max(len(ids) for ids, _t in chunk)
        arrays = {name: np.zeros((len(chunk), width), dtype=np.int64)
                  for name in ("input_ids", "attention_mask", "token_type_ids")}
        arrays["input_ids"][:] = predictor.pad_id
        for r, (ids, types) in enumerate(chunk):
            arrays["input_ids"][r, :len(ids)] = ids
            arrays["attention_mask"][r, :len(ids)] = 1
            arrays["token_type_ids"][r, :len(ids)] = types
        logits = predictor.session.run(
            [predictor.output_name], {name: arrays[name] for name in predictor.input_names})[0]
        z = logits.astype(np.float64)
        z = np.exp(z - z.max(axis=-1, keepdims=True))
        p = z / z.sum(axis=-1, keepdims=True)
        out.extend(p[r, :len(ids)] for r, (ids, _t) in enumerate(chunk))
    return out


def explain_spans(predictor: Any, text: str) -> list[dict[str, Any]]:
    """The entities of ``text`` (as a prediction finds them), each with its
    ``"explanation"``: one weight per word of the text."""
    import numpy as np

    text = "" if text is None else str(text)
    tags = list(predictor.config["tags"])
    alignment = predictor.config.get("alignment", "first")
    windows = encode_windows(predictor.tokenizer, [text], predictor.max_length,
                             predictor.config.get("stride"))
    words: dict[int, list[Any]] = {}  # word -> [start, end, {window: positions}]
    for k, window in enumerate(windows):
        for j, word in enumerate(window.word_ids):
            if word is None:
                continue
            a, b = window.offsets[j]
            entry = words.setdefault(word, [a, b, {}])
            entry[0], entry[1] = min(entry[0], a), max(entry[1], b)
            entry[2].setdefault(k, []).append(j)
    words = {w: e for w, e in words.items() if e[1] > e[0]}
    order = sorted(words, key=lambda w: words[w][0])
    mask = mask_token_id(predictor.tokenizer, predictor.pad_id)
    rows = [(w.ids, w.type_ids) for w in windows]
    index: list[tuple[int, int]] = []  # (word, window) of each masked copy
    for w in order:
        for k, positions in words[w][2].items():
            ids = list(windows[k].ids)
            for j in positions:
                ids[j] = mask
            rows.append((ids, windows[k].type_ids))
            index.append((w, k))
    probs = _run(predictor, rows)
    base = probs[:len(windows)]
    spans = decode_spans([text], windows, base, tags, alignment)[0][0]
    if not spans:
        return []
    units = unit_probabilities(1, windows, base, alignment)[0]
    tag_of = [int(np.argmax(u[2])) for u in units]
    members = [[i for i, u in enumerate(units) if u[0] >= s["start"] and u[1] <= s["end"]]
               for s in spans]

    def scores(unit_list: list[list[Any]]) -> list[float]:
        return [float(np.mean([unit_list[i][2][tag_of[i]] for i in m])) if m else 0.0
                for m in members]

    before = scores(units)
    masked: dict[int, dict[int, Any]] = {}
    for (w, k), p in zip(index, probs[len(windows):], strict=True):
        masked.setdefault(w, {})[k] = p
    weights = []
    for w in order:
        variant = [masked[w].get(k, base[k]) for k in range(len(windows))]
        after = scores(unit_probabilities(1, windows, variant, alignment)[0])
        weights.append([b - a for b, a in zip(before, after, strict=True)])
    for n, span in enumerate(spans):
        span["explanation"] = [{"start": int(words[w][0]), "end": int(words[w][1]),
                                "weight": round(float(weights[i][n]), 6)}
                               for i, w in enumerate(order)]
    return spans


def explain_spans_job(predictor: Any, text: str, *, progress: Any = None,
                      should_stop: Any = None) -> tuple[str, list[dict[str, Any]]]:
    """:func:`explain_spans` as a job for a worker thread: ``(text, spans)`` (the text comes
    back so a caller can drop an answer for a text changed meanwhile)."""
    return text, explain_spans(predictor, text)
