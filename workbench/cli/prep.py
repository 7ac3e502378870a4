"""Data preparation commands: ``clean`` (normalise, mask personal data, near-duplicates,
filters, restore, undo) and ``augment``.

Each step previews with ``--dry-run`` (nothing written) and prints the same counts it
applies; ``--json`` prints the plan (near-duplicate groups as lists of record ids) and the
report as JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from workbench.cli.common import add_config_arguments, config_from_args

__all__ = ["register"]

_STEP_FLAGS = (
    ("normalise", "--normalise", "normalise the texts (Unicode, HTML, control characters, "
     "whitespace, optionally case)"),
    ("mask", "--mask-pii", "replace personal data by typed placeholders (<EMAIL>, <PHONE> ...)"),
    ("near_duplicates", "--near-duplicates", "find near-duplicate groups (MinHash/LSH) and "
     "mark them, keep one of each, or only report"),
    ("filter", "--filter", "remove or mark empty, too short, too long or mostly non-text "
     "records"),
    ("restore", "--restore", "bring back the imported text of every changed record"),
)


def _config_classes() -> dict[str, Any]:
    from workbench.core.prep.jobs import STEP_CONFIGS

    return STEP_CONFIGS


def register(sub: argparse._SubParsersAction) -> None:
    from workbench.core.prep.config import (
        AugmentConfig,
        FilterConfig,
        MaskConfig,
        NearDuplicateConfig,
        NormaliseConfig,
    )

    p = sub.add_parser(
        "clean", help="prepare the data: normalise, mask personal data, near-duplicates, "
        "filters (each previewed with --dry-run, undoable with --undo)",
        description="Run one data preparation step. Every step is undoable (--undo) and the "
        "imported text of every record is kept (--restore).",
    )
    p.add_argument("project")
    modes = p.add_mutually_exclusive_group(required=True)
    for name, flag, text in _STEP_FLAGS:
        modes.add_argument(flag, dest="step", action="store_const", const=name, help=text)
    modes.add_argument("--undo", dest="step", action="store_const", const="undo",
                       help="undo the last data preparation step")
    modes.add_argument("--steps", dest="step", action="store_const", const="list",
                       help="list the data preparation steps applied")
    p.add_argument("--dry-run", action="store_true", help="show what would change; write "
                   "nothing")
    p.add_argument("--json", action="store_true", help="print the plan and report as JSON")
    for cls in (NormaliseConfig, MaskConfig, NearDuplicateConfig, FilterConfig):
        group = p.add_argument_group(f"{cls.SETTINGS_NAME.replace('_', '-')} settings")
        add_config_arguments(group, cls)
    p.set_defaults(handler=cmd_clean)

    a = sub.add_parser(
        "augment", help="add augmented copies of labelled training records (EDA: synonyms, "
        "swaps, deletions); used by training with --augment",
    )
    a.add_argument("project")
    a.add_argument("--dry-run", action="store_true", help="show examples; write nothing")
    a.add_argument("--json", action="store_true", help="print the plan and report as JSON")
    add_config_arguments(a, AugmentConfig)
    a.set_defaults(handler=cmd_augment)


def _progress(event: Any) -> None:
    if event.total and sys.stderr.isatty():
        print(f"\r{event.message}", end="", file=sys.stderr, flush=True)


def _print_plan(plan: Any) -> None:
    data = plan.to_dict()
    step = data["step"]
    if step in ("normalise", "mask", "restore"):
        print(f"{step}: {data['records_changed']} of {data['records_scanned']} record(s) "
              "change")
        for sub, n in sorted(data["counts"].items()):
            items = data["items"].get(sub)
            extra = f" ({items} value(s))" if step == "mask" and items else ""
            print(f"  {sub}: {n} record(s){extra}")
            for ex in data["examples"].get(sub, [])[:2]:
                print(f"    #{ex['id']}: {ex['before'][:70]!r} -> {ex['after'][:70]!r}")
    elif step == "near_duplicates":
        print(f"near-duplicates: {len(data['groups'])} group(s), {data['records_in_groups']} "
              f"record(s); {len(data['conflicting_groups'])} with conflicting labels; "
              f"{len(data['remove'])} to remove")
        for group in data["groups"][:10]:
            print("  " + ", ".join(str(r) for r in group))
    elif step == "filter":
        print(f"filter: {data['records_caught']} of {data['records_scanned']} record(s) "
              f"caught ({data['action']})")
        for reason, n in sorted(data["counts"].items()):
            print(f"  {reason}: {n}")
    elif step == "augment":
        print(f"augment: {data['rows']} row(s) from {data['sources']} training record(s)")
        for ex in data["examples"]:
            print(f"  #{ex['source']} [{ex['method']}]: {ex['text'][:80]!r}")


def _run(project_path: str, step: str, settings: Any, dry_run: bool, as_json: bool) -> int:
    from workbench.core.prep.jobs import make_plan
    from workbench.core.prep.operations import apply_plan
    from workbench.core.store.project import Project

    with Project.open(project_path) as project:
        plan = make_plan(project, step, settings, progress=_progress, should_stop=lambda: False)
        if sys.stderr.isatty():
            print("", file=sys.stderr)
        report = None
        if not dry_run:
            options = settings.to_dict() if settings is not None else {}
            report, _changes = apply_plan(project, plan, options)
    if as_json:
        out = {"plan": plan.to_dict(), "applied": None if report is None else report.to_dict()}
        print(json.dumps(out, ensure_ascii=False, indent=1))
        return 0
    _print_plan(plan)
    if report is None:
        print("Dry run: nothing was changed.")
    else:
        print(f"Applied as step {report.step_id}: {report.applied} change(s)"
              + (f", {report.skipped} skipped (changed since)" if report.skipped else "")
              + ". Undo with: workbench clean PROJECT --undo")
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    """Preview or apply one data preparation step, undo the last one, or list them."""
    from workbench.core.prep import steps
    from workbench.core.prep.operations import undo_step
    from workbench.core.store.project import Project

    if args.step in ("undo", "list"):
        with Project.open(args.project) as project:
            if args.step == "list":
                rows = steps.list_steps(project)
                if args.json:
                    print(json.dumps([vars(s) for s in rows], indent=1))
                for s in [] if args.json else rows:
                    state = " (undone)" if s.undone else ""
                    print(f"{s.id}\t{s.created_at}\t{s.kind}{state}\t{s.summary}")
                return 0
            if args.dry_run:
                last = steps.last_step(project)
                print(f"Would undo: {last.kind} ({last.summary})" if last else
                      "There is no data preparation step to undo.")
                return 0
            result, _changes = undo_step(project)
        print(json.dumps(vars(result.step) | {"message": result.message()}) if args.json
              else result.message())
        return 0
    cls = _config_classes()[args.step]
    settings = None if cls is type(None) else config_from_args(cls, args)
    return _run(args.project, args.step, settings, args.dry_run, args.json)


def cmd_augment(args: argparse.Namespace) -> int:
    """Add augmented copies of the labelled training records."""
    from workbench.core.prep.config import AugmentConfig

    return _run(args.project, "augment", config_from_args(AugmentConfig, args), args.dry_run,
                args.json)
