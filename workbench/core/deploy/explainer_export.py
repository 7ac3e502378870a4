"""The explainer graph of a bundle: leave-one-word-out at the last layer in one pass.

Full occlusion (``explain.py``'s thorough method) runs the whole model once per word. The
explainer graph written here (``explainer.onnx``, int8 like the classifier) gives the same
kind of answer - how much the predicted label loses when a word is taken away - for about
the cost of one prediction:

* the encoder runs once on the whole text up to the input of its last layer;
* in the last layer only the first token's vector (``[CLS]``, the one the classifier
  reads) is computed, and its attention to every token is kept per head;
* for each row of the ``keep`` input (1 = token kept, 0 = removed) that attention is
  renormalised over the kept tokens, and the rest of the last layer (output projection,
  LayerNorm, feed-forward) plus pooler and classifier run on that one vector per row.

Row ``r`` of the output is therefore exactly the model's logits when the removed tokens
are hidden from the last layer's ``[CLS]`` query. For mean-pooled models (the few-label
methods' sentence encoder + linear head) the analogous exact decomposition is used: the
encoder runs once and each row averages only the kept token vectors.

Models this does not cover (other layer layouts, TF-IDF heads, which are cheap to occlude
anyway) get no explainer file; ``explain.py`` then falls back to full occlusion.

torch is imported by the caller (this module is used only while exporting).
"""
from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

__all__ = ["EXPLAINER_FILE", "KEEP_INPUT", "explainer_module", "export_explainer"]

log = logging.getLogger(__name__)

EXPLAINER_FILE = "explainer.onnx"
#: The extra input of the explainer graph: (rows, tokens), 1.0 keeps a token, 0.0 removes it.
KEEP_INPUT = "keep"
#: Encoders whose layers have the BERT layout (self-attention query/key/value, attention
#: output, intermediate, output) and absolute positions.
_BERT_LAYOUT = ("bert", "roberta", "xlm-roberta", "camembert", "electra")


def _encoder_parts(model: Any) -> tuple[Any, Any] | None:
    """``(base model, its layer list)`` of a BERT-layout classifier, else None."""
    base = getattr(model, "base_model", None)
    if base is None or getattr(getattr(model, "config", None), "model_type", None) not in _BERT_LAYOUT:
        return None
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    if not isinstance(layers, torch.nn.ModuleList) or len(layers) < 1:
        return None
    last = layers[-1]
    parts = ("attention", "intermediate", "output")
    if not all(hasattr(last, p) for p in parts) or not hasattr(last.attention, "self"):
        return None
    if not all(hasattr(last.attention.self, p) for p in ("query", "key", "value")):
        return None
    return base, layers


@contextlib.contextmanager
def _without_last_layer(layers: torch.nn.ModuleList) -> Iterator[torch.nn.Module]:
    """The encoder runs all layers but the last while inside (restored afterwards)."""
    full = list(layers)
    last = full[-1]
    try:
        del layers[len(full) - 1]
        yield last
    finally:
        layers.append(last)


class _LastLayerOcclusion(torch.nn.Module):
    """BERT-layout classifier: leave-tokens-out at the last layer's [CLS] attention."""

    def __init__(self, model: Any, input_names: list[str], last: Any) -> None:
        super().__init__()
        self.model = model
        self.base = model.base_model
        self.last = last
        self.names = input_names
        att = last.attention.self
        self.head_size = int(att.attention_head_size)
        self.heads = int(att.query.out_features) // self.head_size  # pruned heads included

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        inputs = dict(zip(self.names, tensors[:-1], strict=True))
        keep = tensors[-1]
        hidden = self.base(**inputs).last_hidden_state[0]  # (tokens, hidden): last layer's input
        att = self.last.attention.self
        n = hidden.shape[0]
        q = att.query(hidden[:1]).view(self.heads, 1, self.head_size)
        k = att.key(hidden).view(n, self.heads, self.head_size).transpose(0, 1)
        v = att.value(hidden).view(n, self.heads, self.head_size).transpose(0, 1)
        scores = torch.matmul(q, k.transpose(1, 2))[:, 0, :] * (self.head_size ** -0.5)
        mask = inputs["attention_mask"][0].to(scores.dtype) if "attention_mask" in inputs else 1.0
        probs = torch.softmax(scores, dim=-1) * mask  # (heads, tokens)
        weights = probs.unsqueeze(0) * keep.unsqueeze(1)  # (rows, heads, tokens)
        weights = weights / weights.sum(dim=-1, keepdim=True).clamp(min=1e-12)
        context = torch.einsum("rht,htd->rhd", weights, v).reshape(keep.shape[0], -1)
        residual = hidden[:1].expand(keep.shape[0], -1)
        attended = self.last.attention.output(context, residual)
        out = self.last.output(self.last.intermediate(attended), attended)  # (rows, hidden)
        return _classify(self.model, self.base, out)


def _classify(model: Any, base: Any, cls_vectors: torch.Tensor) -> torch.Tensor:
    """The classifier head on one [CLS] vector per row (pooler first where the model has one)."""
    sequence = cls_vectors.unsqueeze(1)
    pooler = getattr(base, "pooler", None)
    if pooler is not None:
        pooled = pooler(sequence)
        dropout = getattr(model, "dropout", None)
        return model.classifier(dropout(pooled) if dropout is not None else pooled)
    return model.classifier(sequence)


