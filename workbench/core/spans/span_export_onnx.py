"""Exporting a span (entity) run as a verified ONNX bundle.

The same bundle layout and checks as a classifier's export: ``model.fp32.onnx`` must give
PyTorch's logits (per token, per window) within the parity tolerance; the int8 model's
entity F1 on the test split and its span agreement with fp32 (the F1 of the int8 spans
measured against the fp32 spans) are measured and written to ``bundle.json`` and the
model card. ``predict.py`` and ``inference.Predictor`` then return spans with character
offsets, without torch.
"""
from __future__ import annotations

import datetime as dt
import os
import shutil
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from workbench.core.deploy import F1_DROP_WARNING, PARITY_TOLERANCE
from workbench.core.errors import Cancelled, ModelError, WorkbenchError
from workbench.core.spans.span_metrics import entity_metrics
from workbench.core.spans.span_snapshot import resolved_spans
from workbench.core.store.project import Project
from workbench.core.store.spans import Span

__all__ = ["export_span_run", "is_span_model", "span_agreement", "span_latency_ms"]


def is_span_model(model_dir: Path) -> bool:
    import json

    try:
        info = json.loads((Path(model_dir) / "workbench_run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return info.get("task") == "spans"


def span_agreement(a: Sequence[Sequence[Span]], b: Sequence[Sequence[Span]]) -> float | None:
    """F1 of spans ``b`` measured against spans ``a`` (1.0: identical spans)."""
    n_a = sum(len(x) for x in a)
    n_b = sum(len(x) for x in b)
    if n_a + n_b == 0:
        return None if not a else 1.0
    same = sum(len(set(x) & set(y)) for x, y in zip(a, b, strict=True))
    return 2 * same / (n_a + n_b)


def span_latency_ms(predictor: Any, texts: Sequence[str], repeats: int = 30) -> dict[str, float]:
    """Median and 95th percentile of one-text predictions (tokenization included)."""
    sample = [t for t in texts if t][:repeats] or ["an example text"]
    predictor.predict(sample[:2])
    times = []
    for text in sample:
        t0 = time.perf_counter()
        predictor.predict([text])
        times.append((time.perf_counter() - t0) * 1000.0)
    times.sort()
    p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
    return {"p50": round(statistics.median(times), 3), "p95": round(p95, 3)}


def _export_fp32(model: Any, tokenizer: Any, path: Path, input_names: list[str]) -> None:
    """The token classifier to ONNX, logits (batch x sequence x tags) with dynamic axes."""
    import torch

    class TokenLogits(torch.nn.Module):
        def __init__(self, inner: Any, names: list[str]) -> None:
            super().__init__()
            self.inner, self.names = inner, names

        def forward(self, *tensors: Any) -> Any:
            return self.inner(**dict(zip(self.names, tensors, strict=True))).logits

    wrapper = TokenLogits(model, input_names).eval()
    sample = tokenizer(["an example text for tracing the graph", "short"], padding=True,
                       return_tensors="pt")
    axes = {n: {0: "batch", 1: "sequence"} for n in input_names}
    axes["logits"] = {0: "batch", 1: "sequence"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.no_grad():
            torch.onnx.export(wrapper, tuple(sample[n] for n in input_names), str(path),
                              dynamo=False, input_names=input_names, output_names=["logits"],
                              dynamic_axes=axes, opset_version=17, do_constant_folding=True)
    model.eval()


def _spans(results: Sequence[dict[str, Any]]) -> list[list[Span]]:
    return [[Span(s["start"], s["end"], s["label"]) for s in r["spans"]] for r in results]


def _card(report: dict[str, Any], training: dict[str, Any] | None) -> str:
    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:.1f}"

    lat = report.get("latency_ms", {})
    lines = [
        f"# {report.get('project') or 'Entity model'} - run {report.get('run_id')}", "",
        "Token classification (named entities): returns character spans "
        "`{start, end, label, text, score}` per text.", "",
        f"- Entity types: {', '.join(report['labels'])}",
        f"- Base model: {report.get('base_model')}",
        f"- Window: {report['max_length']} tokens (longer texts are split into overlapping "
        "windows)",
        "", "## Verification", "",
        f"- fp32 ONNX vs PyTorch: max logit difference {report['parity_max_abs_diff']:.2e} "
        f"on {report['parity_texts']} texts (tolerance {PARITY_TOLERANCE:.0e})",
        f"- Test entity F1 (micro, strict): fp32 {pct(report.get('f1_fp32'))}, int8 "
        f"{pct(report.get('f1_int8'))} ({report.get('test_texts', 0)} texts)",
        f"- Span agreement of int8 with fp32 (F1 of int8 spans against fp32 spans): "
        f"{pct(report.get('agreement'))}",
    ]
    for name, figures in lat.items():
        lines.append(f"- Batch-1 latency {name}: {figures['p50']:.1f} ms median, "
                     f"{figures['p95']:.1f} ms p95")
    for warning in report.get("warnings") or []:
        lines.append(f"- Warning: {warning}")
    if training:
        lines += ["", "## Training", ""] + [f"- {k}: {v}" for k, v in training.items()]
    lines += ["", "## Use", "", "    python predict.py --json \"Started metformin 500 mg BID\"",
              ""]
    return "\n".join(lines)


def export_span_run(project_path: str | Path, run: str | int, out_dir: str | Path | None, *,
                    make_report: Callable[..., Any], make_event: Callable[..., Any],
                    quantize: bool = True,
                    zip_bundle: bool = False,
                    progress: Callable[[Any], None] | None = None,
                    should_stop: Callable[[], bool] | None = None) -> Any:
    """Export a span run as a verified bundle; ``make_report`` and ``make_event`` build the
    export report and progress events (``ExportReport``, ``ExportEvent`` of
    :mod:`workbench.core.deploy.onnx_export`)."""
    import numpy as np

    from workbench.core.deploy import bundle, convert
    from workbench.core.deploy.inference import FP32_MODEL_FILE, MODEL_FILE, Predictor
    from workbench.core.deploy.project_data import (
        default_export_dir,
        resolve_run,
        training_figures,
    )
    from workbench.core.deploy.span_runtime import encode_windows
    from workbench.core.spans.span_evaluate import load_span_model
    from workbench.core.spans.span_predict import torch_window_logits

    total = 6 if quantize else 4
    step = [0]

    def next_step(message: str) -> None:
        if should_stop is not None and should_stop():
            raise Cancelled("Export cancelled.")
        step[0] += 1
        if progress is not None:
            progress(make_event("export", step[0], total, message))

    with Project.open(project_path) as project:
        row = resolve_run(project, run)
        test = [r for r in resolved_spans(project) if r.split == "test"]
        valid = [r for r in resolved_spans(project) if r.split == "validation"]
        training = training_figures(project)
        name, path = project.name, project.path
    target = Path(out_dir) if out_dir else default_export_dir(path, row["run_id"])
    target = target.resolve()
    if target.exists() and any(target.iterdir()) and not (target / "bundle.json").is_file():
        raise WorkbenchError(f"{target} is not empty and is not an earlier bundle: choose an "
                             "empty or new folder.")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        next_step("Loading the trained model")
        model, tokenizer, info = load_span_model(Path(row["model_path"]))
        types, tags = list(info["labels"]), list(info["tags"])
        input_names = convert.model_input_names(model, tokenizer)
        tokenizer.backend_tokenizer.save(str(staging / "tokenizer.json"))
        config: dict[str, Any] = {
            "format": 1, "task": "spans", "labels": types, "tags": tags,
            "multi_label": False, "thresholds": None, "max_length": int(info["max_length"]),
            "stride": info.get("stride"), "alignment": info.get("alignment", "first"),
            "input_names": input_names, "output_name": "logits",
            "pad_id": int(tokenizer.pad_token_id or 0), "model_file": MODEL_FILE,
            "fp32_model_file": FP32_MODEL_FILE if quantize else None,
            "run_id": row["run_id"], "base_model": info.get("base_model"),
        }
        bundle.write_bundle_config(staging, config)
        next_step("Converting to ONNX (fp32)")
        fp32_name = FP32_MODEL_FILE if quantize else MODEL_FILE
        _export_fp32(model, tokenizer, staging / fp32_name, input_names)
        next_step("Checking ONNX against PyTorch")
        texts = [r.text for r in valid][:64] or [r.text for r in test][:64] or [
            "Started metformin 500 mg twice daily for type 2 diabetes."]
        fp32 = Predictor.load(staging, model_file=fp32_name)
        windows = encode_windows(fp32.tokenizer, texts, fp32.max_length, config["stride"])
        reference = torch_window_logits(model, windows, pad_id=config["pad_id"])
        diff = 0.0
        for w, ref in zip(windows, reference, strict=True):
            feeds = {"input_ids": [w.ids], "attention_mask": [[1] * len(w.ids)],
                     "token_type_ids": [w.type_ids]}
            out = fp32.session.run(["logits"], {k: np.asarray(v, dtype=np.int64)
                                                for k, v in feeds.items()
                                                if k in fp32.input_names})[0][0]
            diff = max(diff, float(np.abs(out - ref).max()))
        if diff > PARITY_TOLERANCE:
            raise ModelError(f"The ONNX model does not match PyTorch: logits differ by up to "
                             f"{diff:.2e} (tolerance {PARITY_TOLERANCE:.0e}). The export was "
                             "not written.")
        del model
        report = make_report(
            bundle_dir=target, labels=types, multi_label=False,
            max_length=config["max_length"], quantized=quantize, optimized=False,
            parity_max_abs_diff=diff, parity_texts=len(texts), parity_ok=True,
            run_id=row["run_id"], project=name, base_model=info.get("base_model"),
            created_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            test_texts=len(test))
        check = [r.text for r in test] or texts
        gold = [[s for s in r.spans if s.label in types] for r in test]
        fp32_spans = _spans(fp32.predict(check))
        if test:
            report.f1_fp32 = entity_metrics(check, gold, fp32_spans, types)["entity_f1"]
        report.sizes_bytes["fp32"] = (staging / fp32_name).stat().st_size
        if quantize:
            next_step("Quantizing to int8")
            report.quantization = convert.quantize_int8(staging / fp32_name,
                                                        staging / MODEL_FILE)
            config["onnxruntime_version"] = convert.store_runtime_optimized(staging / MODEL_FILE)
            next_step("Checking int8 against fp32")
            int8 = Predictor.load(staging)
            int8_spans = _spans(int8.predict(check))
            report.agreement = span_agreement(fp32_spans, int8_spans)
            report.agreement_texts = len(check)
            if test:
                report.f1_int8 = entity_metrics(check, gold, int8_spans, types)["entity_f1"]
                report.f1_drop_points = round(100 * (report.f1_fp32 - report.f1_int8), 3)
                if report.f1_drop_points > F1_DROP_WARNING:
                    report.warnings.append(
                        f"int8 quantization lowers entity F1 by {report.f1_drop_points:.1f} "
                        "points; consider the fp32 model (model.fp32.onnx).")
            report.sizes_bytes["int8"] = (staging / MODEL_FILE).stat().st_size
            report.latency_ms["int8"] = span_latency_ms(int8, check)
            del int8
        report.latency_ms["fp32"] = span_latency_ms(fp32, check)
        del fp32
        next_step("Writing the bundle")
        figures = report.to_dict()
        report.model_card = _card(figures, training)
        (staging / "model_card.md").write_text(report.model_card, encoding="utf-8")
        config["verification"] = {k: v for k, v in figures.items()
                                  if k not in ("bundle_dir", "zip_path", "labels",
                                               "multi_label", "max_length")}
        config["verification"]["agreement_kind"] = "span F1 of int8 against fp32"
        config["verification"]["f1_kind"] = "entity micro-F1 (strict)"
        bundle.write_bundle_config(staging, config)
        bundle.copy_runtime(staging)
        bundle.publish(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if zip_bundle:
        report.zip_path = bundle.zip_folder(target)
    return report
