"""The models of the few-label methods as small torch modules with one interface.

Every method ends in a module whose ``forward(input_ids, attention_mask, ...)`` returns an
object with ``.logits`` and whose ``.config`` has ``num_labels`` and
``max_position_embeddings``, like a transformers sequence classifier. That is all the
existing evaluation, ONNX export (encoder + pooling + head in one graph), parity check and
int8 quantization need, so every method reaches the same bundle interface
(``input_ids``/``attention_mask`` in, ``logits`` out) and Deploy, Inference, suggestions
and active learning work unchanged.

* :class:`EncoderHead` - a sentence encoder, mean pooling over the attention mask, L2
  normalisation and a linear head (frozen-embedding logistic regression and SetFit-style
  training).
* :class:`TfidfHead` - TF-IDF over the tokenizer's word pieces (sublinear term frequency,
  smoothed IDF, L2 norm, exactly as scikit-learn's ``TfidfTransformer``) and a linear head;
  counting is a scatter-add, so the graph needs no string operations and runs in
  onnxruntime like any other bundle.

A saved folder holds ``config.json`` (``model_type`` ``workbench-encoder-head`` or
``workbench-tfidf``, which transformers' Auto classes refuse instead of silently loading
a random head), ``model.safetensors``, the tokenizer files and ``workbench_run.json``.
"""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

__all__ = [
    "ENCODER_HEAD", "TFIDF", "CUSTOM_TYPES", "EncoderHead", "TfidfHead", "mean_pool",
    "is_custom_folder", "load_custom", "load_custom_tokenizer", "save_custom",
]

ENCODER_HEAD = "workbench-encoder-head"
TFIDF = "workbench-tfidf"
CUSTOM_TYPES = (ENCODER_HEAD, TFIDF)


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of the token vectors over the attention mask, L2-normalised (as the bundled
    sentence encoder's own pooling + Normalize modules)."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, p=2.0, dim=-1)


class EncoderHead(torch.nn.Module):
    """Sentence encoder + mean pooling + linear head."""

    def __init__(self, encoder: Any, num_labels: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = torch.nn.Linear(int(encoder.config.hidden_size), num_labels)
        self.config = encoder.config
        self.config.num_labels = num_labels

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
              token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        return mean_pool(out.last_hidden_state, attention_mask)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> Any:
        return SimpleNamespace(logits=self.head(self.embed(input_ids, attention_mask, token_type_ids)))


class TfidfHead(torch.nn.Module):
    """TF-IDF of word-piece ids + linear head; ``idf`` is 0 for special tokens."""

    def __init__(self, idf: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("idf", idf.float())
        self.weight = torch.nn.Parameter(weight.float(), requires_grad=False)
        self.bias = torch.nn.Parameter(bias.float(), requires_grad=False)
        self.config = SimpleNamespace(
            num_labels=int(weight.shape[0]), max_position_embeddings=512, model_type=TFIDF,
            vocab_size=int(idf.shape[0]),
        )

    def features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        counts = torch.zeros((input_ids.shape[0], self.idf.shape[0]), dtype=torch.float32)
        counts = counts.scatter_add(1, input_ids, attention_mask.to(torch.float32))
        tf = torch.where(counts > 0, torch.log(counts.clamp(min=1.0)) + 1.0, torch.zeros_like(counts))
        x = tf * self.idf
        return x / x.norm(dim=1, keepdim=True).clamp(min=1e-12)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_unused: Any) -> Any:
        return SimpleNamespace(logits=self.features(input_ids, attention_mask) @ self.weight.T + self.bias)


def _config_dict(model: torch.nn.Module, labels: list[str]) -> dict[str, Any]:
    if isinstance(model, TfidfHead):
        return {"model_type": TFIDF, "num_labels": len(labels), "vocab_size": model.config.vocab_size,
                "max_position_embeddings": 512, "id2label": dict(enumerate(labels))}
    inner = model.encoder.config.to_dict()
    inner.pop("id2label", None)
    inner.pop("label2id", None)
    return {"model_type": ENCODER_HEAD, "num_labels": len(labels), "encoder": inner,
            "max_position_embeddings": int(inner.get("max_position_embeddings", 512)),
            "id2label": dict(enumerate(labels))}


def save_custom(model: torch.nn.Module, folder: Path, labels: list[str]) -> None:
    """Write ``config.json`` and ``model.safetensors`` of an :class:`EncoderHead` or
    :class:`TfidfHead` into ``folder`` (the caller adds the tokenizer and the run file)."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps(_config_dict(model, labels), indent=2), encoding="utf-8")


def is_custom_folder(folder: Path) -> bool:
    """True for a folder written by :func:`save_custom`."""
    try:
        cfg = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(cfg, dict) and cfg.get("model_type") in CUSTOM_TYPES


def load_custom(folder: Path) -> torch.nn.Module:
    """Load a folder written by :func:`save_custom` (eval mode, eager attention)."""
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModel

    from workbench.core.errors import ModelError
    from workbench.core.training.models import SUPPORTED_MODEL_TYPES, check_model_folder

    cfg = check_model_folder(folder)
    state = load_file(str(Path(folder) / "model.safetensors"))
    try:
        if cfg["model_type"] == TFIDF:
            model: torch.nn.Module = TfidfHead(state["idf"], state["weight"], state["bias"])
        else:
            inner = dict(cfg["encoder"])
            kind = inner.pop("model_type")
            if kind not in SUPPORTED_MODEL_TYPES:
                raise ModelError(f"{folder}: encoder type {kind!r} is not supported.")
            enc_cfg = AutoConfig.for_model(kind, **inner)
            enc_cfg._attn_implementation = "eager"
            model = EncoderHead(AutoModel.from_config(enc_cfg), int(cfg["num_labels"]))
            model.load_state_dict(state, strict=True)
    except ModelError:
        raise
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"Cannot load the model in {folder}: {first}") from None
    model.eval()
    return model


def load_custom_tokenizer(folder: Path) -> Any:
    """The tokenizer of a folder written by :func:`save_custom` (transformers' notice that
    it does not know the folder's model type is expected and silenced)."""
    from transformers.utils import logging as hf_logging

    from workbench.core.training.models import load_tokenizer

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        return load_tokenizer(Path(folder))
    finally:
        hf_logging.set_verbosity(verbosity)
