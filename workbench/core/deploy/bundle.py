"""Writing the files of a bundle: config, model card, predict.py and its runtime modules."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from workbench.core.deploy import card_words

__all__ = [
    "RUNTIME_MODULES", "TEMPLATE_DIR", "write_bundle_config", "copy_runtime", "write_model_card", "zip_folder",
    "publish",
]

TEMPLATE_DIR = Path(__file__).resolve().parent / "bundle_template"
#: Modules copied into every bundle (standalone: they import only each other).
RUNTIME_MODULES = (
    "inference.py", "predict_cli.py", "bundle_config.py", "explain.py", "span_runtime.py",
    "span_explain.py",
)
_HERE = Path(__file__).resolve().parent


def write_bundle_config(folder: Path, config: dict[str, Any]) -> None:
    """Write ``bundle.json`` (labels, max length, thresholds, input names, figures)."""
    (folder / "bundle.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def copy_runtime(folder: Path) -> None:
    """Copy ``predict.py`` and the standalone runtime (:data:`RUNTIME_MODULES`) into the
    bundle."""
    shutil.copyfile(TEMPLATE_DIR / "predict.py", folder / "predict.py")
    for name in RUNTIME_MODULES:
        shutil.copyfile(_HERE / name, folder / name)


def zip_folder(folder: Path) -> Path:
    """Zip a bundle folder to ``<folder>.zip`` beside it (the folder name is the zip's root)."""
    archive = shutil.make_archive(str(folder), "zip", root_dir=folder.parent, base_dir=folder.name)
    return Path(archive)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _f1(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _ms(d: dict[str, float] | None) -> str:
    return "n/a" if not d else f"{d['p50']:.1f} ms / {d['p95']:.1f} ms"


def _mb(n: int | None) -> str:
    if n is None:
        return "n/a"
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n / 2**10:.0f} KB"


def _long_records(report: dict[str, Any]) -> str:
    windows = report.get("windows")
    if not windows:
        return "(longer texts are truncated)"
    return (f"(longer texts are read in windows of {report['max_length']} tokens overlapping by "
            f"{windows['stride']}, their scores combined by their {windows['pooling']})")


def write_model_card(folder: Path, report: dict[str, Any], training: dict[str, Any] | None) -> str:
    """Write ``model_card.md`` from an export report's figures; returns the text."""
    labels = report["labels"]
    task = "multi-label" if report["multi_label"] else "single-label"
    title = report.get("project") or "model"
    run = f" - run {report['run_id']}" if report.get("run_id") is not None else ""
    lines = [
        f"# Model card: {title}{run}",
        "",
        *card_words.summary_lines(report, training),
        "## Details",
        "",
        f"- Exported: {report['created_at']}",
        f"- Base model: {report.get('base_model') or 'unknown'}",
        f"- Task: {task} text classification into {len(labels)} labels: {', '.join(labels)}",
        f"- Maximum input length: {report['max_length']} tokens " + _long_records(report),
        f"- Files: `model.onnx` ({'int8 dynamic quantization, per-channel weights' if report['quantized'] else 'fp32'})"
        + (", `model.fp32.onnx` (fp32 reference)" if report["quantized"] else "")
        + f"; graph fused before quantizing: {'yes' if report['optimized'] else 'no'}",
    ]
    stored = (report.get("quantization") or {}).get("stored_graph")
    if stored:
        lines.append(f"- `model.onnx` is stored with {stored} applied: run it with that "
                     "onnxruntime version or newer")
    lines += [
        "",
        "## Training data",
        "",
    ]
    if training:
        splits = ", ".join(f"{k} {v}" for k, v in sorted(training.get("by_split", {}).items()))
        lines.append(
            f"{training['labelled']} labelled examples ({splits or 'no splits'}); "
            f"{training['train_examples']} used for training:"
        )
        lines += ["", "| Label | Training examples |", "|---|---|"]
        for name in labels:
            lines.append(f"| {name} | {training.get('train_by_label', {}).get(name, 0)} |")
    else:
        lines.append("Not recorded (exported from a model folder without its project).")
    if training and training.get("method_summary"):  # how the model was trained (auto choice)
        lines += ["", str(training["method_summary"])]
    n_test = report.get("test_texts") or 0
    lines += [
        "",
        "## Verification (measured at export)",
        "",
        f"- ONNX fp32 vs PyTorch: largest logit difference {report['parity_max_abs_diff']:.2e} "
        f"over {report['parity_texts']} texts (tolerance {report['parity_tolerance']:.0e}): "
        + ("passed" if report["parity_ok"] else "FAILED"),
    ]
    if report["quantized"]:
        lines.append(
            f"- int8 vs fp32: same prediction for {_pct(report.get('agreement'))} of "
            f"{report.get('agreement_texts', 0)} {'test' if n_test else 'sample'} texts"
        )
    lines += [
        "",
        "| | fp32 ONNX | " + ("int8 ONNX |" if report["quantized"] else ""),
        "|---|---|" + ("---|" if report["quantized"] else ""),
    ]
    lat = report.get("latency_ms", {})
    sizes = report.get("sizes_bytes", {})
    rows = [
        (f"Macro-F1, test split (n={n_test})", _f1(report.get("f1_fp32")), _f1(report.get("f1_int8"))),
        ("Latency, one text (p50 / p95)", _ms(lat.get("fp32")), _ms(lat.get("int8"))),
        ("File size", _mb(sizes.get("fp32")), _mb(sizes.get("int8"))),
    ]
    for name, a, b in rows:
        lines.append(f"| {name} | {a} | " + (f"{b} |" if report["quantized"] else ""))
    if not n_test:
        lines += ["", "No labelled test records: macro-F1 was not measured."]
    for warning in report.get("warnings", []):
        lines += ["", f"**Warning:** {warning}"]
    lines += [
        "",
        "Latency is measured on the exporting machine, one text per call, tokenization included.",
        "",
        *card_words.calibration_lines(training),
        "## Intended use and limits",
        "",
        "- Intended use: assigning the labels above to short texts like those it was trained on "
        "(the project's records). Review its output before acting on it; use the probabilities to "
        "route uncertain texts to a person.",
        "- Limits: it knows only these labels and will pick one of them even for unrelated text. "
        "Accuracy on other domains, languages, or text styles has not been measured. The figures "
        "above come from a small held-out test split and vary with it. Quantization to int8 "
        "changes a small share of predictions (see agreement).",
        "",
        "## Usage",
        "",
        "```",
        "pip install onnxruntime tokenizers numpy",
        'python predict.py "text to classify"',
        "python predict.py --input texts.csv --text-col text --output predictions.csv",
        "```",
        "",
    ]
    text = "\n".join(lines)
    (folder / "model_card.md").write_text(text, encoding="utf-8")
    return text


def publish(staging: Path, target: Path) -> None:
    """Replace ``target`` with the finished ``staging`` folder (a bundle's last step): an
    earlier bundle there is moved aside (hidden ``.<name>.old-<pid>``) and removed only
    once the new one is in place."""
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
    staging.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
