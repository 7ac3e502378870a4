"""Team commands: ``agreement``, ``disagreements``, ``adjudicate``, ``final``, ``merge``
and ``annotators``."""
from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["register"]

#: The team settings changed with ``annotators`` (``final`` changes the rest).
_ANNOTATOR_SETTINGS = ("assignment", "assignment_k", "blind")


def _open(path: str):  # -> Project
    from workbench.core.store.project import Project

    return Project.open(path)


def _print_json(data: object) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def cmd_agreement(args: argparse.Namespace) -> int:
    """Print inter-annotator agreement."""
    from workbench.core.team import compute_agreement

    with _open(args.project) as project:
        if project.is_spans:  # spans: pairwise entity F1 per type
            from workbench.core.spans.span_team import span_agreement_report

            figures = span_agreement_report(project)
            if args.json:
                _print_json(figures)
                return 0
            mean = figures["mean_f1"]
            print(f"{figures['measure']}: mean {'n/a' if mean is None else f'{mean:.3f}'}")
            for pair in figures["pairs"]:
                types = ", ".join(f"{t} {v:.2f}" for t, v in pair["per_type"].items())
                print(f"  {pair['a']} / {pair['b']} ({pair['records']} records): "
                      f"{pair['f1']:.3f}  [{types}]")
            return 0
        report = compute_agreement(project)
    if args.json:
        _print_json(report.to_dict())
    else:
        print(report.summary())
    return 0


def cmd_disagreements(args: argparse.Namespace) -> int:
    """List records to adjudicate, with every annotator's labels."""
    from workbench.core.team import disagreements

    with _open(args.project) as project:
        items = disagreements(project, include_resolved=args.all)
    if args.json:
        _print_json(
            [
                {
                    "record_id": d.record_id,
                    "text": d.text,
                    "by_annotator": d.by_annotator,
                    "conflicts": [
                        {"annotator": c.annotator, "kind": c.kind, "labels": list(c.labels),
                         "status": c.status, "source": c.source}
                        for c in d.conflicts
                    ],
                    "suggestion": d.suggestion,
                    "final": list(d.final.labels) if d.final else None,
                    "adjudicator": d.final.adjudicator if d.final else None,
                }
                for d in items
            ]
        )
        return 0
    if not items:
        print("No disagreements to adjudicate.")
        return 0
    for d in items:
        text = d.text if len(d.text) <= 70 else d.text[:67] + "..."
        votes = "; ".join(f"{a}: {', '.join(v)}" for a, v in d.by_annotator.items())
        extra = "".join(
            f"; {c.annotator} (from {c.source}): {', '.join(c.labels) or c.status}" for c in d.conflicts
        )
        final = f"  -> final: {', '.join(d.final.labels)}" if d.final else ""
        print(f"[{d.record_id}] {text}\n    {votes}{extra}{final}")
    return 0


def cmd_adjudicate(args: argparse.Namespace) -> int:
    """Set (or clear) the final label of one record."""
    from workbench.cli.common import annotator_option
    from workbench.core.errors import WorkbenchError
    from workbench.core.team import clear_final, find_record, set_final

    adjudicator = annotator_option(args.adjudicator, "--adjudicator")
    with _open(args.project) as project:
        try:
            rid = find_record(project, args.id)
        except OverflowError:  # a number beyond SQLite's 64-bit ids
            raise WorkbenchError(f"No record with id {args.id.strip()!r}.") from None
        if args.clear:
            clear_final(project, rid)
            print(f"Record {rid}: final label cleared (the majority rule applies).")
            return 0
        if project.is_spans and not args.label:  # spans picked from annotators' versions
            return _adjudicate_spans(project, rid, args, adjudicator)
        if not args.label:
            raise WorkbenchError("Give the final label with --label (or --clear).")
        final = set_final(
            project, rid, args.label, adjudicator=adjudicator, comment=args.comment
        )
        print(f"Record {rid}: final label {', '.join(final.labels)} (by {final.adjudicator}).")
    return 0


def _adjudicate_spans(project: Any, rid: int, args: argparse.Namespace,
                      adjudicator: str) -> int:
    from workbench.core.errors import WorkbenchError
    from workbench.core.spans.span_team import final_spans, pick_spans, span_versions
    from workbench.core.store.spans import Span

    if not args.pick:
        versions = span_versions(project, rid)
        raise WorkbenchError(
            f"Pick spans with --pick ANNOTATOR:START-END:LABEL (or ANNOTATOR:all); record {rid} "
            "has versions by " + (", ".join(versions) or "nobody") + ".")
    picks: dict[str, list[Span]] = {}
    versions = span_versions(project, rid)
    for item in args.pick:
        who, _sep, what = item.partition(":")
        if what == "all":
            picks.setdefault(who, []).extend(versions.get(who, ()))
            continue
        try:
            edges, label = what.split(":", 1)
            start, end = (int(x) for x in edges.split("-"))
        except ValueError:
            raise WorkbenchError(f"--pick {item!r}: use ANNOTATOR:START-END:LABEL or "
                                 "ANNOTATOR:all.") from None
        picks.setdefault(who, []).append(Span(start, end, label))
    pick_spans(project, rid, picks, adjudicator=adjudicator, comment=args.comment)
    chosen = final_spans(project, rid) or ()
    print(f"Record {rid}: final spans " + (", ".join(
        f"{s.label} {s.start}-{s.end}" for s in chosen) or "(none)") + f" (by {adjudicator}).")
    return 0


