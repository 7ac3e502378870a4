"""Exporting one variant of a run as a bundle, measured on the project's test records.

The bundle is made in a hidden folder beside its destination and renamed into place only
when it is complete, so a cancel or a crash leaves the previous bundle (or nothing). An
int8 variant holds only its int8 model (dynamic or static, whichever won on this CPU);
``bundle.json`` and the model card record the variant, its run and parent run, and the
figures: model size, batch-1 median latency, batch-32 throughput, macro-F1 and agreement
with the teacher (the root run's own test predictions).
"""
from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from workbench.core.compress.common import CompressEvent
from workbench.core.compress.variants import (
    find_variant,
    list_variants,
    variant_rows,
    write_measurement,
)
from workbench.core.deploy import bundle
from workbench.core.errors import Cancelled
from workbench.core.settings import Settings, setting

__all__ = ["ExportVariantConfig", "MeasureVariantsConfig", "export_variant", "export_variant_job",
           "measure_variants_job", "measure_bundle"]

#: Batch-32 throughput is measured on at least this many texts (the test texts repeated).
THROUGHPUT_TEXTS = 320


@dataclass
class ExportVariantConfig(Settings):
    """Which variant of which run to export (the config of :func:`export_variant_job`)."""

    SETTINGS_NAME: ClassVar[str] = "variant export"

    run: str | int = setting("latest", "The run whose variant to export: its number or the newest run with a model.")
    variant: str = setting("int8", "The variant's name (see `workbench variants`).", not_blank=True)
    out_dir: str | None = setting(None, "Folder for the bundle (default: beside the project).")
    int4_min_agreement: float = setting(
        0.98, "4-bit variants: the share of the project's check texts that must keep the int8 model's "
        "prediction (1.0: all of them).", min=0.5, max=1.0, decimals=3, advanced=True,
        label="4-bit: agreement with int8")
    explainer: bool = setting(
        False, "Also write explainer.onnx for one-pass explanations. Off by default: it is about as large "
        "as the model, and a variant's purpose is size; without it the bundle explains by masking one "
        "word at a time (slower).", advanced=True, label="Fast explanations (explainer graph)")


@dataclass
class MeasureVariantsConfig(Settings):
    """Export and measure every variant of a run (the config of :func:`measure_variants_job`)."""

    SETTINGS_NAME: ClassVar[str] = "variants"

    run: str | int = setting("latest", "The run whose variants to measure.")
    only_missing: bool = setting(True, "Skip variants measured before.")


