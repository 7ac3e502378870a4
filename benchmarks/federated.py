"""Federated training vs each site alone vs centralised training, with the bundled MiniLM.

Data (offline): the support-intent generator of ``benchmarks/active_learning.py`` (6
intents). A shared test set of ``--test`` records is held out; three sites each get
``--per-site`` labelled records with different label mixes (70 % from two "home" intents
of the site, 30 % from the other four). Measured side by side in one run, every model
scored on the same held-out test set (macro-F1):

* each site alone: ``train_project`` on its own project (``--epochs`` epochs);
* centralised: ``train_project`` on the union of the three sites' records;
* federated: ``workbench federate serve`` / ``join`` jobs (real Flower gRPC on 127.0.0.1;
  the sites run as threads of this process), ``--rounds`` rounds of one local epoch, the
  global model scored after rounds 1, 3 and 5 by the coordinator on the test set (held
  as the coordinator project's test records); bytes sent per round and seconds per round.

LoRA rounds: the LoRA training method is not in this version, so only what a LoRA round
would send is shown, computed from the tensor sizes of a LoRA-wrapped MiniLM (rank 8 on
query/value plus the head) next to the full exchange's measured bytes.

Run: ``nice -n 10 python benchmarks/federated.py [--per-site 120] [--test 240] [--rounds 5]``
"""
from __future__ import annotations

import argparse
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


def lora_bytes_estimate() -> tuple[int, int]:
    """(LoRA exchange bytes, full exchange bytes) of the bundled MiniLM with 6 labels."""
    import peft

    from workbench.core.federated.exchange import FullWeights, StateFunctions, nbytes
    from workbench.core.training.models import load_classifier, validate_base_model

    model = load_classifier(validate_base_model("bundled"), [f"l{i}" for i in range(6)], multi_label=False)
    full = nbytes(FullWeights().get(model))
    wrapped = peft.get_peft_model(model, peft.LoraConfig(
        task_type=peft.TaskType.SEQ_CLS, r=8, lora_alpha=16, target_modules=["query", "value"]))
    lora = StateFunctions("lora", peft.get_peft_model_state_dict, peft.set_peft_model_state_dict)
    return nbytes(lora.get(wrapped)), full


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-site", type=int, default=120)
    ap.add_argument("--test", type=int, default=240)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=3, help="epochs of the alone/centralised runs")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--skip-baselines", action="store_true", help="only the federated part")
    args = ap.parse_args(argv)

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
    train = TrainConfig(base_model="bundled", method="finetune", epochs=args.epochs, max_length=64,
                        batch_size=16, seed=args.seed, early_stopping_patience=0)
    print(f"data: 6 intents, {len(test)} shared test records, 3 sites x {args.per_site} labelled "
          f"records (70% from two home intents each); MiniLM, max length 64, {args.epochs} epochs "
          f"alone/centralised, {args.rounds} federated rounds of 1 local epoch")
    for k, s in enumerate(sites):
        mix = {n: sum(1 for _t, lab in s if lab == n) for n in names}
        print(f"  site {k}: " + ", ".join(f"{n} {c}" for n, c in mix.items()))
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        paths = [make_project(tmp / f"site{k}.wbproj", names, s) for k, s in enumerate(sites)]
        out: dict[str, float] = {}
        for k, path in enumerate([] if args.skip_baselines else paths):
            t = time.perf_counter()
            res = train_project(path, train)
            out[f"site {k} alone"] = score(res.model_path, test, names)
            print(f"site {k} alone: macro-F1 {out[f'site {k} alone']:.3f} ({time.perf_counter() - t:.0f} s)", flush=True)
        if not args.skip_baselines:
            central = make_project(tmp / "central.wbproj", names, [r for s in sites for r in s])
            t = time.perf_counter()
            res = train_project(central, train)
            out["centralised"] = score(res.model_path, test, names)
            print(f"centralised: macro-F1 {out['centralised']:.3f} ({time.perf_counter() - t:.0f} s)", flush=True)

        coord = make_project(tmp / "coord.wbproj", names, test, split="test")
        address = f"127.0.0.1:{free_port()}"
        threads = [threading.Thread(target=join_job, args=(p, JoinConfig(SiteConfig(address=address, name=f"site{k}", keep_model=False))),
                                    kwargs={"progress": lambda e: None, "should_stop": lambda: False}, daemon=True)
                   for k, p in enumerate(paths)]
        for th in threads:
            th.start()
        fed = serve_job(coord, ServeConfig(FederationConfig(address=address, rounds=args.rounds, min_sites=3), train),
                        progress=lambda e: print(f"  {e.message}", flush=True) if e.phase == "round" else None,
                        should_stop=lambda: False)
        for th in threads:
            th.join(60)
    print()
    print(f"{'model':<22} {'macro-F1':>8}")
    for name, f1 in out.items():
        print(f"{name:<22} {f1:8.3f}")
    for h in fed.history:
        if h["round"] in (1, 3, 5) or h["round"] == len(fed.history):
            print(f"{'federated, round ' + str(h['round']):<22} {h['coordinator']['macro_f1']:8.3f}")
    final = fed.history[-1]["coordinator"]["macro_f1"]
    if out:
        best_alone = max(v for k, v in out.items() if k.endswith("alone"))
        print(f"\nfederated after {len(fed.history)} rounds vs centralised: "
              f"{100 * (final - out['centralised']):+.1f} points; vs best site alone: "
              f"{100 * (final - best_alone):+.1f} points")
    print("\nper round: bytes sent (coordinator to sites + sites to coordinator), seconds")
    for h in fed.history:
        print(f"  round {h['round']}: {(h['bytes_sent'] + h['bytes_received']) / 1e6:7.1f} MB, {h['seconds']:6.1f} s")
    lora, full = lora_bytes_estimate()
    print(f"\nLoRA exchange (computed from tensor sizes, rank 8 query/value + head): {lora / 1e6:.2f} MB "
          f"per site and direction vs full {full / 1e6:.1f} MB = {100 * lora / full:.1f}% "
          "(LoRA rounds not run: the LoRA training method is not in this version)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
