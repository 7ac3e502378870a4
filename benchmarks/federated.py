"""Federated training vs each site alone vs centralised training, with the bundled MiniLM.

Data (offline): the support-intent generator of ``benchmarks/active_learning.py`` (6
intents). A shared test set of ``--test`` records is held out; three sites each get
``--per-site`` labelled records with different label mixes (70 % from two "home" intents
of the site, 30 % from the other four). Each project keeps its usual 70/15/15
train/validation/test split, so a site trains on 70 % of its records and centralised
training on 70 % of the union (the same records the three sites train on together).
Measured side by side in one run, every model scored on the same held-out test set
(macro-F1 over the 6 intents):

* each site alone: ``train_project`` on its own project;
* centralised: ``train_project`` on the union of the three sites' records;
* federated, full exchange: ``serve_job`` / ``join_job`` (real Flower gRPC on 127.0.0.1;
  the sites run as threads of this process), ``--rounds`` rounds of ``--local-epochs``
  local epochs, every weight travelling; the global model scored after rounds 1, 3 and 5
  by the coordinator on the test set (held as the coordinator project's test records);
  the coordinator's server step as configured (``--server-optimizer``, ``--server-lr``,
  ``--server-momentum``; by default the federation's defaults);
* federated, LoRA exchange (``--exchange lora``, method ``lora``): the same rounds, only
  the adapters and the head travelling.

The comparison is fair by construction: one ``TrainConfig`` for every row (same base model,
batch size, max length, seed, learning rate, class weighting, frozen layers, warm-up share);
alone and centralised train ``--epochs`` epochs, by default ``rounds x local epochs``, so
every training record is seen as often as in the federation; alone and centralised keep
their best epoch on their validation split (as every run does), the federation its last
round. Bytes per round: coordinator to sites plus sites to coordinator, all sites.

Run: ``nice -n 10 python benchmarks/federated.py [--per-site 60] [--test 180] [--rounds 5]``
(``--rows full,centralised`` runs only those rows.)
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import random
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from active_learning import make_dataset  # noqa: E402

from workbench.core.data.importer import add_texts  # noqa: E402
from workbench.core.federated import (  # noqa: E402
    FederationConfig,
    JoinConfig,
    ServeConfig,
    SiteConfig,
    join_job,
    serve_job,
)
from workbench.core.store.project import Project  # noqa: E402
from workbench.core.training import TrainConfig, train_project  # noqa: E402


def make_project(path: Path, labels: list[str], rows: list[tuple[str, str]], *, split: str = "") -> Path:
    project = Project.create(path, labels)
    with project:
        ids = add_texts(project, [t for t, _l in rows])
        for rid, (_t, label) in zip(ids, rows, strict=True):
            project.annotate(rid, [label])
        if split:
            project.set_splits(dict.fromkeys(ids, split))
    return path


def score(model_dir: Path, test: list[tuple[str, str]], labels: list[str]) -> float:
    from sklearn.metrics import f1_score

    from workbench.core.training.evaluate import load_run_model, predict_proba

    model, tok, info = load_run_model(model_dir)
    probs = predict_proba(model, tok, [t for t, _l in test], max_length=int(info["max_length"]),
                          multi_label=False)
    pred = [info["labels"][i] for i in probs.argmax(axis=1)]
    return float(f1_score([lab for _t, lab in test], pred, labels=labels, average="macro", zero_division=0))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def federate(coord: Path, paths: list[Path], train: TrainConfig, fed: FederationConfig) -> object:
    """One federation: the sites as threads joining ``serve_job`` on a free local port."""
    address = f"127.0.0.1:{free_port()}"
    fed.address = address
    threads = [threading.Thread(target=join_job, args=(p, JoinConfig(SiteConfig(address=address, name=f"site{k}", keep_model=False))),
                                kwargs={"progress": lambda e: None, "should_stop": lambda: False}, daemon=True)
               for k, p in enumerate(paths)]
    for th in threads:
        th.start()
    result = serve_job(coord, ServeConfig(fed, train),
                       progress=lambda e: print(f"  {e.message}", flush=True) if e.phase == "round" else None,
                       should_stop=lambda: False)
    for th in threads:
        th.join(60)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-site", type=int, default=60)
    ap.add_argument("--test", type=int, default=180)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--local-epochs", type=int, default=FederationConfig().local_epochs)
    ap.add_argument("--epochs", type=int, default=0,
                    help="epochs of the alone/centralised runs (0 = rounds x local epochs)")
    ap.add_argument("--exchange", choices=("full", "lora", "both"), default="both")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--skip-baselines", action="store_true", help="only the federated part")
    ap.add_argument("--rows", default="alone,centralised,full,lora",
                    help="rows to run, comma-separated from alone, centralised, full, lora "
                         "(--skip-baselines and --exchange narrow them further)")
    ap.add_argument("--lr", type=float, default=0.0, help="learning rate of every row (0 = automatic)")
    fed_defaults = FederationConfig()
    ap.add_argument("--server-optimizer", default=fed_defaults.server_optimizer,
                    choices=("sgd", "adam", "yogi", "adagrad"))
    ap.add_argument("--server-lr", type=float, default=fed_defaults.server_learning_rate,
                    help="server learning rate (0 = automatic)")
    ap.add_argument("--server-momentum", type=float, default=fed_defaults.server_momentum)
    args = ap.parse_args(argv)
    epochs = args.epochs or args.rounds * args.local_epochs
    rows_wanted = {r.strip() for r in args.rows.split(",") if r.strip()}
    if args.skip_baselines:
        rows_wanted -= {"alone", "centralised"}
    if args.exchange != "both":
        rows_wanted -= {"full", "lora"} - {args.exchange}

    texts, labels = make_dataset(n=args.test + 6 * args.per_site, seed=args.seed)
    rows = list(zip(texts, labels, strict=True))
    rng = random.Random(args.seed)
    rng.shuffle(rows)
    names = sorted(set(labels))
    test, pool = rows[: args.test], rows[args.test:]
    sites: list[list[tuple[str, str]]] = []
    for k in range(3):
        home = set(names[2 * k: 2 * k + 2])
        want_home = int(round(0.7 * args.per_site))
        mine = [r for r in pool if r[1] in home][:want_home]
        mine += [r for r in pool if r[1] not in home and r not in mine][: args.per_site - len(mine)]
        pool = [r for r in pool if r not in mine]
        sites.append(mine)
    train = TrainConfig(base_model="bundled", method="finetune", epochs=epochs, max_length=64,
                        batch_size=16, seed=args.seed, early_stopping_patience=0,
                        learning_rate=args.lr)
    print(f"data: 6 intents, {len(test)} shared test records, 3 sites x {args.per_site} labelled "
          f"records (70% from two home intents each; 70/15/15 train/validation/test per project); "
          f"MiniLM, max length 64, batch 16, automatic learning rate and frozen layers")
    print(f"alone and centralised: {epochs} epochs (best validation epoch kept); federated: "
          f"{args.rounds} rounds x {args.local_epochs} local epochs (one learning-rate schedule over "
          "all rounds; each site's softmax over the labels it has), FedAvg and the server step below, "
          "last round kept")
    server = FederationConfig(server_optimizer=args.server_optimizer, server_learning_rate=args.server_lr,
                              server_momentum=args.server_momentum)
    print(f"server step: {server.server_optimizer}, learning rate {server.server_learning_rate:g} "
          f"(0 = automatic), momentum {server.server_momentum:g}; rows: {', '.join(sorted(rows_wanted))}")
    for k, s in enumerate(sites):
        mix = {n: sum(1 for _t, lab in s if lab == n) for n in names}
        print(f"  site {k}: " + ", ".join(f"{n} {c}" for n, c in mix.items()))
    t_all = time.perf_counter()
    out: dict[str, float] = {}
    runs: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        paths = [make_project(tmp / f"site{k}.wbproj", names, s) for k, s in enumerate(sites)]
        for k, path in enumerate(paths if "alone" in rows_wanted else []):
            t = time.perf_counter()
            res = train_project(path, train)
            out[f"site {k} alone"] = score(res.model_path, test, names)
            print(f"site {k} alone: macro-F1 {out[f'site {k} alone']:.3f} ({time.perf_counter() - t:.0f} s)", flush=True)
        if "centralised" in rows_wanted:
            central = make_project(tmp / "central.wbproj", names, [r for s in sites for r in s])
            t = time.perf_counter()
            res = train_project(central, train)
            out["centralised"] = score(res.model_path, test, names)
            print(f"centralised: macro-F1 {out['centralised']:.3f} ({time.perf_counter() - t:.0f} s)", flush=True)
        modes = [m for m in ("full", "lora") if m in rows_wanted]
        for mode in modes:
            print(f"federated, {mode} exchange:", flush=True)
            coord = make_project(tmp / f"coord-{mode}.wbproj", names, test, split="test")
            cfg = dataclasses.replace(train, method="finetune" if mode == "full" else "lora")
            fed = dataclasses.replace(server, rounds=args.rounds, min_sites=3,
                                      local_epochs=args.local_epochs, exchange=mode)
            t = time.perf_counter()
            runs[mode] = federate(coord, paths, cfg, fed)
            print(f"  ({time.perf_counter() - t:.0f} s)", flush=True)
    print()
    print(f"{'model':<30} {'macro-F1':>8}")
    for name, f1 in out.items():
        print(f"{name:<30} {f1:8.3f}")
    for mode, fed_run in runs.items():
        for h in fed_run.history:
            if h["round"] in (1, 3, 5) or h["round"] == len(fed_run.history):
                print(f"{f'federated {mode}, round ' + str(h['round']):<30} {h['coordinator']['macro_f1']:8.3f}")
    alone = [v for k, v in out.items() if k.endswith("alone")]
    for mode, fed_run in runs.items():
        final = fed_run.history[-1]["coordinator"]["macro_f1"]
        versus = []
        if "centralised" in out:
            versus.append(f"vs centralised {100 * (final - out['centralised']):+.1f} points (target >= -2.0)")
        if alone:
            versus.append(f"vs best site alone {100 * (final - max(alone)):+.1f} points (target > 0)")
        if versus:
            print(f"federated ({mode}) after {len(fed_run.history)} rounds: " + "; ".join(versus))
    print("\nper round: bytes sent (coordinator to sites + sites to coordinator, 3 sites), seconds, macro-F1 on the shared test set")
    for mode, fed_run in runs.items():
        for h in fed_run.history:
            print(f"  {mode:<4} round {h['round']}: {(h['bytes_sent'] + h['bytes_received']) / 1e6:8.2f} MB, "
                  f"{h['seconds']:6.1f} s, macro-F1 {h['coordinator']['macro_f1']:.3f}")
    if len(runs) == 2:
        per = {m: sum(h["bytes_sent"] + h["bytes_received"] for h in r.history) / len(r.history)
               for m, r in runs.items()}
        secs = {m: sum(h["seconds"] for h in r.history) / len(r.history) for m, r in runs.items()}
        print(f"\nmean per round: full {per['full'] / 1e6:.2f} MB, {secs['full']:.1f} s; LoRA "
              f"{per['lora'] / 1e6:.3f} MB, {secs['lora']:.1f} s; LoRA/full bytes = "
              f"{100 * per['lora'] / per['full']:.2f}% (target <= 5%)")
    print(f"\ntotal {time.perf_counter() - t_all:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
