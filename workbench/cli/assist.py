"""Model-assisted labelling commands: ``predict-project``, ``queue``, ``label``, ``relabel``,
``review``.

Heavy modules are imported inside the handlers so ``workbench --help`` stays fast.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["register"]


def _open(path: str):  # -> Project
    from workbench.core.store.project import Project

    return Project.open(path)


def _stderr_progress(event: Any) -> None:
    if event.message:
        print(event.message, file=sys.stderr, flush=True)


def cmd_predict_project(args: argparse.Namespace) -> int:
    """Store predictions of a trained run (or the cold-start model) for unlabelled records."""
    from workbench.core.assist import suggestions as assist

    with _open(args.project) as project:
        trained = assist.latest_trained_run(project)
        if args.run is None and trained is None:
            run_id = assist.coldstart_predict(project)
            if run_id is None:
                from workbench.core.errors import WorkbenchError

                raise WorkbenchError(
                    "No trained model yet, and too few labels for the cold-start model: "
                    "label records with at least two different labels first."
                )
            n = project.db.execute(
                "SELECT count(*) FROM predictions WHERE run_id = ?", [run_id]
            ).fetchone()[0]
            print(f"Stored cold-start predictions for {n:,} unlabelled records "
                  f"({assist.current_suggester(project)}).")
            return 0
    from workbench.core.assist.project_predictions import predict_project

    report = predict_project(
        args.project, run="latest" if args.run is None else args.run,
        progress=_stderr_progress if args.progress else None,
    )
    print(f"Stored predictions of run {report.run_id} for {report.n_predicted:,} unlabelled "
          f"records ({report.source}).")
    return 0


def cmd_queue(args: argparse.Namespace) -> int:
    """Print the next records to label in a strategy's order."""
    from workbench.cli.common import annotator_option, config_from_args
    from workbench.core.assist import suggestions as assist
    from workbench.core.assist.navigation import get_strategy, queue_ids
    from workbench.core.assist.options import QueueOptions

    options = config_from_args(QueueOptions, args)
    strategy = get_strategy(options.strategy)
    annotator = annotator_option(args.annotator)
    with _open(args.project) as project:
        if project.is_spans and options.strategy not in ("order", "random"):
            return _span_queue(project, annotator, options.limit, args.json)
        if options.strategy not in ("order", "random"):
            assist.ensure_predictions(project)  # refit the cold-start model if out of date
        ids = queue_ids(strategy, project, annotator, options.limit)
        records = project.get_records(ids)
        items = []
        for rec in records:
            item: dict[str, Any] = {"id": rec.id, "external_id": rec.external_id, "text": rec.text}
            suggestion = assist.suggestion_for(project, rec.id)
            if suggestion is not None:
                item["suggestion"] = list(suggestion.labels)
                item["confidence"] = round(suggestion.confidence, 4)
            items.append(item)
    if args.json:
        json.dump(items, sys.stdout, ensure_ascii=False, indent=1)
        print()
        return 0
    for item in items:
        text = " ".join(item["text"].split())
        if len(text) > 100:
            text = text[:99] + "…"
        extra = f"  [{', '.join(item['suggestion'])} {item['confidence']:.0%}]" if "suggestion" in item else ""
        print(f"{item['id']}\t{text}{extra}")
    return 0


def cmd_label(args: argparse.Namespace) -> int:
    """Save a label (or labels) for one record."""
    from workbench.cli.common import annotator_option, label_values, record_id_option
    from workbench.core.store import operations

    annotator = annotator_option(args.annotator)
    record_id = record_id_option(args.id)
    with _open(args.project) as project:
        labels = label_values(args.label, project.label_names())
        changes = operations.annotate(project, record_id, labels, annotator=annotator)
        (step,) = changes.steps
        ann = step.after
    print(f"Record {ann.record_id}: {', '.join(ann.labels)} (annotator {ann.annotator})")
    return 0


def cmd_relabel(args: argparse.Namespace) -> int:
    """Label, skip, flag or clear several records in one transaction."""
    from workbench.cli.common import annotator_option, record_id_option
    from workbench.core.store import operations

    annotator = annotator_option(args.annotator)
    ids = [record_id_option(int(x)) for part in args.ids for x in part.split(",") if x.strip()]
    with _open(args.project) as project:
        changes = operations.relabel_many(project, ids, args.action, args.label or "",
                                          annotator=annotator)
    print(f"{args.action}: {len(changes.steps)} of {len(ids)} record(s) changed "
          f"(annotator {annotator})")
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    """List suspected label errors, most suspicious first."""
    from workbench.cli.common import config_from_args
    from workbench.core.assist.options import ReviewOptions
    from workbench.core.assist.review import review_project

    options = config_from_args(ReviewOptions, args)
    with _open(args.project) as project:
        spans = project.is_spans
    if spans:  # entities: where a confident model disagrees with the spans
        return _review_spans(args, options.limit)
    issues = review_project(
        args.project, folds=options.folds, progress=_stderr_progress if args.progress else None,
        features=options.features,
    )
    if options.limit:
        issues = issues[: options.limit]
    if args.json:
        json.dump([x.to_dict() for x in issues], sys.stdout, ensure_ascii=False, indent=1)
        print()
        return 0
    if not issues:
        print("No suspected label errors.")
        return 0
    for x in issues:
        ext = f" ({x.external_id})" if x.external_id else ""
        print(f"{x.id}{ext}\t{x.score:.2f}\t{x.label} -> {x.suggested_label}\t{x.reason}")
    return 0


