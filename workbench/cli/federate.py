"""Federated training commands: ``federate serve`` (coordinator) and ``federate join`` (site).

Needs the optional Flower extra: ``pip install 'workbench[federated]'``.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["register"]


def _progress(event: Any) -> None:
    if event.message:
        print(f"{event.phase}: {event.message}", file=sys.stderr, flush=True)



def _stop() -> Any:
    """Ctrl-C asks the job to stop (the coordinator then ends the federation, a site
    leaves it); a second Ctrl-C aborts."""
    from workbench.cli.common import StopOnCtrlC

    return StopOnCtrlC("federate: stopping (Ctrl-C again to abort)")


def cmd_serve(args: argparse.Namespace) -> int:
    """Run a federation from the project that defines the labels."""
    from workbench.cli.common import config_from_args
    from workbench.core.federated import FederationConfig, ServeConfig, serve_job
    from workbench.core.federated.privacy_config import PrivacyConfig
    from workbench.core.training.config import TrainConfig

    federation = config_from_args(FederationConfig, args)
    training = config_from_args(TrainConfig, args, base={"method": "finetune"})
    privacy = config_from_args(PrivacyConfig, args)
    with _stop() as stop:
        result = serve_job(args.project, ServeConfig(federation, training, privacy),
                           progress=_progress, should_stop=stop)
    if args.json:
        print(json.dumps({"run_id": result.run_id, "rounds": result.rounds,
                          "model_path": str(result.model_path) if result.model_path else None,
                          "metrics": result.metrics, "history": result.history}))
        return 0
    print(f"Federation finished: {result.rounds} round(s). Global model: run {result.run_id}.")
    if result.model_path:
        print(f"Model: {result.model_path}")
    dp = privacy.differential_privacy
    print(f"{'round':>5}  {'sites':>5}  {'macro_f1':>8}  {'accuracy':>8}  {'MB':>7}  {'seconds':>7}"
          + (f"  {'epsilon':>8}" if dp else ""))
    for h in result.history:
        w = h["weighted"]
        mb = (h["bytes_sent"] + h["bytes_received"]) / 1e6
        eps = (h.get("privacy") or {}).get("epsilon")
        print(f"{h['round']:>5}  {len(h['sites']):>5}  {w.get('macro_f1', 0):8.3f}  "
              f"{w.get('accuracy', 0):8.3f}  {mb:7.2f}  {h['seconds']:7.1f}"
              + (f"  {eps:8.3f}" if dp and eps is not None else "  no bound" if dp else ""))
    if dp:
        print(f"Differential privacy: noise multiplier {privacy.noise_multiplier:g}, clipping norm "
              f"{privacy.clipping_norm:g} (at the {privacy.clipping}), delta {privacy.delta:g}.")
    if privacy.secure_aggregation:
        print("Secure aggregation (SecAgg+): the coordinator saw only the sum of the sites' "
              "masked updates.")
    per_site = result.history[-1]["per_site"] if result.history else {}
    for site, m in sorted(per_site.items()):
        print(f"  {site}: macro-F1 {m.get('macro_f1', 0):.3f}, accuracy {m.get('accuracy', 0):.3f} "
              f"on {int(m.get('n', 0))} test records")
    return 0


def cmd_join(args: argparse.Namespace) -> int:
    """Take part in a federation with this site's project."""
    from workbench.cli.common import config_from_args
    from workbench.core.federated import JoinConfig, SiteConfig, join_job

    site = config_from_args(SiteConfig, args)
    with _stop() as stop:
        result = join_job(args.project, JoinConfig(site), progress=_progress, should_stop=stop)
    if args.json:
        print(json.dumps({"rounds": result.rounds, "run_id": result.run_id,
                          "metrics": result.last_metrics, "sent_bytes": result.sent_bytes}))
        return 0
    print(f"Took part in {result.rounds} round(s); sent {result.sent_bytes / 1e6:.2f} MB of weights.")
    if result.last_metrics:
        m = result.last_metrics
        print(f"Global model here: macro-F1 {m.get('macro_f1', 0):.3f}, accuracy "
              f"{m.get('accuracy', 0):.3f} on {int(m.get('n', 0))} test records")
    if result.run_id:
        print(f"Kept as run {result.run_id} of this project.")
    return 0


def register(subparsers: Any) -> None:
    """Add ``federate serve`` and ``federate join`` to the ``workbench`` command."""
    from workbench.cli.common import add_config_arguments
    from workbench.core.federated.config import FederationConfig, SiteConfig
    from workbench.core.federated.privacy_config import PrivacyConfig
    from workbench.core.training.config import TrainConfig

    group = subparsers.add_parser(
        "federate", help="federated training across sites (Flower)",
        description="Train one model on several sites' projects without moving their records: "
        "only weights and metric numbers travel. Needs: pip install 'workbench[federated]'.",
    )
    sub = group.add_subparsers(dest="federate_command", metavar="ROLE", required=True)
    p = sub.add_parser(
        "serve", help="coordinate a federation from the project that defines the labels",
        description="Start a federation: wait for --min-sites sites, run --rounds rounds of "
        "local training and averaging (FedAvg; FedProx with --proximal-mu), and store the "
        "global model as a run of PROJECT. Training settings are sent to the sites. "
        "--differential-privacy clips each site's update and adds noise to the average; the "
        "privacy spent (epsilon) is shown each round.",
    )
    p.add_argument("project", help="project file (.wbproj) that defines the labels")
    add_config_arguments(p, FederationConfig)
    add_config_arguments(p, PrivacyConfig)
    add_config_arguments(p, TrainConfig)
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(handler=cmd_serve)

    p = sub.add_parser(
        "join", help="take part in a federation with this site's project",
        description="Join the coordinator at --address. The label schema must match the "
        "federation's; only weights and metric numbers leave this machine.",
    )
    p.add_argument("project", help="this site's project file (.wbproj)")
    add_config_arguments(p, SiteConfig)
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(handler=cmd_join)
