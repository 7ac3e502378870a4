"""Deploy commands: ``predict`` (run an exported bundle) and the model side of ``export``.

``workbench export PROJECT --out DIR`` is parsed by :mod:`workbench.cli.data`, which hands
over to :func:`run_model_export`. Heavy modules are imported inside the handlers.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["register", "run_model_export", "cmd_predict"]


def _percent(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}"


def _print_report(report: Any) -> None:
    r = report
    print(f"Exported run {r.run_id} to {r.bundle_dir}")
    print(f"  ONNX fp32 vs PyTorch: max logit difference {r.parity_max_abs_diff:.2e} over "
          f"{r.parity_texts} texts (tolerance {r.parity_tolerance:.0e}) - passed")
    if r.quantized:
        print(f"  int8 vs fp32: {_percent(r.agreement)}% same predictions on {r.agreement_texts} "
              f"{'test' if r.test_texts else 'sample'} texts")
    if r.test_texts:
        line = f"  macro-F1 on {r.test_texts} test texts: fp32 {_percent(r.f1_fp32)}"
        if r.quantized:
            line += f", int8 {_percent(r.f1_int8)} (drop {r.f1_drop_points:.2f} points)"
        print(line)
    else:
        print("  no labelled test records: macro-F1 not measured")
    sizes = ", ".join(f"{k} {v / 2**20:.1f} MB" for k, v in r.sizes_bytes.items())
    lat = ", ".join(f"{k} {v['p50']:.1f} ms" for k, v in r.latency_ms.items())
    print(f"  size: {sizes}; latency (one text, median): {lat}")
    print(f"  graph fused before quantizing: {'yes' if r.optimized else 'no'}")
    if r.zip_path:
        print(f"  zip: {r.zip_path}")


class _StderrProgress:
    def __call__(self, event: Any) -> None:
        print(f"[{event.step}/{event.total}] {event.message}", file=sys.stderr, flush=True)


def run_model_export(args: argparse.Namespace) -> int:
    """``workbench export PROJECT --out DIR [--run ID] [--no-quantize] [--no-optimize]
    [--zip] [--json]``: export a run as a verified ONNX bundle."""
    from workbench.core.deploy.onnx_export import export_run

    out_dir = getattr(args, "out_dir", None) or getattr(args, "out", None)
    report = export_run(
        args.project,
        run=getattr(args, "run", None) or "latest",
        out_dir=out_dir,
        quantize=not getattr(args, "no_quantize", False),
        optimize=False if getattr(args, "no_optimize", False) else (
            True if getattr(args, "optimize", False) else None),
        zip_bundle=bool(getattr(args, "zip", False)),
        progress=None if getattr(args, "json", False) else _StderrProgress(),
    )
    if getattr(args, "json", False):
        print(json.dumps(report.to_dict(), indent=2))
    else:
        _print_report(report)
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """``workbench predict BUNDLE [TEXT ...] [--input FILE --text-col C --output FILE] [--json]``."""
    from workbench.core.deploy.inference import run_predict

    return run_predict(args.bundle, args)


class _IntermixedParser(argparse.ArgumentParser):
    """Lets options and texts mix (``predict BUNDLE --json "a" "b"``): plain argparse
    would give the TEXT list nothing once an option follows BUNDLE."""

    _parsing = False

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        if self._parsing:
            return super().parse_known_args(args, namespace)
        self._parsing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._parsing = False


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``predict`` command (the model export is an option of ``export``)."""
    from workbench.core.deploy.inference import add_predict_arguments

    p = subparsers.add_parser(
        "predict", help="classify texts with an exported model bundle",
        description="Classify texts with an exported model bundle (the folder written by "
        "`workbench export PROJECT --out DIR`). Give texts as arguments, or --input FILE "
        "(TXT one text per line, CSV, TSV or JSONL) with --output FILE (CSV or JSONL). "
        "The bundle's own predict.py takes the same arguments and needs only onnxruntime, "
        "tokenizers and numpy.")
    p.__class__ = _IntermixedParser
    p.add_argument("bundle", metavar="BUNDLE", help="the bundle folder")
    add_predict_arguments(p)
    p.set_defaults(handler=cmd_predict)
