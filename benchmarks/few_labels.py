"""Learning curves with few labels: auto, finetune, setfit and linear side by side.

Two data sets built offline (no download):

* **topic** - the support-intent generator of ``benchmarks/active_learning.py`` (6 intents,
  imbalanced priors, sub-topics, shared vocabulary and distractor words).
* **sentiment** - generated product reviews over 3 classes with a 70/20/10 imbalance
  (duplicate texts dropped, as a project keeps one record per distinct text)
  (positive/negative/mixed): sentiment phrases, negated phrases ("not great"), neutral
  product facts and contrast sentences ("..., but ..."), so single words do not decide.

For each data set, budget (labels per class, capped by what a rare class has in the pool)
and seed, a project is created with exactly those labels and every method is trained
through :func:`workbench.core.training.train_project` (the real code path: run record,
cross-validation, delivered model); the delivered model is scored on 600 held-out test
records. Printed: macro-F1 mean ± spread over seeds and training seconds per method.

The last column is ``auto`` minus the best other column (the target: within 1 point).
The setfit library's own defaults pair every record with every other one (oversampling), so
its contrastive steps grow with the square of the labels: 120 steps at 8 per class over 6
classes, 7,680 at 64. Cells above ``--lib-max-steps`` (default 500) are left out with their
step count printed: at about a second a step on one core of this machine, the 64-per-class
cell alone would take over two hours a seed.

Each finished seed is stored in ``benchmarks/results/few_labels_cells.jsonl`` with a key of
the code and data it was computed with (:func:`code_key`): the whole grid takes about four
hours on a 2-core CPU, more than one sitting, so a run finds the seeds an earlier run of
the same code finished, computes the rest and prints the whole table (the '#' line of a
cell says how many of its seeds were stored; their seconds are those of the run that
computed them). ``--fresh`` runs everything.

Run (the whole grid in one run, a process per data set, one torch thread each):
``nice -n 10 python benchmarks/few_labels.py --jobs 2 [--budgets 8 16 32 64] [--seeds 3]
[--methods auto setfit linear-tfidf linear-emb finetune setfit-lib]``
"""
from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from active_learning import make_dataset as make_topic  # noqa: E402

POS = ["works great", "really love it", "excellent quality", "very happy with it", "does the job well",
       "would buy again", "comfortable and sturdy", "exceeded my expectations", "fast and reliable"]
NEG = ["stopped working", "really disappointed", "poor quality", "waste of money", "broke after a week",
       "would not recommend", "uncomfortable and flimsy", "worse than expected", "slow and unreliable"]
NEUTRAL = ["the box had a manual", "it comes in blue and grey", "arrived on tuesday", "the cable is 2 metres",
           "i bought it for my office", "it replaces my old one", "battery is removable", "it is made of plastic"]
NEGATE = {"works great": "does not work great", "really love it": "do not really love it",
          "excellent quality": "not excellent quality", "very happy with it": "not very happy with it",
          "would buy again": "would not buy again", "fast and reliable": "not fast or reliable"}


def make_sentiment(n: int = 2400, seed: int = 11) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(n):
        r = rng.random()
        label = "positive" if r < 0.7 else "negative" if r < 0.9 else "mixed"
        parts = [rng.choice(NEUTRAL)]
        if label == "positive":
            parts.append(rng.choice(POS))
            if rng.random() < 0.3:
                parts.append(rng.choice(NEUTRAL))
        elif label == "negative":
            parts.append(rng.choice(NEG) if rng.random() < 0.7 else NEGATE[rng.choice(list(NEGATE))])
        else:
            parts.append(f"{rng.choice(POS)}, but {rng.choice(NEG)}")
        if rng.random() < 0.4:
            parts.append(rng.choice(NEUTRAL))
        rng.shuffle(parts)
        texts.append(". ".join(parts) + ".")
        labels.append(label)
    return texts, labels