def _span_queue(project: Any, annotator: str, limit: int, as_json: bool) -> int:
    """Span projects: unlabelled records by token-level uncertainty, with suggestions."""
    from workbench.core.assist.span_suggestions import span_suggestions
    from workbench.core.spans.span_assist import uncertainty_order

    items = []
    for rec in project.get_records(uncertainty_order(project, annotator=annotator,
                                                     limit=limit)):
        items.append({"id": rec.id, "external_id": rec.external_id, "text": rec.text,
                      "suggestion": [{**s.as_dict(), "score": round(p, 4)}
                                     for s, p in span_suggestions(project, rec.id)]})
    if as_json:
        json.dump(items, sys.stdout, ensure_ascii=False, indent=1)
        print()
    else:
        for item in items:
            print(f"{item['id']}\t{len(item['suggestion'])} suggested span(s)\t{item['text'][:60]}")
    return 0


def _review_spans(args: argparse.Namespace, limit: int) -> int:
    from workbench.core.assist.project_predictions import bundle_for_run
    from workbench.core.assist.suggestions import latest_trained_run
    from workbench.core.deploy.inference import Predictor
    from workbench.core.errors import ModelError
    from workbench.core.spans.span_assist import review_span_errors

    with _open(args.project) as project:
        run_id = latest_trained_run(project)
    if run_id is None:
        raise ModelError("No trained entity model yet: train one first.")
    predictor = Predictor.load(bundle_for_run(args.project, run_id))
    issues = review_span_errors(args.project, run_id, predictor)
    if limit:
        issues = issues[:limit]
    if args.json:
        json.dump([x.to_dict() for x in issues], sys.stdout, ensure_ascii=False, indent=1)
        print()
        return 0
    if not issues:
        print("No likely span errors.")
    for x in issues:
        def show(span: Any) -> str:
            return "-" if span is None else f"{span.label} {span.start}-{span.end}"
        print(f"{x.record_id}\t{x.score:.2f}\t{x.kind}\t{show(x.span)} -> {show(x.predicted)}")
    return 0


def register(subparsers: Any) -> None:
    """Add the model-assisted labelling commands (queue and review settings are generated
    from :class:`QueueOptions` and :class:`ReviewOptions`)."""
    from workbench.cli.common import add_config_arguments
    from workbench.core.assist.options import QueueOptions, ReviewOptions

    p = subparsers.add_parser(
        "predict-project",
        help="store a model's predictions for every unlabelled record (for suggestions)",
        description="Predict every unlabelled record with a trained run's int8 ONNX export "
        "(exported first if needed) and store the results, so the app can suggest labels "
        "and order the queue. Without a trained run, the cold-start model (TF-IDF + "
        "logistic regression on the labelled records) is used.",
    )
    p.add_argument("project", help="project file (.wbproj)")
    p.add_argument("--run", type=int, default=None, help="run id (default: the latest trained run)")
    p.add_argument("--progress", action="store_true", help="print progress on stderr")
    p.set_defaults(handler=cmd_predict_project)

    p = subparsers.add_parser(
        "queue",
        help="the next records to label, in a queue order",
        description="Print the next records an annotator should label, in the order of a "
        "queue strategy (order, random, least-confidence, margin, entropy, diverse).",
    )
    p.add_argument("project", help="project file (.wbproj)")
    add_config_arguments(p, QueueOptions)
    p.add_argument("--annotator", default=None, help="annotator name (default: WORKBENCH_ANNOTATOR or the user name)")
    p.add_argument("--json", action="store_true", help="print a JSON list of {id, text, ...}")
    p.set_defaults(handler=cmd_queue)

    p = subparsers.add_parser(
        "label",
        help="save a label for one record",
        description="Save an annotation for one record. Give --label several times (or "
        "comma-separated) for a multi-label project.",
    )
    p.add_argument("project", help="project file (.wbproj)")
    p.add_argument("--id", type=int, required=True, help="record id")
    p.add_argument("--label", action="append", required=True,
                   help="label name; repeat for several, or give a comma-separated list (a "
                   "project label containing a comma is kept whole; --label=-x for names "
                   "starting with '-' also works)")
    p.add_argument("--annotator", default=None, help="annotator name (default: WORKBENCH_ANNOTATOR or the user name)")
    p.set_defaults(handler=cmd_label)

    p = subparsers.add_parser(
        "relabel",
        help="label, skip, flag or clear several records at once",
        description="Apply one action to several records in one transaction: 'label' sets "
        "--label (toggles it in a multi-label project), 'skip', 'flag' (keeps the labels) or "
        "'clear' (removes the annotation).",
    )
    p.add_argument("project", help="project file (.wbproj)")
    p.add_argument("--ids", action="append", required=True,
                   help="record ids, comma-separated; repeat for more")
    p.add_argument("--action", choices=("label", "skip", "flag", "clear"), required=True,
                   help="what to do to each record")
    p.add_argument("--label", default=None, help="the label for --action label")
    p.add_argument("--annotator", default=None,
                   help="annotator name (default: WORKBENCH_ANNOTATOR or the user name)")
    p.set_defaults(handler=cmd_relabel)

    p = subparsers.add_parser(
        "review",
        help="find likely label errors",
        description="Find likely label errors: records whose label a cross-validated model "
        "confidently disagrees with (confident learning), and near-duplicate texts with "
        "different labels. Most suspicious first.",
    )
    p.add_argument("project", help="project file (.wbproj)")
    add_config_arguments(p, ReviewOptions)
    p.add_argument("--json", action="store_true", help="print a JSON list of issues")
    p.add_argument("--progress", action="store_true", help="print progress on stderr")
    p.set_defaults(handler=cmd_review)
