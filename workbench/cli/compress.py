"""Compression commands: ``distill``, ``prune``, ``trim-vocab`` and ``variants``; and
``export --variant NAME`` (parsed by :mod:`workbench.cli.data`, handed to
:func:`run_variant_export`). Heavy modules are imported inside the handlers.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from typing import Any

__all__ = ["register", "run_variant_export", "print_variant_table"]


class ProgressLines:
    """Progress on stderr: every message, and a step line every few seconds."""

    def __init__(self, interval: float = 3.0) -> None:
        self.interval, self.last = interval, 0.0

    def __call__(self, event: Any) -> None:
        if event.message:
            print(f"{event.phase}: {event.message}", file=sys.stderr, flush=True)
        elif event.total and (time.monotonic() - self.last >= self.interval or event.done == event.total):
            self.last = time.monotonic()
            loss = event.details.get("loss")
            extra = f", loss {loss:.4f}" if loss is not None else ""
            print(f"{event.phase}: step {event.done}/{event.total}{extra}", file=sys.stderr, flush=True)


class StopOnInterrupt:
    """First Ctrl-C: cancel at the next step (nothing is written); second: abort."""

    def __init__(self) -> None:
        self.requested, self.previous = False, None

    def __enter__(self) -> StopOnInterrupt:
        try:
            self.previous = signal.signal(signal.SIGINT, self.handle)
        except ValueError:
            self.previous = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)

    def handle(self, _signum: int, _frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("cancelling after this step (Ctrl-C again to abort)", file=sys.stderr, flush=True)

    def __call__(self) -> bool:
        return self.requested


def _run_job(job: Any, config_cls: Any, args: argparse.Namespace) -> int:
    from workbench.cli.common import config_from_args

    config = config_from_args(config_cls, args)
    with StopOnInterrupt() as stop:
        result = job(args.project, config, progress=None if args.json else ProgressLines(), should_stop=stop)
    if args.json:
        print(json.dumps(result.to_dict(), default=str))
    else:
        m = result.metrics
        print(f"Run {result.run_id}: {result.method} of run {result.parent_run}; model in {result.model_path}")
        if m.get("macro_f1") is not None:
            agree = result.details.get("agreement_with_teacher")
            print(f"  test macro-F1 {100 * m['macro_f1']:.1f}"
                  + (f", agreement with run {result.parent_run} {100 * agree:.1f}%" if agree is not None else ""))
        if m.get("entity_f1") is not None:
            agree = result.details.get("agreement_with_teacher")
            print(f"  test entity F1 {100 * m['entity_f1']:.1f}"
                  + (f", span agreement with run {result.parent_run} {100 * agree:.1f}%" if agree is not None else ""))
        if "vocab_after" in result.details:
            d = result.details
            print(f"  vocabulary {d['vocab_before']} -> {d['vocab_after']} pieces; logits identical "
                  f"(max difference {d['logit_max_abs_diff']:.1e} on {d['logit_texts']} texts)")
    return 0


def cmd_distill(args: argparse.Namespace) -> int:
    from workbench.core.compress.distill import DistillConfig, distill_job

    return _run_job(distill_job, DistillConfig, args)


def cmd_prune(args: argparse.Namespace) -> int:
    from workbench.core.compress.prune import PruneConfig, prune_job

    return _run_job(prune_job, PruneConfig, args)


def cmd_trim(args: argparse.Namespace) -> int:
    from workbench.core.compress.trim import TrimConfig, trim_job

    return _run_job(trim_job, TrimConfig, args)


def _cell(value: Any, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def print_variant_table(rows: list[dict[str, Any]]) -> None:
    print(f"{'variant':<24} {'run':>4} {'size MB':>8} {'bundle MB':>9} {'b1 p50 ms':>10} {'b32 texts/s':>12} "
          f"{'entity F1' if any(r.get('f1_kind') for r in rows) else 'macro-F1':>9} {'agreement':>10}  int8")
    for r in rows:
        f1 = r["macro_f1"] if r["macro_f1"] is not None else r.get("entity_f1")
        f1 = None if f1 is None else 100 * f1
        agree = None if r["agreement"] is None else 100 * r["agreement"]
        print(f"{r['name']:<24} {r['run_id']:>4} {_cell(r['size_mb'], '8.2f')} {_cell(r.get('bundle_mb'), '9.2f')} {_cell(r['b1_p50_ms'], '10.2f')} "
              f"{_cell(r['b32_texts_per_s'], '12.1f')} {_cell(f1, '9.1f')} {_cell(agree, '10.1f')}  "
              f"{r['int8_method'] or ''}")


def cmd_variants(args: argparse.Namespace) -> int:
    from workbench.core.compress.variant_export import MeasureVariantsConfig, measure_variants_job
    from workbench.core.compress.variants import list_variants, variant_rows
    from workbench.core.store.project import Project

    if args.measure:
        with StopOnInterrupt() as stop:
            rows = measure_variants_job(args.project, MeasureVariantsConfig(run=args.run, only_missing=not args.again),
                                        progress=None if args.json else ProgressLines(), should_stop=stop)
    else:
        with Project.open(args.project) as project:
            rows = variant_rows(list_variants(project, args.run))
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print_variant_table(rows)
        if not all(r["size_mb"] is not None for r in rows):
            print("(variants without figures are measured when exported, or with --measure)")
    return 0


def run_variant_export(args: argparse.Namespace) -> int:
    """``workbench export PROJECT --run ID --variant NAME [--out DIR] [--json]``."""
    from workbench.core.compress.variant_export import export_variant

    with StopOnInterrupt() as stop:
        figures = export_variant(args.project, getattr(args, "run", None) or "latest", args.variant,
                                 getattr(args, "out", None),
                                 progress=None if args.json else ProgressLines(), should_stop=stop,
                                 explainer=getattr(args, "explainer", None) is True)  # off unless --explainer
    if args.json:
        print(json.dumps(figures, indent=2, default=str))
    else:
        print(f"Exported variant {figures['name']} (run {figures['run_id']}) to {figures['bundle_dir']}")
        print_variant_table([{**figures, "run_id": figures["run_id"]}])
        if figures.get("int8_why"):
            print(f"  int8: {figures['int8_why']}")
    return 0


def register(subparsers: Any) -> None:
    """Add ``distill``, ``prune``, ``trim-vocab`` and ``variants``."""
    from workbench.cli.common import add_config_arguments
    from workbench.core.compress.distill import DistillConfig
    from workbench.core.compress.prune import PruneConfig
    from workbench.core.compress.trim import TrimConfig

    for name, cls, handler, text in (
        ("distill", DistillConfig, cmd_distill,
         "Train a smaller student from a finished run (the teacher) on its soft targets for the labelled "
         "and unlabelled records plus the hard labels. The student is a new run."),
        ("prune", PruneConfig, cmd_prune,
         "Remove the least important attention heads and feed-forward neurons of a run (measured on "
         "validation) and recover with a short distillation. The pruned model is a new run."),
        ("trim-vocab", TrimConfig, cmd_trim,
         "Keep only the word pieces the project's texts use (plus special and one-character pieces); "
         "the logits on the project's texts are checked identical. The trimmed model is a new run."),
    ):
        p = subparsers.add_parser(name, help=text.split(".")[0].lower(), description=text + " Ctrl-C cancels: "
                                  "nothing is written.")
        p.add_argument("project", help="project file (.wbproj)")
        add_config_arguments(p, cls, settings_file=True)
        p.add_argument("--json", action="store_true", help="print the result as one JSON object")
        p.set_defaults(handler=handler)
    p = subparsers.add_parser(
        "variants", help="the deployable variants of a run and their figures",
        description="List the variants of a run (fp32, int8, and every student, pruned or trimmed run "
        "derived from it) with model size, batch-1 median latency, batch-32 throughput, macro-F1 and "
        "agreement with the teacher, measured on the project's test records when each was exported.")
    p.add_argument("project", help="project file (.wbproj)")
    p.add_argument("--run", default="latest", metavar="ID", help="the teacher run (default: latest)")
    p.add_argument("--measure", action="store_true", help="export and measure the variants without figures")
    p.add_argument("--again", action="store_true", help="with --measure: measure every variant again")
    p.add_argument("--json", action="store_true", help="print the table as JSON")
    p.set_defaults(handler=cmd_variants)