class _MeanPoolOcclusion(torch.nn.Module):
    """Mean-pooled sentence encoder + linear head: each row averages the kept tokens."""

    def __init__(self, model: Any, input_names: list[str]) -> None:
        super().__init__()
        self.model = model
        self.names = input_names

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        inputs = dict(zip(self.names, tensors[:-1], strict=True))
        keep = tensors[-1]
        kwargs = {"token_type_ids": inputs["token_type_ids"]} if "token_type_ids" in inputs else {}
        hidden = self.model.encoder(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                                    **kwargs).last_hidden_state[0]
        weights = keep * inputs["attention_mask"].to(keep.dtype)  # (rows, tokens)
        pooled = weights @ hidden / weights.sum(dim=-1, keepdim=True).clamp(min=1e-9)
        pooled = torch.nn.functional.normalize(pooled, p=2.0, dim=-1)
        return self.model.head(pooled)


@contextlib.contextmanager
def explainer_module(model: Any, input_names: list[str]) -> Iterator[torch.nn.Module | None]:
    """The explainer of ``model`` as a torch module (inputs: the model's inputs for ONE
    text, then ``keep``), or None when the model's layout is not covered. For BERT-layout
    models the model's last layer is detached while inside the ``with`` block."""
    if hasattr(model, "encoder") and hasattr(model, "head") and "attention_mask" in input_names:
        yield _MeanPoolOcclusion(model, input_names).eval()
        return
    parts = _encoder_parts(model)
    if parts is None or "attention_mask" not in input_names:
        yield None
        return
    _base, layers = parts
    with _without_last_layer(layers) as last:
        yield _LastLayerOcclusion(model, input_names, last).eval()


def export_explainer(model: Any, tokenizer: Any, path: Path, input_names: list[str],
                     opset: int) -> bool:
    """Write the explainer of ``model`` (fp32) to ``path``; False (nothing written) when
    the model's layout is not covered."""
    sample = tokenizer(["an example text for tracing the explainer graph"], return_tensors="pt")
    args = tuple(sample[n] for n in input_names)
    n = int(args[0].shape[1])
    keep = torch.ones((n + 1, n), dtype=torch.float32)
    keep[torch.arange(1, n + 1), torch.arange(n)] = 0.0
    axes: dict[str, dict[int, str]] = {name: {1: "sequence"} for name in input_names}
    axes[KEEP_INPUT] = {0: "rows", 1: "sequence"}
    axes["logits"] = {0: "rows"}
    with explainer_module(model, input_names) as module:
        if module is None:
            return False
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module, (*args, keep), str(path), dynamo=False,
                input_names=[*input_names, KEEP_INPUT], output_names=["logits"],
                dynamic_axes=axes, opset_version=opset, do_constant_folding=True,
            )
    model.eval()
    return True


def _explainer_parity(model: Any, tokenizer: Any, path: Path, input_names: list[str],
                      texts: list[str], max_length: int) -> float:
    """Largest difference between the explainer's full row (nothing removed) in
    onnxruntime and the model's logits in torch, over ``texts``."""
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    worst = 0.0
    for text in texts:
        enc = tokenizer([text], truncation=True, max_length=max_length, return_tensors="pt")
        with torch.no_grad():
            reference = model(**{n: enc[n] for n in input_names}).logits.numpy()[0]
        feeds = {n: enc[n].numpy().astype(np.int64) for n in input_names}
        feeds[KEEP_INPUT] = np.ones((1, enc["input_ids"].shape[1]), dtype=np.float32)
        row = session.run(["logits"], feeds)[0][0]
        worst = max(worst, float(np.abs(row - reference).max()))
    return worst


def write_explainer(model: Any, tokenizer: Any, folder: Path, input_names: list[str], *,
                    texts: list[str], max_length: int, quantize: bool, tolerance: float) -> str | None:
    """Write ``explainer.onnx`` into a bundle being built (int8 when ``quantize``) and
    return its file name, or None when the model is not covered or the graph does not
    match the model (the bundle then explains by full occlusion)."""
    from workbench.core.deploy import convert

    fp32 = folder / "explainer.fp32.onnx"
    target = folder / EXPLAINER_FILE
    try:
        if not export_explainer(model, tokenizer, fp32, input_names, convert.OPSET):
            return None
        diff = _explainer_parity(model, tokenizer, fp32, input_names, texts[:8], max_length)
        if diff > tolerance:
            log.warning("Explainer graph left out: it differs from the model by %.2e", diff)
            return None
        if quantize:
            convert.quantize_int8(fp32, target)
            convert.store_runtime_optimized(target)
        else:
            fp32.replace(target)
        return EXPLAINER_FILE
    except Exception as exc:  # best effort: full occlusion always works
        log.warning("Explainer graph left out: %s", exc)
        target.unlink(missing_ok=True)
        return None
    finally:
        fp32.unlink(missing_ok=True)
