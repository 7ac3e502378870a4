"""Export a trained run as a verified ONNX bundle.

The bundle folder holds ``model.onnx`` (int8 dynamic quantization, per-channel weights),
``model.fp32.onnx``, ``tokenizer.json``, ``bundle.json``, ``model_card.md``, ``predict.py``
and ``inference.py``; it runs with onnxruntime, tokenizers and numpy only.

Verification is part of every export: the fp32 ONNX logits must match PyTorch within
:data:`PARITY_TOLERANCE` on the validation texts, and the int8 model's agreement with
fp32 and macro-F1 on the test split are measured and recorded.

torch, transformers and onnxruntime are imported only when an export runs.
"""
from __future__ import annotations

import datetime as _dt
import logging
import os
import shutil
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from workbench.core.deploy import F1_DROP_WARNING, PARITY_TOLERANCE
from workbench.core.deploy.project_data import (
    default_export_dir,
    latest_export,
    read_run_file,
    resolve_run,
    store_predictions,
    training_figures,
    verification_data,
)
from workbench.core.errors import Cancelled, ModelError, WorkbenchError
from workbench.core.jobs import ProgressEvent
from workbench.core.settings import Settings, setting

__all__ = [
    "ExportConfig",
    "ExportOptions",
    "ExportEvent",
    "export_job",
    "ExportReport",
    "PARITY_TOLERANCE",
    "F1_DROP_WARNING",
    "export_run",
    "export_model",
    "default_export_dir",
    "latest_export",
    "store_predictions",
]

log = logging.getLogger(__name__)
#: A background job (the Label panel's trained suggestions, auto-retrain) and the Deploy
#: tab may export the same run at once: they take turns.
_ONE_AT_A_TIME = threading.Lock()


@dataclass
class ExportOptions(Settings):
    """The settings of a model export (keyword arguments of :func:`export_run`)."""

    SETTINGS_NAME: ClassVar[str] = "export"

    quantize: bool = setting(
        True,
        "Also write an int8 model with dynamic quantization (about 4x smaller, faster on "
        "CPU); its agreement with fp32 and its macro-F1 are checked and recorded.",
        label="Quantize to int8",
    )
    optimize: bool | None = setting(
        None,
        "Fuse the graph with onnxruntime's transformer optimizer before quantizing "
        "(BERT-family models). Automatic (not given) currently means off: on CPU it was "
        "measured no faster than the plain graph.",
        label="Fuse the graph before quantizing",
    )
    zip_bundle: bool = setting(
        False, "Also write a .zip of the bundle.", cli="--zip", label="Also write a .zip",
    )
    explainer: bool = setting(
        True,
        "Also write explainer.onnx for one-pass explanations (about as large as the model; "
        "without it a bundle explains by masking one word at a time, slower).",
        label="Fast explanations (explainer graph)",
    )

#: Texts used when neither a project nor validation texts are available.
FALLBACK_TEXTS = [
    "I was charged twice for my order, please refund the second payment.",
    "The app crashes every time I open the settings page.",
    "How do I reset my password?",
    "My package arrived damaged and two items are missing.",
    "Thanks, great service!",
    "Can I change the delivery address after ordering?",
    "I want to cancel my subscription.",
    "The invoice shows the wrong amount.",
]


@dataclass
class ExportEvent(ProgressEvent):
    """Progress of an export: step ``done`` of ``total``, with a readable message."""

    @property
    def step(self) -> int:
        """The step reached (``done``)."""
        return self.done


@dataclass
class ExportReport:
    """Where a bundle was written and the verification figures measured for it."""

    bundle_dir: Path
    labels: list[str]
    multi_label: bool
    max_length: int
    quantized: bool
    optimized: bool
    parity_max_abs_diff: float
    parity_texts: int
    parity_ok: bool
    parity_tolerance: float = PARITY_TOLERANCE
    run_id: int | None = None
    project: str | None = None
    base_model: str | None = None
    zip_path: Path | None = None
    agreement: float | None = None
    agreement_texts: int = 0
    test_texts: int = 0
    f1_fp32: float | None = None
    f1_int8: float | None = None
    f1_drop_points: float | None = None
    latency_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    sizes_bytes: dict[str, int] = field(default_factory=dict)
    quantization: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    created_at: str = ""
    model_card: str = ""
    windows: dict[str, Any] | None = None  # long records read in pooled windows (long_records.py)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly figures (paths as strings; the model card text left out)."""
        data = asdict(self)
        data.pop("model_card", None)
        data["bundle_dir"] = str(self.bundle_dir)
        data["zip_path"] = str(self.zip_path) if self.zip_path else None
        return data


