"""Data commands: ``new``, ``import``, ``export`` and ``stats``.

``export`` is shared with the model export: with ``--out DIR`` it exports a trained model
(see :mod:`workbench.cli.deploy`), otherwise it writes labelled data to ``OUT``.
Heavy modules are imported inside the handlers so ``workbench --help`` stays fast.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["register"]

#: Files at least this big get progress lines on stderr while importing.
PROGRESS_MIN_BYTES = 8 * 2**20


def _error(message: str) -> Exception:
    from workbench.core.errors import WorkbenchError

    return WorkbenchError(message)


def _open(path: str):  # -> Project
    from workbench.core.store.project import Project

    return Project.open(path)


def cmd_new(args: argparse.Namespace) -> int:
    """Create a project file with a label schema."""
    from workbench.core.store.project import PROJECT_SUFFIX, Project

    path = Path(args.project)
    if path.suffix != PROJECT_SUFFIX:
        raise _error(f"{path.name}: a project file name must end in {PROJECT_SUFFIX}.")
    if path.is_dir():  # --force replaces a file, never a folder
        raise _error(f"{path} is a folder, not a project file.")
    labels = [n.strip() for n in (args.labels or "").split(",") if n.strip()]
    if not labels:
        raise _error("Give at least one label, e.g. --labels positive,negative.")
    task = args.task or ("multi_label" if args.multi_label else "single_label")
    if args.multi_label and task != "multi_label":
        raise _error(f"--multi-label and --task {task} contradict each other.")
    with Project.create(path, labels, task=task, overwrite=args.force) as p:
        kind = {"multi_label": "multi-label", "spans": "spans (entities)"}.get(
            p.task, "single-label")
        print(f"Created {path} ({kind}; labels: {', '.join(p.label_names())})")
    return 0


class _Progress:
    """Progress lines on stderr, at most one every two seconds."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.started = self.last = time.monotonic()

    def __call__(self, progress: Any) -> None:
        now = time.monotonic()
        if now - self.last < 2.0:
            return
        self.last = now
        frac = f" ({progress.fraction:.0%})" if progress.fraction is not None else ""
        rate = progress.rows / max(now - self.started, 1e-6)
        print(f"{self.name}: {progress.rows:,} rows read{frac}, {rate:,.0f} rows/s",
              file=sys.stderr, flush=True)


