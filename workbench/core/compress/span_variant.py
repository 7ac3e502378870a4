"""Exporting a variant of a span (entity) run: the span exporter's verified bundle, then
the same figures as for classifier variants, with entity F1 (strict, test records) in
place of macro-F1 and, as agreement, the span F1 of the variant against the teacher run's
stored test predictions."""
from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.core.deploy import bundle
from workbench.core.errors import Cancelled

__all__ = ["export_span_variant", "measure_span_bundle"]

THROUGHPUT_TEXTS = 320


def measure_span_bundle(bundle_dir: Path, texts: list[str], gold: list[Any], types: list[str],
                        teacher: list[Any] | None) -> dict[str, Any]:
    """Size, batch-1 p50, batch-32 throughput, entity F1 and span agreement with the teacher."""
    from workbench.core.deploy.inference import Predictor
    from workbench.core.spans.span_export_onnx import span_agreement, span_latency_ms
    from workbench.core.spans.span_metrics import entity_metrics
    from workbench.core.store.spans import Span

    pred = Predictor.load(bundle_dir)
    sample = texts or ["an example text"]
    spans = [[Span(s["start"], s["end"], s["label"]) for s in r["spans"]] for r in pred.predict(sample)]
    many = list(sample)
    while len(many) < THROUGHPUT_TEXTS:
        many += sample
    best = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        pred.predict(many, batch_size=32)
        best = min(best, time.perf_counter() - t0)
    return {
        "size_mb": round((bundle_dir / "model.onnx").stat().st_size / 1e6, 3),
        "bundle_mb": round(sum(p.stat().st_size for p in bundle_dir.rglob("*") if p.is_file()) / 1e6, 3),
        "b1_p50_ms": span_latency_ms(pred, sample, repeats=60)["p50"],
        "b32_texts_per_s": round(len(many) / best, 1),
        "test_texts": len(texts), "macro_f1": None, "f1_kind": "entity F1",
        "entity_f1": entity_metrics(texts, gold, spans, types)["entity_f1"] if texts else None,
        "agreement": span_agreement(teacher, spans) if teacher is not None and texts else None,
        "agreement_kind": "span F1 against the teacher",
    }


def export_span_variant(project_path: Path, variant: Any, target: Path, *, progress: Callable | None = None,
                        should_stop: Callable[[], bool] | None = None) -> dict[str, Any]:
    """Export span variant ``variant`` into ``target`` (replaced whole); returns its figures."""
    from workbench.core.assist.span_suggestions import load_span_predictions
    from workbench.core.deploy.onnx_export import ExportEvent, ExportReport
    from workbench.core.spans.span_export_onnx import export_span_run
    from workbench.core.spans.span_snapshot import resolved_spans
    from workbench.core.store.project import Project

    staging = target.parent / f".{target.name}.variant-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        export_span_run(project_path, variant.run_id, staging, make_report=ExportReport, make_event=ExportEvent,
                        quantize=variant.quantized, progress=progress, should_stop=should_stop)
        config = json.loads((staging / "bundle.json").read_text(encoding="utf-8"))
        if variant.quantized:
            (staging / "model.fp32.onnx").unlink(missing_ok=True)
            config["fp32_model_file"] = None
        types = [str(t) for t in config["labels"]]
        with Project.open(project_path) as project:
            test = [r for r in resolved_spans(project) if r.split == "test"]
            stored = load_span_predictions(project, variant.root_run, [r.record_id for r in test])
        texts = [r.text for r in test]
        gold = [[s for s in r.spans if s.label in types] for r in test]
        teacher = ([[s for s, _p in stored[r.record_id][0]] for r in test]
                   if test and all(r.record_id in stored for r in test) else None)
        figures = measure_span_bundle(staging, texts, gold, types, teacher)
        figures.update(bundle_dir=str(target), run_id=variant.run_id, parent_run=variant.parent_run,
                       method=variant.method, int8_method="dynamic" if variant.quantized else None,
                       measured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        config["variant"] = {"name": variant.name, "run_id": variant.run_id, "parent_run": variant.parent_run,
                             "teacher_run": variant.root_run, "method": variant.method, "bits": variant.bits,
                             "measured": {k: figures.get(k) for k in ("size_mb", "b1_p50_ms", "b32_texts_per_s",
                                                                       "entity_f1", "agreement", "test_texts")}}
        (staging / "bundle.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
        with (staging / "model_card.md").open("a", encoding="utf-8") as card:
            card.write(f"\n## Variant\n\n- Variant: {variant.name} (run {variant.run_id}"
                       + (f", derived from run {variant.parent_run} by {variant.method}" if variant.parent_run else "")
                       + f"; teacher run {variant.root_run})\n- Test entity F1: {figures['entity_f1']}\n"
                       f"- Span agreement with the teacher: {figures['agreement']}\n")
        if should_stop is not None and should_stop():
            raise Cancelled("Export cancelled.")
        bundle.publish(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return figures
