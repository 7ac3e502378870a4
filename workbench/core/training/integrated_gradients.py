"""Integrated gradients on a run's PyTorch model (optional: needs captum, ``workbench[explain]``).

The ONNX bundles explain by leaving words out (``core/deploy/explain.py``); inside the app a
fine-tuned run can also be explained by integrated gradients (captum's
``LayerIntegratedGradients`` on the word embeddings): the path from a baseline text, whose
words are all padding (special tokens kept), to the text, with the gradient of the label's
calibrated probability summed along it. A word's weight is the sum over its pieces (and the
embedding dimensions) of those attributions; the weights add up to the probability of the
text minus that of the baseline (up to the path's step error, ``delta``). Same output form as
``explain.py``: ``[{"start", "end", "weight"}]`` character offsets into the text.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.core.errors import WorkbenchError

__all__ = ["integrated_gradients"]

MISSING = ("Integrated gradients need the captum package (about 40 MB with matplotlib): "
           "pip install 'workbench[explain]'.")


def integrated_gradients(model_dir: str | Path, text: str, label: str | None = None, *,
                         steps: int = 32) -> dict[str, Any]:
    """``{"label", "explanation", "probability", "baseline_probability", "delta"}`` for one
    text with the run folder ``model_dir`` (the predicted label unless ``label`` is given)."""
    try:
        from captum.attr import LayerIntegratedGradients
    except ImportError as exc:
        raise WorkbenchError(MISSING) from exc
    import torch

    from workbench.core.deploy.convert import load_classifier
    from workbench.core.deploy.project_data import read_run_file

    info = read_run_file(Path(model_dir))
    model, tokenizer = load_classifier(Path(model_dir))
    embeddings = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    if embeddings is None or not hasattr(tokenizer, "pad_token_id"):
        raise WorkbenchError("Integrated gradients work on fine-tuned transformer runs only; "
                             "this run's model has no word embeddings to follow.")
    labels = [str(x) for x in info["labels"]]
    temperature = float(info.get("temperature") or 1.0)
    multi = bool(info.get("multi_label", False))
    enc = tokenizer(str(text or ""), return_tensors="pt", truncation=True,
                    max_length=int(info.get("max_length") or 512), return_offsets_mapping=True)
    offsets = enc.pop("offset_mapping")[0].tolist()
    word_ids = enc.word_ids(0)
    ids, mask = enc["input_ids"], enc["attention_mask"]
    extra = {k: v for k, v in enc.items() if k not in ("input_ids", "attention_mask")}
    baseline = ids.clone()
    pad = int(tokenizer.pad_token_id or 0)
    for pos, word in enumerate(word_ids):
        if word is not None:
            baseline[0, pos] = pad

    def probability(input_ids: Any, attention_mask: Any) -> Any:
        n = input_ids.shape[0]
        more = {k: v.expand(n, -1) for k, v in extra.items()}
        logits = model(input_ids=input_ids, attention_mask=attention_mask, **more).logits / temperature
        return torch.sigmoid(logits) if multi else torch.softmax(logits, dim=-1)

    with torch.no_grad():
        probs = probability(ids, mask)[0]
        base_probs = probability(baseline, mask)[0]
    index = labels.index(label) if label is not None else int(torch.argmax(probs))
    lig = LayerIntegratedGradients(lambda i, m: probability(i, m)[:, index], embeddings)
    attributions, delta = lig.attribute(ids, baselines=baseline, additional_forward_args=(mask,),
                                        n_steps=steps, return_convergence_delta=True)
    per_token = attributions.sum(dim=-1)[0].detach().double().tolist()
    words: dict[int, list[Any]] = {}
    for pos, word in enumerate(word_ids):
        if word is None:
            continue
        a, b = offsets[pos]
        entry = words.setdefault(word, [a, b, 0.0])
        entry[0], entry[1] = min(entry[0], a), max(entry[1], b)
        entry[2] += per_token[pos]
    explanation = [{"start": int(a), "end": int(b), "weight": round(float(w), 6)}
                   for a, b, w in sorted(words.values()) if b > a]
    return {"label": labels[index], "explanation": explanation,
            "probability": float(probs[index]), "baseline_probability": float(base_probs[index]),
            "delta": float(delta.abs().max())}
