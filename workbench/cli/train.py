"""Training commands: ``train``, ``evaluate`` and ``runs``.

``workbench train`` is also what a multi-GPU machine runs, unchanged, under
``torchrun --nproc_per_node N -m workbench train PROJECT`` or
``accelerate launch -m workbench train PROJECT`` (data parallel; only the first process
writes to the project and prints the result).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

__all__ = ["register"]


class _ProgressLines:
    """Progress lines on stderr: every message, and a training line every few seconds."""

    def __init__(self, interval: float = 3.0) -> None:
        self.interval = interval
        self.last = 0.0

    def __call__(self, event: Any) -> None:
        now = time.monotonic()
        if event.phase == "train" and not event.message:
            if now - self.last < self.interval and event.step != event.total_steps:
                return
            self.last = now
            parts = [f"step {event.step}/{event.total_steps}", f"epoch {event.epoch:.2f}"]
            if event.loss is not None:
                parts.append(f"loss {event.loss:.4f}")
            if event.samples_per_s:
                parts.append(f"{event.samples_per_s:.1f} samples/s")
            if event.eta_s is not None:
                parts.append(f"ETA {_duration(event.eta_s)}")
            print("train: " + ", ".join(parts), file=sys.stderr, flush=True)
        elif event.message:
            print(f"{event.phase}: {event.message}", file=sys.stderr, flush=True)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"



def cmd_train(args: argparse.Namespace) -> int:
    """Fine-tune a classifier on the project's labelled records."""
    from workbench.cli.common import StopOnCtrlC, config_from_args
    from workbench.core.training import TrainConfig, train_project
    from workbench.core.training.device import dist_info

    config = config_from_args(TrainConfig, args)
    with StopOnCtrlC("train: stopping after this step (Ctrl-C again to abort)") as interrupt:
        result = train_project(args.project, config, progress=_ProgressLines(), should_stop=interrupt)
    if not dist_info().is_main:
        return 0
    metrics = result.metrics or {}
    if args.json:
        print(json.dumps({
            "run_id": result.run_id,
            "status": result.status,
            "model_path": str(result.model_path) if result.model_path else None,
            "metrics": metrics,
        }))
    else:
        print(f"Run {result.run_id} {result.status}.")
        if result.model_path:
            print(f"Model: {result.model_path}")
        if metrics.get("task") == "spans":
            _print_span_metrics({**metrics, "run_id": result.run_id,
                                 "source": f"{metrics.get('split', 'test')} split"})
        elif metrics:
            _print_metrics(metrics)
    return 0 if result.status == "completed" else 2