def cmd_import(args: argparse.Namespace) -> int:
    """Import a data file into a project (all or nothing)."""
    from workbench.core.data.importer import import_file

    src = Path(args.file)
    show = args.progress or (src.is_file() and src.stat().st_size >= PROGRESS_MIN_BYTES)
    with _open(args.project) as project:
        if project.is_spans:  # span files (CoNLL, JSONL, Label Studio) or plain records
            from workbench.core.spans.span_import import import_span_file

            report = import_span_file(
                project, src, fmt=args.format, encoding=args.encoding,
                add_labels=args.add_labels, text_col=args.text_col, id_col=args.id_col,
                progress=_Progress(src.name) if show else None)
        else:
            report = import_file(
                project,
                src,
                text_col=args.text_col,
                id_col=args.id_col,
                label_col=args.label_col,
                fmt=args.format,
                encoding=args.encoding,
                add_labels=args.add_labels,
                progress=_Progress(src.name) if show else None,
            )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(f"{src.name}: {report.summary()}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Export labelled data (OUT file) or, with --out DIR, a trained model."""
    if getattr(args, "variant", None):  # a measured variant bundle (workbench.cli.compress)
        from workbench.cli.compress import run_variant_export

        return int(run_variant_export(args) or 0)
    if args.out is not None:
        if args.output is not None:
            raise _error("Give either an output file (labelled data) or --out DIR (a model), "
                         "not both.")
        try:
            from workbench.cli.deploy import run_model_export
        except ModuleNotFoundError as exc:
            if exc.name != "workbench.cli.deploy":
                raise
            raise _error("Model export is not available in this installation.") from None
        return int(run_model_export(args) or 0)
    if args.output is None:
        raise _error("Give an output file (.csv, .jsonl or .parquet) for labelled data, "
                     "or --out DIR to export a trained model.")
    from workbench.core.data.exporter import export_labelled

    with _open(args.project) as project:
        if project.is_spans:
            from workbench.core.spans.span_export import export_spans

            summary = export_spans(project, args.output, fmt=args.format)
            print(json.dumps(summary.to_dict(), indent=2) if args.json else
                  f"{summary.rows} records with spans written to {summary.path} "
                  f"({summary.format})")
            return 0
        summary = export_labelled(project, args.output, mode="final" if args.final else "all",
                                  escape_formulas=not args.raw,
                                  masked_only=args.masked_only)
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2))
    else:
        print(summary.summary())
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Create a demo project: support messages (classification) or clinical notes (spans)."""
    path = Path(args.project)
    if path.exists():
        raise _error(f"{path} already exists.")
    if args.kind == "spans":
        from workbench.core.spans.span_demo import SpanDemoConfig, create_span_demo_job

        create_span_demo_job(path, SpanDemoConfig())
        print(f"Created {path}: synthetic clinical notes (drug, dose, frequency, condition), "
              "the first ones labelled")
    else:
        from workbench.core.data.demo import DemoConfig, create_demo_job

        create_demo_job(path, DemoConfig())
        print(f"Created {path}: customer-support messages, the first ones labelled")
    return 0


def _print_stats(stats: dict[str, Any]) -> None:
    print(f"{stats['name']} ({stats['task_type'].replace('_', '-')})")
    print(f"  records:    {stats['records']:,}")
    print(f"  labelled:   {stats['labelled']:,}")
    print(f"  unlabelled: {stats['unlabelled']:,}")
    if stats["by_label"]:
        width = max(len(n) for n in stats["by_label"])
        print("  by label:")
        for name, n in stats["by_label"].items():
            print(f"    {name:<{width}}  {n:,}")
    if stats["by_annotator"]:
        print("  by annotator: " + ", ".join(f"{a} {n:,}" for a, n in stats["by_annotator"].items()))
    print("  splits: " + ", ".join(f"{s} {n:,}" for s, n in stats["splits"].items()))


def cmd_stats(args: argparse.Namespace) -> int:
    """Print record, label, annotator and split counts."""
    with _open(args.project) as project:
        stats = project.stats()
    if args.json:
        print(json.dumps(stats, indent=2))
    else:
        _print_stats(stats)
    return 0


def _add_export_options(group: Any) -> None:
    """The model-export flags, generated from :class:`ExportOptions` (none in an
    installation without model export)."""
    try:
        from workbench.core.deploy.onnx_export import ExportOptions
    except ModuleNotFoundError:
        return
    from workbench.cli.common import add_config_arguments

    add_config_arguments(group, ExportOptions, settings_file=True)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the data commands to the ``workbench`` parser."""
    p = subparsers.add_parser("new", help="create a new project file",
                              description="Create a new project file with a label schema.")
    p.add_argument("project", metavar="PROJECT", help="path of the new .wbproj file")
    p.add_argument("--labels", required=True, metavar="A,B,C",
                   help="comma-separated label names")
    p.add_argument("--multi-label", action="store_true",
                   help="records may carry several labels (default: exactly one)")
    p.add_argument("--task", choices=("single_label", "multi_label", "spans"), default=None,
                   help="what is labelled: one class per record (single_label, the default), "
                   "several (multi_label) or character spans such as entities (spans)")
    p.add_argument("--force", action="store_true", help="replace an existing file")
    p.set_defaults(handler=cmd_new)

    p = subparsers.add_parser(
        "import", help="import records (and labels) from a data file",
        description="Import CSV, TSV, JSON Lines, JSON, Excel (.xlsx), Parquet or plain "
        "text (one record per line). The import is all or nothing; records whose text is "
        "already in the project are skipped.")
    p.add_argument("project", metavar="PROJECT", help="the .wbproj file")
    p.add_argument("file", metavar="FILE", help="the data file")
    p.add_argument("--text-col", default="text", metavar="C",
                   help="column holding the text (default: text)")
    p.add_argument("--id-col", metavar="C", help="column holding your own record id")
    p.add_argument("--label-col", metavar="C",
                   help="column holding labels (for multi-label: a list, or names separated "
                   "by | ; or ,)")
    p.add_argument("--format", metavar="F",
                   help="csv, tsv, jsonl, json, xlsx, parquet or txt (default: from the "
                   "suffix); span projects also read conll, spacy, doccano and labelstudio "
                   "(.conll and .jsonl/.json files by default)")
    p.add_argument("--encoding", metavar="E",
                   help="text encoding, e.g. latin-1 or cp1252 (default: UTF-8, BOM or not)")
    p.add_argument("--add-labels", action="store_true",
                   help="add label names that are not in the project yet (default: error)")
    p.add_argument("--progress", action="store_true",
                   help="print progress to stderr (automatic for big files)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(handler=cmd_import)

    p = subparsers.add_parser(
        "export", help="export labelled data, or (with --out) a trained model",
        description="Export labelled data to OUT (.csv, .jsonl or .parquet): one row per "
        "annotation, or with --final one row per record with its final label(s). "
        "With --out DIR, export a trained model as an ONNX bundle instead.")
    p.add_argument("project", metavar="PROJECT", help="the .wbproj file")
    p.add_argument("output", metavar="OUT", nargs="?",
                   help="labelled-data file: .csv, .jsonl or .parquet")
    p.add_argument("--final", action="store_true",
                   help="one row per record with the final label(s) across annotators")
    p.add_argument("--format", metavar="F",
                   help="span projects: conll, conll-bioes, spacy, doccano or labelstudio "
                   "(default: from the suffix: .conll, .jsonl spaCy-style, .json Label Studio)")
    p.add_argument("--raw", action="store_true",
                   help="CSV: write cells exactly as stored (default: a cell starting with "
                   "= + - @ gets a leading ' so spreadsheets do not run it as a formula)")
    p.add_argument("--masked-only", action="store_true",
                   help="refuse to write the file if any text still holds personal data "
                   "(see 'workbench clean --mask-pii')")
    model = p.add_argument_group("model export (with --out)")
    model.add_argument("--out", metavar="DIR", help="export a trained model into this folder")
    model.add_argument("--run", default="latest", metavar="ID",
                       help="run id to export, or 'latest' (default)")
    model.add_argument("--variant", metavar="NAME",
                       help="export this variant of the run (see `workbench variants`), measured")
    _add_export_options(model)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(handler=cmd_export)

    p = subparsers.add_parser("demo", help="create a demo project to try Workbench",
                              description="Create a demo project: customer-support messages "
                              "(--kind support, classification) or synthetic clinical notes "
                              "with drug, dose, frequency and condition spans (--kind spans).")
    p.add_argument("project", metavar="PROJECT", help="path of the new .wbproj file")
    p.add_argument("--kind", choices=("support", "spans"), default="support",
                   help="which demo (default: support)")
    p.set_defaults(handler=cmd_demo)

    p = subparsers.add_parser("stats", help="show record, label and annotator counts",
                              description="Show record, label, annotator and split counts.")
    p.add_argument("project", metavar="PROJECT", help="the .wbproj file")
    p.add_argument("--json", action="store_true",
                   help="print a JSON object (records, labelled, by_label, by_annotator, "
                   "splits, ...)")
    p.set_defaults(handler=cmd_stats)
