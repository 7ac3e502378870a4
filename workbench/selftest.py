"""``workbench --self-test``: check an installed or frozen build end to end.

The self-test makes a temporary project, imports the shipped demo data, trains a few
steps of a tiny randomly initialised BERT (built on the spot, so no download and only
seconds of work), exports and quantizes it to ONNX, predicts with the exported bundle and,
unless ``--no-window``, builds the main window off screen on the same project. Each step
prints its name, time and result; the first failing step stops the test with exit code 1
and names the step and the error. A packager runs it on a clean machine to verify a build.

This module imports no Qt (the window step imports the GUI only when it runs) and no
torch at import time.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

__all__ = ["main", "make_tiny_base_model", "STEP_NAMES"]

#: Words of the tiny model's vocabulary (single characters and ``##`` pieces are added, so
#: every text tokenizes).
_WORDS = (
    "the a an and or but to of in on for with is are was be it this that my your our i you "
    "me we they not no yes can cannot would like want need please thanks help hi hello "
    "order refund money charge charged card payment pay bill invoice price fee account login "
    "log password reset email profile delivery deliver shipping ship package parcel late "
    "arrived broken damaged missing tracking address cancel return exchange subscription "
    "app website site crash crashes error bug slow page work working doesn't great good bad "
    "terrible love hate fast happy service support thank why how where when what"
).split()

#: Messages predicted in the last step (one per demo intent, roughly).
SAMPLE_TEXTS = [
    "I was charged twice for my subscription this month.",
    "Where is my parcel? Tracking has not moved for a week.",
    "I want to return these shoes and get my money back.",
    "I can't log in, the password reset email never arrives.",
    "The app crashes every time I open the settings page.",
    "Great service, thank you so much!",
]


def make_tiny_base_model(folder: Path, *, hidden: int = 32, layers: int = 2, seed: int = 0) -> Path:
    """Write a tiny random BERT base model (config, safetensors, WordPiece tokenizer)."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    chars = "abcdefghijklmnopqrstuvwxyz0123456789'"
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(set(_WORDS))
    vocab += [c for c in chars + ".,!?-" if c not in vocab] + ["##" + c for c in chars]
    # The vocabulary goes in as a dict: transformers 5 ignores ``vocab_file`` here and
    # would keep only the special tokens.
    tokenizer = BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True)
    tokenizer.model_max_length = 128
    tokenizer.save_pretrained(folder)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=hidden * 2,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(folder, safe_serialization=True)
    return folder


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


@dataclass
class _State:
    """What the steps hand on to each other."""

    work: Path
    args: argparse.Namespace
    project_path: Path | None = None
    base_model: str = ""
    run_id: int | None = None
    bundle_dir: Path | None = None
    labels: list[str] = field(default_factory=list)


class SelfTestFailure(Exception):
    """A step ran but its result is wrong."""


# ---------------------------------------------------------------------------- steps
def _step_environment(state: _State) -> str:
    import numpy
    import onnxruntime
    import torch
    import transformers

    from workbench import __version__

    cuda = torch.cuda.is_available()
    frozen = "frozen" if getattr(sys, "frozen", False) else "python"
    return (
        f"workbench {__version__} ({frozen}), Python {platform.python_version()} on "
        f"{platform.system()} {platform.machine()}; torch {torch.__version__} "
        f"(CUDA {'available: ' + torch.cuda.get_device_name(0) if cuda else 'not available'}), "
        f"transformers {transformers.__version__}, onnxruntime {onnxruntime.__version__}, "
        f"numpy {numpy.__version__}"
    )


def _step_resources(state: _State) -> str:
    from workbench.core.resources import resource_path
    from workbench.core.training import bundled_model_path

    missing = [
        str(p)
        for p in (
            resource_path("demo", "support_messages.csv"),
            resource_path("icons", "workbench.png"),
            resource_path("style.qss"),
        )
        if not p.is_file()
    ]
    model = bundled_model_path()
    for name in ("config.json", "model.safetensors"):
        if not (model / name).is_file():
            missing.append(str(model / name))
    if not any((model / n).is_file() for n in ("tokenizer.json", "vocab.txt")):
        missing.append(str(model / "tokenizer.json"))
    if missing:
        raise SelfTestFailure("missing shipped files: " + ", ".join(missing))
    return f"demo data, icons, stylesheet; bundled base model {_mb(_size(model))} at {model}"


