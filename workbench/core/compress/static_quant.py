"""Static int8 quantization (QDQ) calibrated on project texts, measured against dynamic.

``quantize_static`` records activation ranges by running the fp32 model on batches of the
project's texts (a :class:`CalibrationDataReader`), then stores quantize/dequantize pairs
around the matrix multiplications. Dynamic quantization computes activation ranges at run
time instead. Which one is faster and as accurate depends on the CPU (integer dot-product
instructions favour static): :func:`pick_int8` measures both on the bundle's own texts
and keeps the winner, saying why.
"""
from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["quantize_static_int8", "pick_int8", "STATIC_MIN_SPEEDUP", "STATIC_MAX_AGREEMENT_LOSS"]

log = logging.getLogger(__name__)

#: Static int8 replaces dynamic only when at least this much faster at batch 1 ...
STATIC_MIN_SPEEDUP = 1.05
#: ... and agreeing with fp32 on at most this share fewer texts.
STATIC_MAX_AGREEMENT_LOSS = 0.005
CALIBRATION_TEXTS = 256
CALIBRATION_BATCH = 16


def _encode(bundle_dir: Path, texts: Sequence[str]) -> dict[str, Any]:
    """The model inputs for ``texts`` as the bundle builds them (padded to the longest)."""
    import json

    import numpy as np
    from tokenizers import Tokenizer

    config = json.loads((bundle_dir / "bundle.json").read_text(encoding="utf-8"))
    tok = Tokenizer.from_file(str(bundle_dir / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(int(config.get("max_length") or 128))
    enc = tok.encode_batch(list(texts))
    width = max(len(e.ids) for e in enc)
    ids = np.full((len(enc), width), int(config.get("pad_id") or 0), dtype=np.int64)
    mask = np.zeros_like(ids)
    types = np.zeros_like(ids)
    for row, e in enumerate(enc):
        ids[row, :len(e.ids)], mask[row, :len(e.ids)], types[row, :len(e.ids)] = e.ids, 1, e.type_ids
    arrays = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
    return {name: arrays[name] for name in config.get("input_names", ["input_ids", "attention_mask"])}


def _reader(bundle_dir: Path, texts: Sequence[str]) -> Any:
    from onnxruntime.quantization import CalibrationDataReader

    class ProjectTexts(CalibrationDataReader):
        """Batches of project texts, tokenized and padded as the bundle does."""

        def __init__(self) -> None:
            sample = [t for t in texts if t and t.strip()][:CALIBRATION_TEXTS] or ["an example text"]
            self.batches = iter([_encode(bundle_dir, sample[i:i + CALIBRATION_BATCH])
                                 for i in range(0, len(sample), CALIBRATION_BATCH)])

        def get_next(self) -> dict[str, Any] | None:
            return next(self.batches, None)

    return ProjectTexts()


def quantize_static_int8(bundle_dir: Path, dst: Path, texts: Sequence[str]) -> dict[str, Any]:
    """Write a QDQ int8 model of the bundle's ``model.fp32.onnx``; returns the settings."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer logs advice on the root logger
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_static(
                str(bundle_dir / "model.fp32.onnx"), str(dst), _reader(bundle_dir, texts),
                quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8, per_channel=True, reduce_range=False,
                calibrate_method=CalibrationMethod.MinMax, op_types_to_quantize=["MatMul", "Gather"],
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )
    finally:
        root.setLevel(level)
    return {"method": "static", "format": "QDQ", "activation_type": "QUInt8", "weight_type": "QInt8",
            "per_channel": True, "calibration": "MinMax",
            "calibration_texts": min(len(texts), CALIBRATION_TEXTS)}


def pick_int8(bundle_dir: Path, texts: Sequence[str], check_texts: Sequence[str]) -> dict[str, Any]:
    """Try static int8 beside the bundle's dynamic ``model.onnx``; keep the winner.

    Returns what was measured and chosen (``chosen``: "dynamic" or "static", ``why``).
    ``model.onnx`` is replaced when static wins.
    """
    import numpy as np

    from workbench.core.deploy import verify
    from workbench.core.deploy.inference import Predictor

    static_path = bundle_dir / "model.static.onnx"
    out: dict[str, Any] = {"chosen": "dynamic"}
    try:
        try:
            out["static_settings"] = quantize_static_int8(bundle_dir, static_path, texts)
        except Exception as exc:  # not every graph/CPU supports it: dynamic stays
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            out["why"] = f"static int8 could not be made here ({first[:160]}); dynamic kept"
            return out
        sample = list(check_texts) or list(texts)[:64]
        fp32 = Predictor.load(bundle_dir, model_file="model.fp32.onnx")
        multi = bool(fp32.config.get("multi_label"))
        thresholds = fp32.config.get("thresholds")
        ref = verify.decisions(fp32.predict_proba(sample), multi, thresholds)
        figures = {}
        for kind, name in (("dynamic", "model.onnx"), ("static", static_path.name)):
            pred = Predictor.load(bundle_dir, model_file=name)
            dec = verify.decisions(pred.predict_proba(sample), multi, thresholds)
            figures[kind] = {"b1_p50_ms": verify.batch1_latency_ms(pred, sample)["p50"],
                             "agreement_with_fp32": float(np.mean(np.all(np.atleast_2d(dec == ref), axis=-1)
                                                                  if multi else dec == ref)),
                             "size_bytes": (bundle_dir / name).stat().st_size}
        out.update(figures)
        dyn, sta = figures["dynamic"], figures["static"]
        speedup = dyn["b1_p50_ms"] / max(sta["b1_p50_ms"], 1e-9)
        agree_loss = dyn["agreement_with_fp32"] - sta["agreement_with_fp32"]
        if speedup >= STATIC_MIN_SPEEDUP and agree_loss <= STATIC_MAX_AGREEMENT_LOSS:
            static_path.replace(bundle_dir / "model.onnx")
            out["chosen"] = "static"
            out["why"] = (f"static int8 was {speedup:.2f}x as fast as dynamic at batch 1 with "
                          f"{100 * sta['agreement_with_fp32']:.1f}% agreement with fp32")
        else:
            out["why"] = (f"dynamic kept: static int8 ran at {speedup:.2f}x dynamic's batch-1 speed with "
                          f"{100 * sta['agreement_with_fp32']:.1f}% agreement with fp32 (dynamic "
                          f"{100 * dyn['agreement_with_fp32']:.1f}%)")
        return out
    finally:
        static_path.unlink(missing_ok=True)
