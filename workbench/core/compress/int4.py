"""4-bit weight-only matrices (``MatMulNBits``) mixed into a dynamic int8 model, chosen so
that the predictions stay those of the int8 model.

Dynamic int8 stores one byte per weight; a 6-layer MiniLM's encoder alone holds ~10.6 M
matrix weights, so int8 cannot bring it under ~11 MB however small the vocabulary. Here
the largest matrices are stored at 4 bits per weight (blocks of ``block_size`` weights
share one scale, onnxruntime's ``MatMulNBitsQuantizer``), the others stay dynamic int8.
Which matrices: greedily, largest first, in groups that are split in half when they change
a prediction, keeping every matrix whose 4-bit form leaves the decisions on the check
texts (the project's texts) identical to the int8 model's. The position table is cut to
the rows the bundle can use (its ``max_length`` tokens). ``onnx-ir`` is needed by the
quantizer (``pip install onnx-ir``).
"""
from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from workbench.core.errors import Cancelled, WorkbenchError

__all__ = ["quantize_int4", "int4_available", "BLOCK_SIZE"]

log = logging.getLogger(__name__)

#: Weights per 4-bit block (one float scale and a 4-bit zero point each). Measured on a
#: fine-tuned, vocabulary-trimmed MiniLM with its 12 feed-forward matrices at 4 bits (500
#: project texts): blocks of 32 gave 9.50 MB and 99.0% of the int8 predictions, 64 gave
#: 9.01 MB and 98.8%, 128 gave 8.76 MB and 98.2%.
BLOCK_SIZE = 64
#: Zero points per block (asymmetric) changed fewer predictions than symmetric blocks
#: (8 against 14 of 600 texts for a MiniLM with every matrix at 4 bits).
SYMMETRIC = False
#: Integer activations inside MatMulNBits (accuracy level 4): faster on CPUs without fp16.
ACCURACY_LEVEL = 4
#: Default share of the check texts that must keep the int8 model's prediction. Identical
#: predictions are out of reach in practice: on a fine-tuned MiniLM (600 project texts)
#: 33 of its 36 matrices each changed at least one prediction when stored at 4 bits alone,
#: while dynamic int8 itself keeps ~98% of fp32's predictions.
MIN_AGREEMENT = 0.98
#: Matrices smaller than this stay int8 (output heads, tiny projections).
MIN_WEIGHTS = 32 * 32


def int4_available() -> str | None:
    """None when 4-bit quantization can run here, else one message saying what is missing."""
    try:
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer  # noqa: F401
    except ImportError as exc:
        return f"4-bit variants need the onnx-ir package ({exc}); install it with: pip install onnx-ir"
    return None


def _cut_positions(model: Any, rows: int) -> int:
    """Keep the first ``rows`` rows of position-embedding tables; returns rows removed."""
    from onnx import numpy_helper

    gathered = {n.input[0] for n in model.graph.node if n.op_type == "Gather"}
    removed = 0
    for i, init in enumerate(model.graph.initializer):
        if init.name in gathered and "position_embeddings" in init.name and len(init.dims) == 2 \
                and init.dims[0] > rows:
            table = numpy_helper.to_array(init)
            removed += table.shape[0] - rows
            model.graph.initializer[i].CopyFrom(numpy_helper.from_array(table[:rows].copy(), init.name))
    return removed


def _candidates(model: Any) -> list[tuple[str, int]]:
    """MatMul nodes with a constant 2-D weight: (node name, weight count), largest first and,
    among equal sizes, the deepest first (changing a late layer moved fewer predictions
    than changing an early one in every measurement on a MiniLM)."""
    import math

    weights = {i.name: math.prod(i.dims) for i in model.graph.initializer if len(i.dims) == 2}
    out = [(i, n.name, weights[n.input[1]]) for i, n in enumerate(model.graph.node)
           if n.op_type == "MatMul" and n.name and len(n.input) > 1 and weights.get(n.input[1], 0) >= MIN_WEIGHTS]
    return [(name, size) for _i, name, size in sorted(out, key=lambda c: (-c[2], -c[0]))]