def cmd_final(args: argparse.Namespace) -> int:
    """Show or set how final labels are derived, with counts."""
    from workbench.cli.common import config_from_args
    from workbench.core.store.snapshot import resolve_labels
    from workbench.core.team import TeamSettings, apply_team_settings, team_settings

    with _open(args.project) as project:
        if args.final_rule:
            apply_team_settings(project, config_from_args(TeamSettings, args, team_settings(project)))
        snap = resolve_labels(project)
    if args.json:
        _print_json(snap.to_dict())
    else:
        print(snap.summary())
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    """Merge a teammate's project file into this one."""
    from workbench.core.team import merge_projects

    with _open(args.project) as project:
        report = merge_projects(project, args.other)
    if args.json:
        _print_json(report.to_dict())
    else:
        print(report.summary())
    return 0


def cmd_annotators(args: argparse.Namespace) -> int:
    """Show or change the annotator list, assignment mode and blind setting."""
    from workbench.cli.common import annotator_option, config_from_args
    from workbench.core.errors import WorkbenchError
    from workbench.core.team import (
        TeamSettings,
        add_annotator,
        apply_team_settings,
        assignment,
        is_blind,
        remove_annotator,
        roster,
        team_settings,
    )

    if args.assignment_k is not None:
        if args.assignment not in (None, "k"):
            raise WorkbenchError("--k only applies with --assign k.")
        args.assignment = "k"
    added = [annotator_option(n, "--add") for n in args.add or []]
    removed = [annotator_option(n, "--remove") for n in args.remove or []]
    with _open(args.project) as project:
        settings = config_from_args(TeamSettings, args, team_settings(project))
        for name in added:
            add_annotator(project, name)
        for name in removed:
            remove_annotator(project, name)
        apply_team_settings(project, settings)
        mode, k = assignment(project)
        names = roster(project)
        counts = project.stats()["by_annotator"]
        blind = is_blind(project)
    data = {
        "annotators": names,
        "assignment": mode,
        "k": k,
        "blind": blind,
        "annotations": counts,
    }
    if args.json:
        _print_json(data)
        return 0
    print(f"Annotators: {', '.join(names) or '(none registered)'}")
    desc = {"all": "everyone labels everything", "split": "records split between annotators",
            "k": f"each record by {k} annotators"}[mode]
    print(f"Assignment: {mode} ({desc})")
    print(f"Blind labelling: {'on' if blind else 'off'}")
    if counts:
        print("Annotations: " + ", ".join(f"{a} {n}" for a, n in counts.items()))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the team commands to the ``workbench`` parser (the settings flags of ``final``
    and ``annotators`` are generated from :class:`TeamSettings`)."""
    from workbench.cli.common import add_config_arguments
    from workbench.core.team.settings import TeamSettings

    p = subparsers.add_parser("agreement", help="inter-annotator agreement (kappa, alpha)",
                              description=cmd_agreement.__doc__)
    p.add_argument("project", metavar="PROJECT", help="the .wbproj file")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(handler=cmd_agreement)

    p = subparsers.add_parser("disagreements", help="list records whose annotators disagree",
                              description=cmd_disagreements.__doc__)
    p.add_argument("project", metavar="PROJECT", help="the .wbproj file")
    p.add_argument("--all", action="store_true", help="include records already adjudicated")
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.set_defaults(handler=cmd_disagreements)

    p = subparsers.add_parser("adjudicate", help="set the final label of a record",
                              description=cmd_adjudicate.__doc__)
    p.add_argument("project", metavar="PROJECT", help="the .wbproj file")
    p.add_argument("--id", required=True, metavar="ID", help="record id (or your external id)")
    p.add_argument("--label", action="append", metavar="L",
                   help="final label (repeat for several in a multi-label project)")
    p.add_argument("--clear", action="store_true", help="remove the record's final label")
    p.add_argument("--pick", action="append", metavar="A:S-E:L",
                   help="span projects: take a span from annotator A's version "
                   "(A:START-END:LABEL, or A:all for all of A's spans); repeat")
    p.add_argument("--adjudicator", metavar="NAME",
                   help="who decides (default: WORKBENCH_ANNOTATOR or the user name)")
    p.add_argument("--comment", metavar="TEXT", help="a note kept with the decision")
    p.set_defaults(handler=cmd_adjudicate)

    p = subparsers.add_parser("final", help="show or set how final labels are derived",
                              description=cmd_final.__doc__)
    p.add_argument("project", metavar="PROJECT", help="the .wbproj file")
    add_config_arguments(p, TeamSettings, exclude=_ANNOTATOR_SETTINGS)
    p.add_argument("--json", action="store_true", help="print the counts as JSON")
    p.set_defaults(handler=cmd_final)

    p = subparsers.add_parser("merge", help="merge a teammate's project file into this one",
                              description=cmd_merge.__doc__)
    p.add_argument("project", metavar="PROJECT", help="the .wbproj file to merge into")
    p.add_argument("other", metavar="OTHER", help="the teammate's .wbproj file (read only)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(handler=cmd_merge)

    p = subparsers.add_parser("annotators", help="annotator list, assignment mode, blind labelling",
                              description=cmd_annotators.__doc__)
    p.add_argument("project", metavar="PROJECT", help="the .wbproj file")
    p.add_argument("--add", action="append", metavar="NAME", help="add an annotator (repeatable)")
    p.add_argument("--remove", action="append", metavar="NAME", help="remove an annotator")
    add_config_arguments(p, TeamSettings, exclude=("final_rule",))
    p.add_argument("--json", action="store_true", help="print the settings as JSON")
    p.set_defaults(handler=cmd_annotators)