def _test_data(project: Any, root: int) -> dict[str, Any]:
    from workbench.core.deploy.project_data import training_figures, verification_data

    parity, _t, _g = verification_data(project)
    rows = [(rid, text, list(labels)) for rid, text, labels, split in project.labelled_examples() if split == "test"]
    teacher = dict(project.db.execute("SELECT record_id, label FROM predictions WHERE run_id = ?", [root]).fetchall())
    texts = [r[0] for r in project.db.execute("SELECT text FROM main.records ORDER BY id")]
    stride = max(1, len(texts) // 256)
    return {"parity": parity, "ids": [r[0] for r in rows], "texts": [r[1] for r in rows],
            "gold": [r[2] for r in rows], "teacher": teacher, "training": training_figures(project),
            "calibration": texts[::stride][:256], "project": project.name}


def _teacher_labels(model_dir: Path, data: dict[str, Any]) -> None:
    """Fill ``data["teacher"]`` from the teacher model itself when its test predictions
    were not stored with the run."""
    import numpy as np

    from workbench.core.deploy import convert
    from workbench.core.deploy.project_data import read_run_file
    from workbench.core.training.evaluate import predict_proba, probs_to_predictions

    if not data["ids"] or all(rid in data["teacher"] for rid in data["ids"]):
        return
    info = read_run_file(model_dir)
    model, tokenizer = convert.load_classifier(model_dir)
    multi, labels = bool(info.get("multi_label")), list(info["labels"])
    probs = predict_proba(model, tokenizer, data["texts"], max_length=int(info.get("max_length") or 128),
                          multi_label=multi)
    dec = probs_to_predictions(probs, multi_label=multi, thresholds=info.get("thresholds"))
    for rid, row in zip(data["ids"], dec, strict=True):
        data["teacher"][rid] = ("|".join(labels[j] for j in np.flatnonzero(row)) if multi else labels[int(row)])


def measure_bundle(bundle_dir: Path, data: dict[str, Any]) -> dict[str, Any]:
    """Size, batch-1 p50, batch-32 throughput, macro-F1 and agreement with the teacher."""
    import numpy as np

    from workbench.core.deploy import verify
    from workbench.core.deploy.inference import Predictor

    pred = Predictor.load(bundle_dir)
    texts = data["texts"] or data["parity"] or ["an example text"]
    labels, multi = list(pred.labels), bool(pred.config.get("multi_label"))
    dec = verify.decisions(pred.predict_proba(texts), multi, pred.config.get("thresholds"))
    out: dict[str, Any] = {
        "size_mb": round((bundle_dir / "model.onnx").stat().st_size / 1e6, 3),
        "bundle_mb": round(sum(p.stat().st_size for p in bundle_dir.rglob("*") if p.is_file()) / 1e6, 3),
        "b1_p50_ms": verify.batch1_latency_ms(pred, texts, repeats=60)["p50"],
        "test_texts": len(data["texts"]),
        "macro_f1": verify.macro_f1(data["gold"], dec, labels, multi) if data["gold"] else None,
    }
    many = list(texts)
    while len(many) < THROUGHPUT_TEXTS:
        many += texts
    pred.predict_proba(many[:64], batch_size=32)
    best = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        pred.predict_proba(many, batch_size=32)
        best = min(best, time.perf_counter() - t0)
    out["b32_texts_per_s"] = round(len(many) / best, 1)
    teacher = data["teacher"]
    if data["ids"] and all(rid in teacher for rid in data["ids"]):
        if multi:
            names = [";".join(labels[j] for j in np.flatnonzero(row)) for row in dec]
            want = [";".join(sorted(str(teacher[r] or "").replace("|", ";").split(";"))) for r in data["ids"]]
            names = [";".join(sorted(n.split(";"))) for n in names]
        else:
            names = [labels[int(j)] for j in dec]
            want = [teacher[r] for r in data["ids"]]
        out["agreement"] = round(float(np.mean([a == b for a, b in zip(names, want, strict=True)])), 4)
    else:
        out["agreement"] = None
    return out


def _int4(staging: Path, data: dict[str, Any], min_agreement: float, progress: Callable | None,
          should_stop: Callable[[], bool] | None) -> dict[str, Any]:
    """Turn the staged dynamic int8 model into the mixed 4-bit/int8 one (see ``int4``)."""
    from workbench.core.compress.int4 import quantize_int4

    check = list(dict.fromkeys(list(data["texts"]) + list(data["calibration"])))
    say = (lambda m: progress(CompressEvent("quantize", 0, 0, m))) if progress is not None else None
    if say is not None:
        say("Choosing the matrices to store at 4 bits")
    info = quantize_int4(staging, check, min_agreement=min_agreement, should_stop=should_stop, progress=say)
    return {"int8_method": "int4+dynamic", "int8_why": info["why"], "int4": info}


def _card_section(variant: Any, figures: dict[str, Any]) -> str:
    lines = ["", "## Variant", "",
             f"- Variant: {variant.name} (run {variant.run_id}"
             + (f", derived from run {variant.parent_run} by {variant.method}" if variant.parent_run else "")
             + f"; teacher run {variant.root_run})"]
    if figures.get("int8_method"):
        lines.append(f"- int8 method: {figures['int8_method']} ({figures.get('int8_why', '')})")
    for key, label in (("size_mb", "Model file (MB)"), ("b1_p50_ms", "Batch-1 median latency (ms)"),
                       ("b32_texts_per_s", "Batch-32 throughput (texts/s)"), ("macro_f1", "Test macro-F1"),
                       ("agreement", "Agreement with the teacher")):
        if figures.get(key) is not None:
            lines.append(f"- {label}: {figures[key]}")
    return "\n".join(lines) + "\n"


def export_variant(project_path: str | Path, run: str | int, name: str, out_dir: str | Path | None = None, *,
                   progress: Callable | None = None, should_stop: Callable[[], bool] | None = None,
                   int4_min_agreement: float = 0.98, explainer: bool = False) -> dict[str, Any]:
    """Export variant ``name`` of ``run`` as a measured bundle; returns its figures."""
    from workbench.core.compress.static_quant import pick_int8
    from workbench.core.deploy.onnx_export import export_model
    from workbench.core.deploy.project_data import default_export_dir, resolve_run
    from workbench.core.store.project import Project

    with Project.open(project_path) as project:
        variant = find_variant(project, run, name)
        model_dir = resolve_run(project, variant.run_id)["model_path"]
        teacher_dir = resolve_run(project, variant.root_run)["model_path"]
        spans = bool(getattr(project, "is_spans", False))
        data = {"spans": True} if spans else _test_data(project, variant.root_run)
        path = project.path
    if not spans:
        _teacher_labels(teacher_dir, data)
    target = Path(out_dir) if out_dir else default_export_dir(path, variant.root_run).with_name(
        f"run-{variant.root_run}-{variant.name}")
    target = target.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    if data.get("spans"):  # an entity model: the span exporter, entity F1 (see span_variant)
        from workbench.core.compress.span_variant import export_span_variant

        figures = export_span_variant(path, variant, target, progress=progress, should_stop=should_stop)
        write_measurement(path, variant.root_run, variant.name, figures)
        return {"name": variant.name, **figures}
    staging = target.parent / f".{target.name}.variant-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        export_model(model_dir, staging, parity_texts=data["parity"], test_texts=data["texts"],
                     test_labels=data["gold"], quantize=variant.quantized, training=data["training"],
                     project_name=data["project"], run_id=variant.run_id, progress=progress, should_stop=should_stop,
                     explainer=explainer)
        if should_stop is not None and should_stop():
            raise Cancelled("Export cancelled.")
        figures: dict[str, Any] = {}
        config = json.loads((staging / "bundle.json").read_text(encoding="utf-8"))
        if variant.bits == 4:
            figures.update(_int4(staging, data, int4_min_agreement, progress, should_stop))
            (staging / "model.fp32.onnx").unlink(missing_ok=True)
            config["fp32_model_file"] = None
        elif variant.quantized:
            if progress is not None:
                progress(CompressEvent("quantize", 0, 0, "Trying static int8 against dynamic"))
            choice = pick_int8(staging, data["calibration"], data["texts"][:64])
            figures.update(int8_method=choice["chosen"], int8_why=choice.get("why", ""),
                           int8_trials={k: choice[k] for k in ("dynamic", "static") if k in choice})
            (staging / "model.fp32.onnx").unlink(missing_ok=True)
            config["fp32_model_file"] = None
        (staging / "bundle.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
        if progress is not None:
            progress(CompressEvent("measure", 0, 0, f"Measuring {variant.name}"))
        figures.update(measure_bundle(staging, data))
        figures.update(bundle_dir=str(target), run_id=variant.run_id, parent_run=variant.parent_run,
                       method=variant.method, measured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        config["variant"] = {"name": variant.name, "run_id": variant.run_id, "parent_run": variant.parent_run,
                             "teacher_run": variant.root_run, "method": variant.method,
                             "int8_method": figures.get("int8_method"), "bits": variant.bits,
                             "int4": figures.get("int4"),
                             "measured": {k: figures.get(k) for k in ("size_mb", "bundle_mb", "b1_p50_ms", "b32_texts_per_s",
                                                                       "macro_f1", "agreement", "test_texts")}}
        (staging / "bundle.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
        with (staging / "model_card.md").open("a", encoding="utf-8") as card:
            card.write(_card_section(variant, figures))
        if should_stop is not None and should_stop():
            raise Cancelled("Export cancelled.")
        bundle.publish(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    write_measurement(path, variant.root_run, variant.name, figures)
    return {"name": variant.name, **figures}


def export_variant_job(project_path: str | Path, config: ExportVariantConfig, *, progress: Callable | None = None,
                       should_stop: Callable[[], bool] | None = None) -> dict[str, Any]:
    """The variant export job (see :mod:`workbench.core.jobs`)."""
    return export_variant(project_path, config.run, config.variant, config.out_dir,
                          progress=progress, should_stop=should_stop, int4_min_agreement=config.int4_min_agreement,
                          explainer=config.explainer)


def measure_variants_job(project_path: str | Path, config: MeasureVariantsConfig, *,
                         progress: Callable | None = None,
                         should_stop: Callable[[], bool] | None = None) -> list[dict[str, Any]]:
    """Export and measure every variant of a run (those not measured yet, by default);
    returns the table rows. A cancel keeps the variants already finished."""
    from workbench.core.store.project import Project

    with Project.open(project_path) as project:
        variants = list_variants(project, config.run)
    todo = [v for v in variants if not (config.only_missing and v.measured)]
    for i, v in enumerate(todo):
        if should_stop is not None and should_stop():
            raise Cancelled(f"Measuring cancelled after {i} of {len(todo)} variants.")
        if progress is not None:
            progress(CompressEvent("variants", i, len(todo), f"Exporting and measuring {v.name}"))
        export_variant(project_path, config.run, v.name, should_stop=should_stop)
    if progress is not None:
        progress(CompressEvent("variants", len(todo), len(todo), "All variants measured"))
    with Project.open(project_path) as project:
        return variant_rows(list_variants(project, config.run))