class _Steps:
    def __init__(self, total: int, progress: Callable[[ExportEvent], None] | None,
                 should_stop: Callable[[], bool] | None) -> None:
        self.total, self.step = total, 0
        self.progress, self.should_stop = progress, should_stop

    def next(self, phase: str, message: str) -> None:
        if self.should_stop is not None and self.should_stop():
            raise Cancelled("Export cancelled.")
        self.step += 1
        log.info("export %d/%d: %s", self.step, self.total, message)
        if self.progress is not None:
            self.progress(ExportEvent(phase, self.step, self.total, message))


def _prepare_out_dir(out_dir: Path) -> Path:
    """Check the destination and return a staging folder beside it."""
    if out_dir.exists():
        if not out_dir.is_dir():
            raise WorkbenchError(f"{out_dir} exists and is not a folder.")
        if any(out_dir.iterdir()) and not (out_dir / "bundle.json").is_file():
            raise WorkbenchError(
                f"{out_dir} is not empty and is not an earlier bundle: choose an empty or new folder."
            )
    parent = out_dir.parent
    if not parent.exists():
        parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(out_dir)
    staging = parent / f".{out_dir.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    return staging


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # our own leftover from an earlier call: never in use now
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _remove_stale_staging(out_dir: Path) -> None:
    """Delete staging and replaced folders left by exports that were killed.

    They are hidden (``.<name>.partial-<pid>``, ``.<name>.old-<pid>``) and never taken for
    a bundle; removing them when their process is gone only frees the disk.
    """
    for kind in ("partial", "old"):
        for folder in out_dir.parent.glob(f".{out_dir.name}.{kind}-*"):
            pid = folder.name.rsplit("-", 1)[-1]
            if pid.isdigit() and not _pid_alive(int(pid)):
                shutil.rmtree(folder, ignore_errors=True)