def _step_import(state: _State) -> str:
    from workbench.core.data.importer import import_file
    from workbench.core.resources import resource_path
    from workbench.core.store.project import Project

    state.project_path = state.work / "self-test.wbproj"
    with Project.create(state.project_path) as project:
        report = import_file(
            project,
            resource_path("demo", "support_messages.csv"),
            text_col="text",
            id_col="id",
            label_col="intent",
            add_labels=True,
        )
        state.labels = project.label_names()
        stats = project.stats()
    if report.added < 100 or len(state.labels) < 2 or not report.labelled:
        raise SelfTestFailure(f"the demo import looks wrong: {report.summary()}")
    return f"{report.summary()}; {stats['records']} records, labels {', '.join(state.labels)}"


def _step_base_model(state: _State) -> str:
    choice = state.args.base_model
    if choice == "tiny":
        folder = make_tiny_base_model(state.work / "tiny-base-model")
        state.base_model = str(folder)
        return f"tiny random BERT (hidden 32, 2 layers), {_mb(_size(folder))}"
    from workbench.core.training import validate_base_model

    info = validate_base_model(choice)
    state.base_model = str(info.path) if choice != "bundled" else "bundled"
    return f"{info.model_type}, {info.num_layers} layers, hidden {info.hidden_size}, at {info.path}"


def _step_train(state: _State) -> str:
    from workbench.core.training import TrainConfig, train_project

    assert state.project_path is not None
    config = TrainConfig(
        base_model=state.base_model,
        method="finetune",  # the self-test checks the torch training loop on this device
        epochs=1,
        batch_size=8,
        max_length=64,
        max_steps=state.args.steps,
        learning_rate=1e-3 if state.args.base_model == "tiny" else 0.0,
        device=state.args.device,
    )
    result = train_project(state.project_path, config)
    if result.status != "completed":
        raise SelfTestFailure(f"training ended {result.status}: {result.error or 'no details'}")
    if result.model_path is None or not Path(result.model_path, "config.json").is_file():
        raise SelfTestFailure(f"training saved no model (run {result.run_id})")
    state.run_id = result.run_id
    figures = ", ".join(
        f"{k} {v:.3f}" for k, v in result.metrics.items() if isinstance(v, float) and "f1" in k
    )
    return f"run {result.run_id}, {state.args.steps} steps on {state.args.device}; {figures or 'done'}"


def _step_export(state: _State) -> str:
    from workbench.core.deploy.onnx_export import export_run

    assert state.project_path is not None and state.run_id is not None
    report = export_run(
        state.project_path, run=state.run_id, out_dir=state.work / "bundle", quantize=True,
        optimize=True if state.args.optimize else None,
    )
    state.bundle_dir = Path(report.bundle_dir)
    if not report.parity_ok:
        raise SelfTestFailure(
            f"ONNX logits differ from PyTorch by {report.parity_max_abs_diff:.2e} "
            f"(tolerance {report.parity_tolerance:.0e})"
        )
    onnx_files = sorted(p.name for p in state.bundle_dir.glob("*.onnx"))
    fused = "; graph fused" if report.optimized else ""
    return (
        f"{', '.join(onnx_files)} ({_mb(_size(state.bundle_dir / 'model.onnx'))} int8{fused}); "
        f"parity max |diff| {report.parity_max_abs_diff:.1e} on {report.parity_texts} texts"
    )


def _step_predict(state: _State) -> str:
    import numpy as np

    from workbench.core.deploy.inference import Predictor

    assert state.bundle_dir is not None
    predictor = Predictor.load(state.bundle_dir)
    if list(predictor.labels) != list(state.labels):
        raise SelfTestFailure(f"bundle labels {predictor.labels} != project labels {state.labels}")
    probs = predictor.predict_proba(SAMPLE_TEXTS)
    if probs.shape != (len(SAMPLE_TEXTS), len(state.labels)) or not np.all(np.isfinite(probs)):
        raise SelfTestFailure(f"unexpected probabilities of shape {probs.shape}")
    if not predictor.multi_label and not np.allclose(probs.sum(axis=1), 1.0, atol=1e-3):
        raise SelfTestFailure("probabilities do not sum to 1")
    results = predictor.predict(SAMPLE_TEXTS[:2])
    shown = "; ".join(
        f"{text[:28]!r} -> {res.get('label', res.get('labels'))}"
        for text, res in zip(SAMPLE_TEXTS[:2], results, strict=True)
    )
    return f"{len(SAMPLE_TEXTS)} texts; {shown}"