def _print_metrics(m: dict[str, Any]) -> None:
    where = m.get("source") or m.get("split", "test")
    print(f"Evaluated on {where} ({m.get('n', 0)} records)")
    for key in ("accuracy", "macro_f1", "micro_f1", "weighted_f1"):
        if key in m:
            print(f"  {key:<12} {m[key]:.3f}")
    per = m.get("per_label") or {}
    if per:
        width = max(8, *(len(n) for n in per))
        print(f"  {'label':<{width}}  precision  recall     f1  support")
        for name, v in per.items():
            print(f"  {name:<{width}}  {v['precision']:9.3f}  {v['recall']:6.3f}  {v['f1']:5.3f}  {v['support']:7d}")
    cm = m.get("confusion_matrix")
    labels = m.get("labels") or []
    if cm and not m.get("multi_label"):
        width = max(5, *(len(n) for n in labels))
        print("  confusion matrix (rows: true, columns: predicted)")
        print("  " + " " * width + " " + " ".join(f"{n[:width]:>{width}}" for n in labels))
        for name, row in zip(labels, cm, strict=True):
            print(f"  {name:<{width}} " + " ".join(f"{v:>{width}d}" for v in row))


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Metrics of a run on its test split or on a labelled file."""
    from workbench.core.errors import WorkbenchError
    from workbench.core.store.project import Project
    from workbench.core.training import evaluate_run

    with Project.open(args.project) as project:
        spans = project.is_spans
    if spans:  # entities: CoNLL / JSONL input, entity-level metrics
        from workbench.core.spans.span_evaluate import evaluate_span_run

        metrics = evaluate_span_run(args.project, args.run, args.input, fmt=args.format)
        if args.json:
            print(json.dumps(metrics))
        else:
            _print_span_metrics(metrics)
        return 0
    if args.input and not (args.text_col and args.label_col):
        raise WorkbenchError("--input needs --text-col and --label-col.")
    metrics = evaluate_run(args.project, args.run, args.input, args.text_col, args.label_col)
    if args.json:
        print(json.dumps(metrics))
    else:
        print(f"Run {metrics['run_id']}")
        _print_metrics(metrics)
    return 0


def _print_span_metrics(m: dict) -> None:
    print(f"Run {m['run_id']} on the {m['source']}: {m['n']} records")
    print(f"  entity F1 (micro) {m['entity_f1']:.3f}  precision {m['entity_precision']:.3f}  "
          f"recall {m['entity_recall']:.3f}")
    print(f"  entity F1 (macro) {m['entity_macro_f1']:.3f}   partial-overlap F1 "
          f"{m['partial']['f1']:.3f}")
    c = m["counts"]
    print(f"  spans: {c['gold']} gold, {c['predicted']} predicted, {c['correct']} exact")
    for name, row in m["per_type"].items():
        print(f"    {name:<16} F1 {row['f1']:.3f}  P {row['precision']:.3f}  "
              f"R {row['recall']:.3f}  ({row['support']} gold)")


def cmd_runs(args: argparse.Namespace) -> int:
    """The project's training runs, newest first."""
    from workbench.core.store.project import Project
    from workbench.core.training import list_runs

    with Project.open(args.project) as project:
        runs = list_runs(project)
    if args.json:
        print(json.dumps(runs))
        return 0
    if not runs:
        print("No training runs yet.")
        return 0
    print(f"{'run':>4}  {'status':<10} {'created':<25} {'accuracy':>8} {'macro_f1':>8}  base model")
    for r in runs:
        m = r.get("metrics") or {}
        acc = f"{m['accuracy']:.3f}" if "accuracy" in m else "-"
        f1 = f"{m['macro_f1']:.3f}" if "macro_f1" in m else "-"
        print(f"{r['id']:>4}  {r['status']:<10} {r['created_at']:<25} {acc:>8} {f1:>8}  {r['base_model']}")
    return 0


def register(subparsers: Any) -> None:
    """Add ``train``, ``evaluate`` and ``runs`` to the ``workbench`` command."""
    from workbench.cli.common import add_config_arguments
    from workbench.core.training.config import TrainConfig

    p = subparsers.add_parser(
        "train",
        help="fine-tune a classifier on the labelled records",
        description="Fine-tune a classifier on the project's labelled records. Progress goes "
        "to stderr. Multi-GPU: torchrun --nproc_per_node N -m workbench train PROJECT. "
        "Every setting can also come from a JSON file (--settings); flags win.",
    )
    p.add_argument("project", help="project file (.wbproj)")
    add_config_arguments(p, TrainConfig, settings_file=True, settings_aliases=("--config",))
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(handler=cmd_train)

    p = subparsers.add_parser(
        "evaluate", help="metrics of a trained run",
        description="Evaluate a run on the project's test split, or on a labelled file.",
    )
    p.add_argument("project", help="project file (.wbproj)")
    p.add_argument("--run", default="latest", metavar="ID|latest", help="run id (default: latest)")
    p.add_argument("--input", metavar="FILE", help="labelled file to evaluate on instead "
                   "(span projects: a CoNLL or JSONL file with spans)")
    p.add_argument("--text-col", metavar="C", help="text column of --input")
    p.add_argument("--label-col", metavar="C", help="label column of --input")
    p.add_argument("--format", metavar="F", help="span projects: format of --input (conll, "
                   "spacy, doccano, labelstudio; default: from the suffix)")
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    p.set_defaults(handler=cmd_evaluate)

    p = subparsers.add_parser("runs", help="the training run history")
    p.add_argument("project", help="project file (.wbproj)")
    p.add_argument("--json", action="store_true", help="print the runs as a JSON list")
    p.set_defaults(handler=cmd_runs)