def _build(fp32: Any, names: Sequence[str], dst: Path, block_size: int) -> None:
    """``names`` at 4 bits, every other matrix dynamic int8, written to ``dst``."""
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    from workbench.core.deploy.convert import quantize_int8

    tmp = dst.with_name(dst.stem + ".nbits.onnx")
    try:
        model = onnx.ModelProto()
        model.CopyFrom(fp32)
        if names:
            qlog = logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer")
            level = qlog.level
            qlog.setLevel(logging.WARNING)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    # The quantizer takes every MatMul of ``op_types_to_quantize`` whatever
                    # ``nodes_to_include`` says: the others are excluded by name instead.
                    others = [n.name for n in model.graph.node if n.op_type == "MatMul" and n.name not in set(names)]
                    quantizer = MatMulNBitsQuantizer(
                        model, bits=4, block_size=block_size, is_symmetric=SYMMETRIC,
                        accuracy_level=ACCURACY_LEVEL, nodes_to_exclude=others, op_types_to_quantize=("MatMul",))
                    quantizer.process()
                    model = quantizer.model.model
            finally:
                qlog.setLevel(level)
        onnx.save(model, str(tmp))
        quantize_int8(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def quantize_int4(bundle_dir: Path, check_texts: Sequence[str], *, min_agreement: float = MIN_AGREEMENT,
                  block_size: int = BLOCK_SIZE,
                  should_stop: Callable[[], bool] | None = None,
                  progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Replace the bundle's int8 ``model.onnx`` by a mixed 4-bit/int8 model built from its
    ``model.fp32.onnx`` whose decisions on ``check_texts`` agree with the int8 model's on
    at least ``min_agreement`` of them (1.0: identical decisions only).

    Returns what was done: matrices at 4 bits (of how many), trials, check texts, sizes.
    """
    missing = int4_available()
    if missing:
        raise WorkbenchError(missing)
    import numpy as np
    import onnx

    from workbench.core.deploy import verify
    from workbench.core.deploy.convert import store_runtime_optimized
    from workbench.core.deploy.inference import Predictor

    config = json.loads((bundle_dir / "bundle.json").read_text(encoding="utf-8"))
    multi, thresholds = bool(config.get("multi_label")), config.get("thresholds")
    texts = [t for t in check_texts if t and t.strip()] or ["an example text"]
    int8_path = bundle_dir / "model.onnx"
    ref = verify.decisions(Predictor.load(bundle_dir).predict_proba(texts, batch_size=32), multi, thresholds)
    int8_bytes = int8_path.stat().st_size
    fp32 = onnx.load(str(bundle_dir / "model.fp32.onnx"))
    cut = _cut_positions(fp32, int(config.get("max_length") or 512) + 2)
    candidates = _candidates(fp32)
    trial_path = bundle_dir / "model.int4-trial.onnx"
    kept: list[str] = []
    agreements: dict[int, float] = {0: 1.0}
    trials = 0

    def acceptable(names: list[str]) -> bool:
        nonlocal trials
        if should_stop is not None and should_stop():
            raise Cancelled("Export cancelled.")
        trials += 1
        _build(fp32, names, trial_path, block_size)
        dec = verify.decisions(Predictor.load(bundle_dir, model_file=trial_path.name).predict_proba(
            texts, batch_size=32), multi, thresholds)
        agree = float(np.mean(np.all(np.atleast_2d(dec == ref), axis=-1) if multi else dec == ref))
        ok = agree >= min_agreement - 1e-12
        if ok:
            agreements[len(names)] = agree
        if progress is not None:
            progress(f"4-bit trial {trials}: {len(names)} of {len(candidates)} matrices, "
                     f"{100 * agree:.1f}% of the int8 model's predictions kept")
        return ok

    def add(group: list[str]) -> None:
        if not group:
            return
        if acceptable(kept + group):
            kept.extend(group)
        elif len(group) > 1:
            half = len(group) // 2
            add(group[:half])
            add(group[half:])

    try:
        names = [n for n, _ in candidates]
        add(names)
        _build(fp32, kept, trial_path, block_size)
        store_runtime_optimized(trial_path)
        trial_path.replace(int8_path)
    finally:
        trial_path.unlink(missing_ok=True)
    weights = dict(candidates)
    agreement = agreements.get(len(kept), 1.0)
    return {"method": "int4", "block_size": block_size, "symmetric": SYMMETRIC, "accuracy_level": ACCURACY_LEVEL,
            "matrices_4bit": len(kept), "matrices": len(candidates), "min_agreement": min_agreement,
            "weights_4bit": sum(weights[n] for n in kept), "weights": sum(weights.values()),
            "trials": trials, "check_texts": len(texts), "agreement_with_int8": agreement,
            "position_rows_removed": cut, "int8_size_bytes": int8_bytes, "size_bytes": int8_path.stat().st_size,
            "why": (f"{len(kept)} of {len(candidates)} matrices at 4 bits (blocks of {block_size}), the rest "
                    f"dynamic int8, chosen largest first in {trials} trials: {100 * agreement:.1f}% of "
                    f"{len(texts)} check texts keep the int8 model's prediction (at least "
                    f"{100 * min_agreement:.1f}% asked)") if kept else
                   (f"no matrix could be stored at 4 bits keeping {100 * min_agreement:.1f}% of the int8 "
                    f"model's predictions on {len(texts)} texts; int8 kept")}