METHOD_CONFIG = {
    "auto": {"method": "auto"},
    "setfit": {"method": "setfit"},
    "linear-tfidf": {"method": "linear"},  # restricted to TF-IDF below
    "linear-emb": {"method": "linear"},  # restricted to embeddings below
    "finetune": {"method": "finetune"},
    "setfit-lib": None,  # the setfit library itself with its defaults, outside the app
}


#: Processor seconds of each train_project call (all threads): unlike wall-clock seconds they
#: do not grow when other programs share the machine.
CPU_SECONDS: list[float] = []
#: auto's candidates per run: "tf 0.990/5 se 1.000/5" (mean fold macro-F1 / folds scored).
AUTO_FOLDS: list[str] = []


def _sample(labels: list[str], pool: list[int], per_class: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    out = []
    for name in sorted(set(labels)):
        members = [i for i in pool if labels[i] == name]
        rng.shuffle(members)
        out += members[:per_class]
    return out


def run_setfit_library(texts: list[str], labels: list[str], chosen: list[int], test: list[int],
                       seed: int) -> tuple[float, float, str]:
    """The ``setfit`` library (1.2) with its own defaults on the bundled MiniLM: a reference column.

    Defaults: ``sampling_strategy="oversampling"`` (every unique pair, the minority side
    repeated), one epoch of contrastive tuning at batch 16 and learning rate 2e-5, then
    scikit-learn's logistic regression as the head. Only ``report_to``, ``seed`` and the
    checkpoint folder are set.
    """
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments
    from sklearn.metrics import f1_score

    from workbench.core.training.models import bundled_model_path

    t = time.perf_counter()
    model = SetFitModel.from_pretrained(str(bundled_model_path()))
    train = Dataset.from_dict({"text": [texts[i] for i in chosen], "label": [labels[i] for i in chosen]})
    with tempfile.TemporaryDirectory() as out:  # its checkpoints, not the working folder
        args = TrainingArguments(output_dir=out, report_to="none", seed=seed, show_progress_bar=False)
        with contextlib.redirect_stdout(sys.stderr):  # its loss logs would break the tables
            Trainer(model=model, args=args, train_dataset=train).train()
    seconds = time.perf_counter() - t
    pred = list(model.predict([texts[i] for i in test], batch_size=64, as_numpy=True))
    names = sorted(set(labels))
    f1 = float(f1_score([labels[i] for i in test], pred, average="macro", labels=names, zero_division=0))
    return f1, seconds, "setfit-lib"


def run_one(method: str, texts: list[str], labels: list[str], chosen: list[int], test: list[int],
            seed: int, folder: Path, dataset: str = "data", threads: int = 0) -> tuple[float, float, str]:
    from workbench.core.data.importer import add_texts
    from workbench.core.store.project import Project
    from workbench.core.training import TrainConfig, train_project
    from workbench.core.training.evaluate import load_run_model, predict_proba
    from workbench.core.training.methods import choose

    if method == "setfit-lib":
        return run_setfit_library(texts, labels, chosen, test, seed)
    names = sorted(set(labels))
    path = folder / f"{dataset}-{method}-{seed}-{len(chosen)}.wbproj"
    with Project.create(path, names) as project:
        ids = add_texts(project, [texts[i] for i in chosen])
        for rid, i in zip(ids, chosen, strict=True):
            project.annotate(rid, [labels[i]])
    cfg = TrainConfig(seed=seed, threads=threads, **METHOD_CONFIG[method])
    saved = None
    if method in ("linear-tfidf", "linear-emb"):
        saved = choose.plan_methods
        only = "tfidf" if method == "linear-tfidf" else "embeddings"
        choose.plan_methods = lambda profile, m, _o=only: choose.Plan([_o], f"{_o} only (benchmark)")
    try:
        t, c = time.perf_counter(), time.process_time()
        result = train_project(path, cfg)
        seconds = time.perf_counter() - t
        CPU_SECONDS.append(time.process_time() - c)
    finally:
        if saved is not None:
            choose.plan_methods = saved
    model, tok, info = load_run_model(result.model_path)
    probs = predict_proba(model, tok, [texts[i] for i in test], max_length=int(info["max_length"]),
                          multi_label=False)
    pred = [info["labels"][j] for j in probs.argmax(axis=1)]
    from sklearn.metrics import f1_score

    f1 = float(f1_score([labels[i] for i in test], pred, average="macro", labels=names, zero_division=0))
    chosen_name = (result.metrics.get("method") or {}).get("chosen", method)
    if method == "auto":
        table = (result.metrics.get("method") or {}).get("candidates") or []
        AUTO_FOLDS.append(" ".join(f"{SHORT.get(r['candidate'], r['candidate'][:2])} {r['macro_f1']:.3f}/{r['folds']}"
                                   for r in table) or "validation split")
    return f1, seconds, chosen_name


def library_steps(counts: list[int], batch_size: int = 16) -> int:
    """Contrastive steps of the setfit library's defaults (oversampling: both sides of the
    unique positive and negative pairs brought up to the larger one; one epoch, batch 16)."""
    n = sum(counts)
    positive = sum(c * (c - 1) // 2 for c in counts)
    negative = n * (n - 1) // 2 - positive
    return -(-2 * max(positive, negative) // batch_size)


SHORT = {"tfidf": "tf", "embeddings": "em", "setfit": "se", "finetune": "fi", "lora": "lo"}

#: Finished seeds of every cell, one JSON line each, so that a grid longer than one sitting
#: (about four hours on a 2-core CPU) can be completed over several runs and printed whole.
CELLS = ROOT / "benchmarks" / "results" / "few_labels_cells.jsonl"


def _code(source: str) -> str:
    """``source`` as its syntax tree less docstrings: comments and wording do not count."""
    import ast

    tree = ast.parse(textwrap.dedent(source))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


def code_key(method: str) -> str:
    """What a stored seed was computed with: the data generators and, for the app's methods,
    the training code (every ``workbench/core/training`` source), or for the setfit library
    its version and this script's call of it; a change of code (not of comments or
    docstrings) makes the seed run again."""
    import hashlib
    import inspect

    import torch

    h = hashlib.sha256()
    for part in (_code(inspect.getsource(make_sentiment)), _code(inspect.getsource(make_topic)),
                 _code(inspect.getsource(_sample)), torch.__version__):
        h.update(part.encode())
    if method == "setfit-lib":
        import setfit

        h.update(_code(inspect.getsource(run_setfit_library)).encode() + setfit.__version__.encode())
    else:
        h.update(_code(inspect.getsource(run_one)).encode() + repr(METHOD_CONFIG[method]).encode())
        for f in sorted((ROOT / "workbench" / "core" / "training").rglob("*.py")):
            h.update(_code(f.read_text()).encode())
    return h.hexdigest()[:16]


def stored_seeds(path: Path) -> dict[tuple, dict[str, Any]]:
    """{(key, data set, budget, method, seed): the stored seed}."""
    import json

    found = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                found[(r["key"], r["dataset"], r["budget"], r["method"], r["seed"])] = r
    return found


def store_seed(path: Path, record: dict[str, Any]) -> None:
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:  # one short appended line: safe beside the other data set's process
        f.write(json.dumps(record) + "\n")


def run_dataset(name: str, args: argparse.Namespace, out: Any = None) -> None:
    """One data set's table, row by row: a '#' line per cell (each seed's figures), then the row."""
    out = out or sys.stdout
    texts, labels = DATA[name]()
    seen: set[str] = set()  # a project keeps one record per distinct text
    keep = [i for i, t in enumerate(texts) if not (t in seen or seen.add(t))]
    texts, labels = [texts[i] for i in keep], [labels[i] for i in keep]
    order = list(range(len(texts)))
    random.Random(0).shuffle(order)
    test, pool = order[:600], order[600:]
    counts = {c: sum(1 for i in pool if labels[i] == c) for c in sorted(set(labels))}
    print(f"\n== {name}: {len(texts)} records, classes {counts} in the pool ==", file=out, flush=True)
    header = f"{'labels/class':>12} | " + " | ".join(f"{m:>22}" for m in args.methods)
    if "auto" in args.methods and len(args.methods) > 1:
        header += " | auto - best"
    print(header, file=out)
    print("-" * len(header), file=out, flush=True)
    notes = []
    slow = {"setfit", "finetune", "setfit-lib"}
    store = stored_seeds(args.cells) if args.cells else {}
    with tempfile.TemporaryDirectory() as tmp:
        for budget in args.budgets:
            cells, means = [], {}
            for method in args.methods:
                if method in slow and args.slow_budgets and budget not in args.slow_budgets:
                    cells.append(f"{'-':>22}")
                    continue
                if method == "setfit-lib":
                    steps = library_steps([min(budget, c) for c in counts.values()])
                    if steps > args.lib_max_steps:
                        cells.append(f"{f'({steps:,} steps)':>22}")
                        notes.append(f"{budget}/class: the setfit library's defaults would run {steps:,} "
                                     f"contrastive steps a seed (over --lib-max-steps {args.lib_max_steps})")
                        continue
                n_seeds = args.slow_seeds if (method in slow and args.slow_seeds) else args.seeds
                f1s, secs, picks, cpus, folds = [], [], [], [], []
                key, kept = code_key(method), 0
                for seed in range(args.first_seed, args.first_seed + n_seeds):
                    done = store.get((key, name, budget, method, seed))
                    if done is None:
                        CPU_SECONDS.clear()
                        AUTO_FOLDS.clear()
                        chosen = _sample(labels, pool, budget, seed)
                        f1, s, pick = run_one(method, texts, labels, chosen, test, seed, Path(tmp), name,
                                              threads=args.threads)
                        done = {"key": key, "dataset": name, "budget": budget, "method": method, "seed": seed,
                                "f1": f1, "seconds": s, "pick": pick, "threads": args.threads,
                                "cpu": CPU_SECONDS[-1] if CPU_SECONDS else None,
                                "compared": AUTO_FOLDS[-1] if AUTO_FOLDS else None}
                        if args.cells:
                            store_seed(args.cells, done)
                    else:
                        kept += 1
                    f1s.append(done["f1"])
                    secs.append(done["seconds"])
                    picks.append(done["pick"])
                    if done.get("cpu") is not None:
                        cpus.append(done["cpu"])
                    if done.get("compared"):
                        folds.append(done["compared"])
                CPU_SECONDS[:] = cpus
                AUTO_FOLDS[:] = folds
                print(f"#   {name} {budget}/class {method}: macro-F1 "
                      f"{' '.join(f'{v:.3f}' for v in f1s)}, seconds {' '.join(f'{v:.0f}' for v in secs)}"
                      f"{', picks ' + ' '.join(picks) if method == 'auto' else ''}"
                      f"{'; processor seconds ' + ' '.join(f'{v:.0f}' for v in CPU_SECONDS) if CPU_SECONDS else ''}"
                      f"{'; compared (mean fold macro-F1/folds): ' + ' | '.join(AUTO_FOLDS) if AUTO_FOLDS else ''}"
                      f"{f' ({kept} of {n_seeds} seeds stored by an earlier run)' if kept else ''}",
                      file=out, flush=True)
                means[method] = float(np.mean(f1s))
                spread = statistics.pstdev(f1s) if len(f1s) > 1 else 0.0
                tag = f" {'/'.join(sorted(set(SHORT.get(p, p[:2]) for p in picks)))}" if method == "auto" else ""
                cells.append(f"{means[method]:.3f}±{spread:.3f} {np.mean(secs):5.0f}s{tag}".rjust(22))
            row = f"{budget:>12} | " + " | ".join(cells)
            others = [v for m, v in means.items() if m != "auto"]
            if "auto" in means and others:
                row += f" | {(means['auto'] - max(others)) * 100:+.1f} pt"
            print(row, file=out, flush=True)
    for note in notes:
        print(f"  {note}", file=out, flush=True)


DATA = {"topic": lambda: make_topic(2000, seed=7), "sentiment": lambda: make_sentiment(2400, seed=11)}


def _in_parallel(args: argparse.Namespace, argv: list[str]) -> None:
    """A child process per data set (each with one torch thread); '#' lines are shown as they
    come, the tables printed whole and in order at the end."""
    children, outputs = [], {}
    rest, skip = [], False
    for a in argv:  # the same settings, less --datasets and --jobs
        if a.startswith("--"):
            skip = a in ("--datasets", "--jobs")
        if not skip:
            rest.append(a)
    for name in args.datasets:
        cmd = [sys.executable, __file__, *rest, "--jobs", "1", "--datasets", name, "--no-header",
               "--threads", str(args.threads)]
        children.append((name, subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)))

    def pump(name: str, stream: Any) -> None:
        lines = outputs.setdefault(name, [])
        for line in stream:
            lines.append(line.rstrip("\n"))
            if line.startswith("#"):
                print(line.rstrip("\n"), flush=True)

    threads = [threading.Thread(target=pump, args=(n, c.stdout)) for n, c in children]
    for t in threads:
        t.start()
    for (name, child), t in zip(children, threads, strict=True):
        t.join()
        if child.wait() != 0:
            raise SystemExit(f"the {name} run failed (exit {child.returncode})")
    for name in args.datasets:
        print("\n".join(line for line in outputs[name] if not line.startswith("#")))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--budgets", type=int, nargs="+", default=[8, 16, 32, 64])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--methods", nargs="+", default=list(METHOD_CONFIG))
    ap.add_argument("--slow-budgets", type=int, nargs="+", default=None,
                    help="budgets at which setfit, finetune and the setfit library run (default: all)")
    ap.add_argument("--slow-seeds", type=int, default=None, help="seeds for setfit, finetune and the setfit library")
    ap.add_argument("--lib-max-steps", type=int, default=500,
                    help="leave out setfit-library cells whose default training would take more contrastive "
                         "steps a seed than this (they grow with the square of the labels)")
    ap.add_argument("--first-seed", type=int, default=0, help="seeds run from this one (to add seeds later)")
    ap.add_argument("--datasets", nargs="+", default=["topic", "sentiment"])
    ap.add_argument("--jobs", type=int, default=1, help="2: a process per data set, side by side")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads of each run (default: the app's automatic setting, all cores; "
                         "1 with --jobs 2, so the two processes share the cores evenly)")
    ap.add_argument("--cells", type=Path, default=CELLS,
                    help="where finished seeds are stored and found again (a seed computed with the same "
                         "code and data is not run twice); --fresh to run everything")
    ap.add_argument("--fresh", action="store_true", help="neither read nor write stored seeds")
    ap.add_argument("--no-header", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.fresh:
        args.cells = None
    if args.threads is None:
        args.threads = 1 if args.jobs > 1 and len(args.datasets) > 1 else 0
    if not args.no_header:
        print(f"methods: {', '.join(args.methods)}; budgets {args.budgets} labels per class; "
              f"{args.seeds} seed(s) (setfit/finetune/setfit-lib: budgets {args.slow_budgets or args.budgets}, "
              f"{args.slow_seeds or args.seeds} seed(s)); test 600 records per data set; torch threads "
              f"per run: {args.threads or 'automatic'}; {'a process per data set' if args.jobs > 1 else 'one process'}", flush=True)
    t0 = time.perf_counter()
    if args.jobs > 1 and len(args.datasets) > 1:
        _in_parallel(args, argv)
    else:
        import torch

        torch.set_num_threads(args.threads or torch.get_num_threads())
        for name in args.datasets:
            run_dataset(name, args)
    if not args.no_header:
        print(f"\ncells: test macro-F1 mean±spread over seeds, mean training seconds (train_project, "
              f"incl. model loading and auto's comparison); auto's picks: tf TF-IDF, em embeddings, se SetFit, "
              f"fi fine-tuning, lo LoRA; whole run {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
