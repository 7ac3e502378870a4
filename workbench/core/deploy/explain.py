"""Why the model chose a label: leave-one-word-out on the ONNX model.

Copied verbatim into every exported bundle (as ``explain.py`` beside ``inference.py``):
numpy, tokenizers and onnxruntime only, no torch. A word's weight is the drop in the
predicted label's calibrated probability when that word is taken away: positive words
pushed towards the label, negative ones away from it. Two methods give it:

* ``"fast"`` (the default where the bundle has ``explainer.onnx``): one pass of the
  explainer graph (``explainer_export.py``) - the encoder runs once and every word is
  removed in turn from the last layer's view of the text (exact leave-one-word-out at
  the last layer, all words in one batched step); about the cost of one prediction.
* ``"thorough"``: full occlusion - each word's pieces get attention mask 0 in a copy of
  the input, so no layer can read them; one forward pass of the whole model per word.

An explanation is a list of ``{"start", "end", "weight"}`` dicts: character offsets into
the text (``text[start:end]`` is the word) and the signed weight.
"""
from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

__all__ = ["METHODS", "word_spans", "explain", "explain_job", "explain_texts", "top_words",
           "has_fast_method"]

#: "fast": the one-pass explainer graph when the bundle has one (else thorough);
#: "thorough": full occlusion, one forward pass of the whole model per word.
METHODS = ("fast", "thorough")
KEEP_INPUT = "keep"
_explainers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

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


def _explainer(predictor: Any) -> Any:
    """The onnxruntime session of the bundle's explainer graph, or None (opened once per
    predictor, with the predictor's thread settings)."""
    if predictor in _explainers:
        return _explainers[predictor]
    session = None
    name = (getattr(predictor, "config", None) or {}).get("explainer_file")
    if name:
        import onnxruntime as ort

        path = predictor.bundle_dir / name
        if path.resolve().is_relative_to(predictor.bundle_dir.resolve()) and path.is_file():
            options = ort.SessionOptions()
            threads = predictor.session.get_session_options().intra_op_num_threads
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            session = ort.InferenceSession(str(path), sess_options=options,
                                           providers=["CPUExecutionProvider"])
    _explainers[predictor] = session
    return session


def has_fast_method(predictor: Any) -> bool:
    """True when the bundle explains in one pass (it has an explainer graph)."""
    return _explainer(predictor) is not None


def _keep_rows(n_tokens: int, spans: list[tuple[int, int, list[int]]]) -> Any:
    """Row 0 keeps every token, row ``i`` removes the pieces of word ``i``."""
    import numpy as np

    keep = np.ones((len(spans) + 1, n_tokens), dtype=np.float32)
    for row, (_s, _e, positions) in enumerate(spans, start=1):
        keep[row, positions] = 0.0
    return keep


def _fast_logits(predictor: Any, session: Any, encoding: Any, keep: Any) -> Any:
    import numpy as np

    arrays = {"input_ids": encoding.ids, "attention_mask": encoding.attention_mask,
              "token_type_ids": encoding.type_ids}
    feeds = {name: np.asarray([arrays[name]], dtype=np.int64) for name in predictor.input_names}
    feeds[KEEP_INPUT] = keep
    return session.run(["logits"], feeds)[0]


def _occlusion_logits(predictor: Any, encoding: Any, keep: Any) -> Any:
    import numpy as np

    rows = keep.shape[0]
    ids = np.tile(np.asarray(encoding.ids, dtype=np.int64), (rows, 1))
    types = np.tile(np.asarray(encoding.type_ids, dtype=np.int64), (rows, 1))
    arrays = {"input_ids": ids, "attention_mask": keep.astype(np.int64), "token_type_ids": types}
    return np.concatenate([
        predictor.session.run(
            [predictor.output_name],
            {name: arrays[name][start:start + EXPLAIN_BATCH] for name in predictor.input_names},
        )[0]
        for start in range(0, rows, EXPLAIN_BATCH)
    ])


def explain(predictor: Any, text: str, label: str | None = None,
            method: str = "fast") -> tuple[str, list[dict[str, Any]]]:
    """``(label, explanation)`` for one text: the label explained (default: the predicted
    one, for multi-label the most probable) and one weight per word. ``method`` is one of
    :data:`METHODS` ("fast" falls back to "thorough" for a bundle without an explainer)."""
    import numpy as np

    if method not in METHODS:
        raise ValueError(f"Unknown explanation method {method!r}: use one of {', '.join(METHODS)}.")
    encoding = predictor.tokenizer.encode("" if text is None else str(text))
    spans = word_spans(encoding)
    keep = _keep_rows(len(encoding.ids), spans)
    session = _explainer(predictor) if method == "fast" else None
    if session is not None and len(encoding.ids) > 0:
        logits = _fast_logits(predictor, session, encoding, keep)
    else:
        logits = _occlusion_logits(predictor, encoding, keep)
    probs = predictor.probabilities(logits)
    index = predictor.labels.index(label) if label is not None else int(np.argmax(probs[0]))
    drop = probs[0, index] - probs[1:, index]
    explanation = [{"start": int(s), "end": int(e), "weight": round(float(w), 6)}
                   for (s, e, _p), w in zip(spans, drop, strict=True)]
    return predictor.labels[index], explanation


def explain_texts(predictor: Any, texts: Sequence[str],
                  method: str = "fast") -> list[list[dict[str, Any]]]:
    """The explanation of each text's predicted label."""
    return [explain(predictor, text, method=method)[1] for text in texts]


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