def _step_window(state: _State) -> str:
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings, QStandardPaths

    from workbench.gui.app import make_application
    from workbench.gui.main_window import MainWindow

    assert state.project_path is not None
    QStandardPaths.setTestModeEnabled(True)
    app = make_application()
    settings = QSettings(str(state.work / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings)
    try:
        if not window.open_project(state.project_path):
            raise SelfTestFailure("the main window could not open the project")
        window.resize(1200, 800)
        image = window.grab().toImage()
        if image.isNull():
            raise SelfTestFailure("the main window rendered nothing")
        panels = dict(getattr(window, "panels", {}))
        try:
            from workbench.gui.widgets.placeholder import PlaceholderPanel
        except ImportError:  # no placeholders in this version
            PlaceholderPanel = ()  # noqa: N806
        missing = [title for title, panel in panels.items() if isinstance(panel, PlaceholderPanel)]
        if missing:
            # Every panel ships with the app: a placeholder means one failed to import
            # (in a frozen build, usually a module or library left out of the bundle).
            raise SelfTestFailure(
                f"panel(s) not loaded: {', '.join(missing)} (the log above says why)"
            )
    finally:
        shutdown = getattr(window, "shutdown", None)
        if callable(shutdown):
            shutdown()
        window.close()
        window.deleteLater()
    return (
        f"Qt platform {app.platformName()}, rendered {image.width()}x{image.height()}, "
        f"panels {', '.join(panels)}"
    )


_STEPS: list[tuple[str, Callable[[_State], str]]] = [
    ("environment", _step_environment),
    ("resources", _step_resources),
    ("import", _step_import),
    ("base model", _step_base_model),
    ("train", _step_train),
    ("export", _step_export),
    ("predict", _step_predict),
    ("window", _step_window),
]
STEP_NAMES = [name for name, _ in _STEPS]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbench --self-test",
        description="Check this Workbench installation end to end: import the demo data, "
        "train a few steps, export to ONNX, predict and build the window off screen.",
    )
    parser.add_argument("--self-test", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--base-model",
        default="tiny",
        help="'tiny' (a random model made on the spot; the default, seconds), 'bundled' "
        "(the shipped MiniLM; a minute or more) or a model folder",
    )
    parser.add_argument("--steps", type=int, default=4, help="training steps (default 4)")
    parser.add_argument(
        "--device", default="cpu", choices=("auto", "cpu", "cuda", "mps"),
        help="where to train (default cpu; 'auto' uses a GPU when there is one)",
    )
    parser.add_argument(
        "--optimize", action="store_true",
        help="also fuse the graph with onnxruntime's transformer optimizer before quantizing",
    )
    parser.add_argument("--no-window", action="store_true", help="skip the window step")
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep its files")
    parser.add_argument("--debug", action="store_true", help="print the traceback of a failure")
    return parser


def _run_steps(state: _State, out: TextIO) -> tuple[str | None, BaseException | None]:
    steps = [(n, f) for n, f in _STEPS if not (n == "window" and state.args.no_window)]
    for index, (name, func) in enumerate(steps, 1):
        print(f"[{index}/{len(steps)}] {name} ...", file=out, flush=True)
        start = time.perf_counter()
        try:
            detail = func(state)
        except BaseException as exc:  # report any failure as the step's failure
            if isinstance(exc, KeyboardInterrupt):
                raise
            elapsed = time.perf_counter() - start
            print(f"      FAILED after {elapsed:.1f} s: {type(exc).__name__}: {exc}", file=out, flush=True)
            if state.args.debug:
                traceback.print_exc(file=out)
            return name, exc
        elapsed = time.perf_counter() - start
        print(f"      ok in {elapsed:.1f} s: {detail}", file=out, flush=True)
    return None, None


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the self-test; returns 0 when every step passed, 1 on the first failure."""
    out = out or sys.stdout
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.steps < 1:
        print("error: --steps must be at least 1", file=sys.stderr)
        return 2
    # Never reach for the network: everything the test needs is shipped or made here.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    print("Workbench self-test", file=out, flush=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="workbench-self-test-") as tmp:
        work = Path(args.keep) if args.keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        state = _State(work=work, args=args)
        failed, exc = _run_steps(state, out)
    total = time.perf_counter() - started
    if failed is not None:
        print(f"self-test: FAILED at step '{failed}': {type(exc).__name__}: {exc}", file=out)
        return 1
    print(f"self-test: ok ({total:.1f} s)", file=out)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