def export_model(
    model_dir: str | Path,
    out_dir: str | Path,
    *,
    parity_texts: Sequence[str] = (),
    test_texts: Sequence[str] = (),
    test_labels: Sequence[Sequence[str]] = (),
    quantize: bool = True,
    optimize: bool | None = None,
    zip_bundle: bool = False,
    explainer: bool = True,
    training: dict[str, Any] | None = None,
    project_name: str | None = None,
    run_id: int | None = None,
    progress: Callable[[ExportEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ExportReport:
    """Export a Hugging Face sequence-classification folder with ``workbench_run.json``.

    ``optimize=True`` fuses BERT-family graphs with onnxruntime's transformer optimizer
    before quantizing (``None``, the default, currently means off). Raises :class:`ModelError`
    if the fp32 ONNX model does not match PyTorch; a large int8 macro-F1 drop is reported
    in ``warnings``. Nothing is left at ``out_dir`` unless the export succeeds.
    """
    from workbench.core.deploy import bundle, convert, verify
    from workbench.core.training.libraries import preload_training_libraries

    preload_training_libraries()  # torch/transformers imports are not thread-safe
    from workbench.core.deploy.explainer_export import write_explainer
    from workbench.core.deploy.inference import (
        FP32_MODEL_FILE,
        MODEL_FILE,
        TOKENIZER_FILE,
        Predictor,
    )

    model_dir, out_dir = Path(model_dir), Path(out_dir).resolve()
    info = read_run_file(model_dir)
    if run_id is not None:
        info["run_id"] = run_id
    if info.get("method_summary"):  # the method sentence of a few-label run, for the model card
        training = {**(training or {}), "method_summary": info["method_summary"]}
    steps = _Steps(7 if quantize else 5, progress, should_stop)
    staging = _prepare_out_dir(out_dir)
    try:
        steps.next("load", "Loading the trained model")
        model, tokenizer = convert.load_classifier(model_dir)
        labels = [str(x) for x in info["labels"]]
        if int(model.config.num_labels) != len(labels):
            raise ModelError(
                f"{model_dir}: workbench_run.json lists {len(labels)} labels but the model has {model.config.num_labels} outputs."
            )
        multi_label = bool(info.get("multi_label", False))
        thresholds = info.get("thresholds")
        tok_max = int(getattr(tokenizer, "model_max_length", 512) or 512)
        max_length = int(info.get("max_length") or min(tok_max, 512))
        max_length = min(max_length, int(getattr(model.config, "max_position_embeddings", max_length)))
        input_names = convert.model_input_names(model, tokenizer)
        tokenizer.backend_tokenizer.save(str(staging / TOKENIZER_FILE))
        config: dict[str, Any] = {
            "format": 1,
            "labels": labels,
            "multi_label": multi_label,
            "thresholds": thresholds if multi_label else None,
            "max_length": max_length,
            "input_names": input_names,
            "output_name": "logits",
            "pad_id": int(tokenizer.pad_token_id or 0),
            "model_file": MODEL_FILE,
            "fp32_model_file": FP32_MODEL_FILE if quantize else None,
            "run_id": info.get("run_id"),
            "base_model": info.get("base_model"),
            "temperature": info.get("temperature"),  # calibrated confidence (calibration.py)
            "windows": info.get("windows"),  # long records: pooled windows (long_records.py)
        }
        bundle.write_bundle_config(staging, config)

        steps.next("export", "Converting to ONNX (fp32)")
        raw = staging / "model.raw.onnx"
        convert.export_fp32(model, tokenizer, raw, input_names)
        if optimize is None:
            # Off by default: in benchmarks/serve.py the offline-fused int8 MiniLM was no
            # faster at batch 1 and ~20% slower at batch 32 than the plain graph, which
            # onnxruntime fuses itself when the session is created.
            optimize = False
        candidates = [raw]
        if optimize:
            steps.next("optimize", "Optimizing the graph")
            opt = staging / "model.opt.onnx"
            if convert.optimize_graph(raw, opt, model.config):
                candidates.insert(0, opt)
        else:
            steps.next("optimize", "Graph optimization off")

        steps.next("verify", "Checking ONNX against PyTorch")
        texts = [t for t in parity_texts if t and t.strip()] or FALLBACK_TEXTS
        reference = verify.torch_logits(model, tokenizer, texts, max_length, windows=info.get("windows"))
        chosen, diff = None, float("inf")
        for cand in candidates:
            pred = Predictor.load(staging, model_file=cand.name)
            d = float(abs(pred.predict_logits(texts) - reference).max()) if len(texts) else 0.0
            log.info("parity of %s: %.2e", cand.name, d)
            if d <= PARITY_TOLERANCE:
                chosen, diff = cand, d
                break
            diff = min(diff, d)
        if chosen is None:
            raise ModelError(
                f"The ONNX model does not match PyTorch: logits differ by up to {diff:.2e} "
                f"(tolerance {PARITY_TOLERANCE:.0e}). The export was not written."
            )
        optimized = chosen.name == "model.opt.onnx"
        fp32_name = FP32_MODEL_FILE if quantize else MODEL_FILE
        chosen.rename(staging / fp32_name)
        for cand in candidates:
            cand.unlink(missing_ok=True)
        config["explainer_file"] = write_explainer(  # one-pass explanations (explain.py)
            model, tokenizer, staging, input_names, texts=texts, max_length=max_length,
            quantize=quantize, tolerance=PARITY_TOLERANCE) if explainer else None
        del model

        report = ExportReport(
            bundle_dir=out_dir, labels=labels, multi_label=multi_label, max_length=max_length,
            quantized=quantize, optimized=optimized, parity_max_abs_diff=diff,
            parity_texts=len(texts), parity_ok=True, run_id=info.get("run_id"),
            project=project_name, base_model=info.get("base_model"),
            created_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            test_texts=len(test_texts), windows=info.get("windows"),
        )
        fp32 = Predictor.load(staging, model_file=fp32_name)
        check_texts = list(test_texts) or texts
        fp32_dec = verify.decisions(fp32.predict_proba(check_texts), multi_label, thresholds)
        if test_texts:
            report.f1_fp32 = verify.macro_f1(test_labels, fp32_dec, labels, multi_label)
        report.sizes_bytes["fp32"] = (staging / fp32_name).stat().st_size
        if quantize:
            steps.next("quantize", "Quantizing to int8")
            report.quantization = convert.quantize_int8(staging / fp32_name, staging / MODEL_FILE)
            runtime = convert.store_runtime_optimized(staging / MODEL_FILE)
            report.quantization["stored_graph"] = f"onnxruntime {runtime} extended optimizations"
            config["onnxruntime_version"] = runtime
            steps.next("verify", "Checking int8 against fp32")
            int8 = Predictor.load(staging)
            int8_dec = verify.decisions(int8.predict_proba(check_texts), multi_label, thresholds)
            report.agreement = verify.agreement(fp32_dec, int8_dec)
            report.agreement_texts = len(check_texts)
            if test_texts:
                report.f1_int8 = verify.macro_f1(test_labels, int8_dec, labels, multi_label)
                report.f1_drop_points = round(100 * (report.f1_fp32 - report.f1_int8), 3)
                warning = verify.f1_drop_warning(report.f1_fp32, report.f1_int8)
                if warning:
                    report.warnings.append(warning)
            report.sizes_bytes["int8"] = (staging / MODEL_FILE).stat().st_size
            report.latency_ms["int8"] = verify.batch1_latency_ms(int8, check_texts)
            del int8
        report.latency_ms["fp32"] = verify.batch1_latency_ms(fp32, check_texts)
        del fp32

        steps.next("write", "Writing the bundle")
        report.model_card = bundle.write_model_card(staging, report.to_dict(), training)
        config["verification"] = {
            k: v for k, v in report.to_dict().items()
            if k not in ("bundle_dir", "zip_path", "labels", "multi_label", "max_length")
        }
        bundle.write_bundle_config(staging, config)
        bundle.copy_runtime(staging)
        bundle.publish(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if zip_bundle:
        report.zip_path = bundle.zip_folder(out_dir)
    for warning in report.warnings:
        log.warning("%s", warning)
    return report


def export_run(
    project_path: str | Path,
    run: str | int = "latest",
    out_dir: str | Path | None = None,
    quantize: bool = True,
    optimize: bool | None = None,
    zip_bundle: bool = False,
    explainer: bool = True,
    progress: Callable[[ExportEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ExportReport:
    """Export a project's run ("latest" completed one, or an id) as a verified bundle.

    ``out_dir`` defaults to ``<project>.models/exports/run-<id>``. Opens its own project
    connection (safe to call from a worker thread).
    """
    from workbench.core.store.project import Project

    with Project.open(project_path) as project:
        spans = project.is_spans
    if spans:  # entities: token classification bundle (core/spans)
        from workbench.core.spans.span_export_onnx import export_span_run

        return export_span_run(project_path, run, out_dir, make_report=ExportReport,
                               make_event=ExportEvent, quantize=quantize,
                               zip_bundle=zip_bundle, progress=progress,
                               should_stop=should_stop)
    with Project.open(project_path) as project:
        row = resolve_run(project, run)
        parity, test_texts, test_gold = verification_data(project)
        training = training_figures(project)
        training["results"] = row["metrics"]  # the model card's plain summary and calibration
        name = project.name
        path = project.path
    target = Path(out_dir) if out_dir else default_export_dir(path, row["run_id"])
    with _ONE_AT_A_TIME:  # exports of one process share staging names (pid)
        report = export_model(
            row["model_path"], target,
            parity_texts=parity, test_texts=test_texts, test_labels=test_gold,
            quantize=quantize, optimize=optimize, zip_bundle=zip_bundle, explainer=explainer,
            training=training, project_name=name, run_id=row["run_id"], progress=progress, should_stop=should_stop,
        )
    return report


@dataclass
class ExportConfig(ExportOptions):
    """Which run to export and where, with the :class:`ExportOptions` (int8, optimised
    graph, zip): the config of :func:`export_job`."""

    run: str | int = setting("latest", "The run to export: its number, or the newest "
                             "run that saved a model.")
    out_dir: str | None = setting(None, "Folder for the bundle (default: beside the project).")


def export_job(
    project_path: str | Path,
    config: ExportConfig,
    *,
    progress: Callable[[ExportEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ExportReport:
    """The export job (see :mod:`workbench.core.jobs`): :func:`export_run` with ``config``."""
    return export_run(
        project_path, run=config.run, out_dir=config.out_dir, quantize=config.quantize,
        optimize=config.optimize, zip_bundle=config.zip_bundle, explainer=config.explainer,
        progress=progress, should_stop=should_stop,
    )
