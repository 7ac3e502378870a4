"""PyTorch -> ONNX conversion, onnxruntime graph optimization and int8 quantization.

torch, transformers and onnxruntime are imported inside the functions.
"""
from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from workbench.core.compress.pruned_layout import is_head_pruned, load_pruned_classifier
from workbench.core.errors import ModelError

__all__ = [
    "OPSET",
    "load_classifier",
    "model_input_names",
    "export_fp32",
    "optimizer_model_type",
    "optimize_graph",
    "quantize_int8",
    "store_runtime_optimized",
]

log = logging.getLogger(__name__)

OPSET = 17
#: Model types whose graphs onnxruntime's transformer optimizer fuses as "bert".
_BERT_FAMILY = {
    "bert", "roberta", "xlm-roberta", "distilbert", "camembert", "electra", "mpnet",
    "deberta", "deberta-v2", "albert",
}


def load_classifier(model_dir: Path) -> tuple[Any, Any]:
    """Load a saved sequence classifier (eval mode, eager attention) and its tokenizer."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from workbench.core.training.methods.modules import (
        is_custom_folder,
        load_custom,
        load_custom_tokenizer,
    )

    try:
        if is_custom_folder(model_dir):  # linear / SetFit models (training/methods)
            return load_custom(model_dir), load_custom_tokenizer(model_dir)
        from workbench.core.training.methods import lora_folder

        if lora_folder.is_lora_folder(model_dir):  # LoRA: adapters merged into the base
            return lora_folder.load_merged(model_dir)
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir), trust_remote_code=False)
        if is_head_pruned(model_dir):  # attention heads pruned (core/compress)
            model = load_pruned_classifier(model_dir)
        else:
            model = AutoModelForSequenceClassification.from_pretrained(
                str(model_dir), trust_remote_code=False, attn_implementation="eager"
            )
    except ModelError:
        raise
    except Exception as exc:  # transformers raises many kinds; the user needs one line
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"Cannot load the model in {model_dir}: {first}") from None
    model.eval()
    return model, tokenizer


def model_input_names(model: Any, tokenizer: Any) -> list[str]:
    """The tokenizer outputs the model's forward() accepts, in a fixed order."""
    import inspect

    accepted = set(inspect.signature(model.forward).parameters)
    wanted = set(getattr(tokenizer, "model_input_names", None) or ["input_ids", "attention_mask"])
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in wanted and n in accepted]
    if "input_ids" not in names:
        raise ModelError("The model does not take input_ids: not a text classifier.")
    return names


def export_fp32(model: Any, tokenizer: Any, path: Path, input_names: list[str]) -> None:
    """Write the classifier to ONNX (logits output) with dynamic batch and sequence axes."""
    import torch

    class _Logits(torch.nn.Module):
        def __init__(self, inner: Any, names: list[str]) -> None:
            super().__init__()
            self.inner = inner
            self.names = names

        def forward(self, *tensors: Any) -> Any:
            return self.inner(**dict(zip(self.names, tensors, strict=True))).logits

    # export() restores the wrapper's mode afterwards: construct it in eval mode so the
    # wrapped model is not left in training mode (dropout on) for the parity check.
    wrapper = _Logits(model, input_names).eval()
    sample = tokenizer(
        ["an example text for tracing the graph", "short"],
        padding=True, truncation=True, max_length=32, return_tensors="pt",
    )
    args = tuple(sample[n] for n in input_names)
    axes = {n: {0: "batch", 1: "sequence"} for n in input_names}
    axes["logits"] = {0: "batch"}
    with warnings.catch_warnings():
        # The TorchScript exporter and the tracer warn about deprecation and traced
        # constants; the parity check after export is the real safeguard.
        warnings.simplefilter("ignore")
        with torch.no_grad():
            torch.onnx.export(
                wrapper,
                args,
                str(path),
                dynamo=False,
                input_names=input_names,
                output_names=["logits"],
                dynamic_axes=axes,
                opset_version=OPSET,
                do_constant_folding=True,
            )
    model.eval()


def optimizer_model_type(config: Any) -> str | None:
    """The onnxruntime optimizer's model type for a transformers config, or None."""
    return "bert" if getattr(config, "model_type", None) in _BERT_FAMILY else None


def optimize_graph(src: Path, dst: Path, config: Any) -> bool:
    """Fuse attention/LayerNorm/GELU with onnxruntime's transformer optimizer (fp32).

    Returns False (and leaves ``dst`` absent) when the model is not BERT-family or the
    optimizer fails; the unoptimized graph is then used.
    """
    model_type = optimizer_model_type(config)
    if model_type is None:
        return False
    try:
        from onnxruntime.transformers.optimizer import optimize_model

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            optimized = optimize_model(
                str(src),
                model_type=model_type,
                num_heads=int(getattr(config, "num_attention_heads", 0) or 0),
                hidden_size=int(getattr(config, "hidden_size", 0) or 0),
                opt_level=1,
                use_gpu=False,
            )
            optimized.save_model_to_file(str(dst))
    except Exception as exc:  # the optimizer is best effort; the plain graph always works
        log.warning("Graph optimization skipped: %s", exc)
        dst.unlink(missing_ok=True)
        return False
    return True


class _QuantizerNoise(logging.Filter):
    """Drops the quantizer's messages, which it logs on the root logger (e.g. advice to
    run its pre-processing, which does not apply to a fused transformer graph)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "/onnxruntime/quantization/" not in record.pathname.replace("\\", "/")


def quantize_int8(src: Path, dst: Path) -> dict[str, Any]:
    """Dynamic int8 quantization with per-channel weights; returns the settings used."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    settings = {"method": "dynamic", "weight_type": "QInt8", "per_channel": True, "reduce_range": False}
    noise = _QuantizerNoise()
    root = logging.getLogger()
    root.addFilter(noise)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_dynamic(
                str(src),
                str(dst),
                weight_type=QuantType.QInt8,
                per_channel=True,
                reduce_range=False,
                # A graph fused by the optimizer can fail shape inference without this.
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )
    finally:
        root.removeFilter(noise)
    return settings


def store_runtime_optimized(path: Path) -> str:
    """Replace an ONNX file by onnxruntime's own "extended" optimization of it.

    onnxruntime applies these fusions every time a session is created; storing them
    saves that work at each start (a quarter of a second for an int8 MiniLM, measured with
    benchmarks/serve.py) with identical outputs. The file then needs onnxruntime (of this
    version or newer). Returns the onnxruntime version used.
    """
    import onnxruntime as ort

    tmp = path.with_name(path.stem + ".ort-opt.onnx")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(tmp)
    options.log_severity_level = 3
    try:
        ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return ort.__version__
