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

Run: ``nice -n 10 python benchmarks/few_labels.py [--budgets 8 16 32 64] [--seeds 3]
[--methods auto setfit linear-tfidf linear-emb finetune] [--finetune-budgets 8 32]``
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

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
        Trainer(model=model, args=args, train_dataset=train).train()
    seconds = time.perf_counter() - t
    pred = list(model.predict([texts[i] for i in test], batch_size=64, as_numpy=True))
    names = sorted(set(labels))
    f1 = float(f1_score([labels[i] for i in test], pred, average="macro", labels=names, zero_division=0))
    return f1, seconds, "setfit-lib"


def run_one(method: str, texts: list[str], labels: list[str], chosen: list[int], test: list[int],
            seed: int, folder: Path) -> tuple[float, float, str]:
    from workbench.core.data.importer import add_texts
    from workbench.core.store.project import Project
    from workbench.core.training import TrainConfig, train_project
    from workbench.core.training.evaluate import load_run_model, predict_proba
    from workbench.core.training.methods import choose

    if method == "setfit-lib":
        return run_setfit_library(texts, labels, chosen, test, seed)
    names = sorted(set(labels))
    path = folder / f"{method}-{seed}-{len(chosen)}.wbproj"
    with Project.create(path, names) as project:
        ids = add_texts(project, [texts[i] for i in chosen])
        for rid, i in zip(ids, chosen, strict=True):
            project.annotate(rid, [labels[i]])
    cfg = TrainConfig(seed=seed, **METHOD_CONFIG[method])
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
    return f1, seconds, chosen_name


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--budgets", type=int, nargs="+", default=[8, 16, 32, 64])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--methods", nargs="+", default=list(METHOD_CONFIG))
    ap.add_argument("--slow-budgets", type=int, nargs="+", default=None,
                    help="budgets at which setfit, finetune and the setfit library run (default: all)")
    ap.add_argument("--slow-seeds", type=int, default=None, help="seeds for setfit, finetune and the setfit library")
    ap.add_argument("--lib-budgets", type=int, nargs="+", default=[8, 16],
                    help="budgets at which the setfit library's defaults run (its oversampled pairs grow "
                         "with the square of the labels: 1,920 steps at 32 per class over 6 classes)")
    ap.add_argument("--first-seed", type=int, default=0, help="seeds run from this one (to add seeds later)")
    ap.add_argument("--datasets", nargs="+", default=["topic", "sentiment"])
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    data = {"topic": make_topic(2000, seed=7), "sentiment": make_sentiment(2400, seed=11)}
    slow = {"setfit", "finetune", "setfit-lib"}
    print(f"methods: {', '.join(args.methods)}; budgets {args.budgets} labels per class; "
          f"{args.seeds} seed(s) (setfit/finetune/setfit-lib: budgets {args.slow_budgets or args.budgets}, "
          f"{args.slow_seeds or args.seeds} seed(s)); test 600 records per data set; 1 torch thread")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.datasets:
            texts, labels = data[name]
            seen: set[str] = set()  # a project keeps one record per distinct text
            keep = [i for i, t in enumerate(texts) if not (t in seen or seen.add(t))]
            texts, labels = [texts[i] for i in keep], [labels[i] for i in keep]
            order = list(range(len(texts)))
            random.Random(0).shuffle(order)
            test, pool = order[:600], order[600:]
            counts = {c: sum(1 for i in pool if labels[i] == c) for c in sorted(set(labels))}
            print(f"\n== {name}: {len(texts)} records, classes {counts} in the pool ==")
            header = f"{'labels/class':>12} | " + " | ".join(f"{m:>22}" for m in args.methods)
            print(header)
            print("-" * len(header))
            for budget in args.budgets:
                cells = []
                for method in args.methods:
                    skip_lib = method == "setfit-lib" and budget not in args.lib_budgets
                    if skip_lib or (method in slow and args.slow_budgets and budget not in args.slow_budgets):
                        cells.append(f"{'-':>22}")
                        continue
                    n_seeds = args.slow_seeds if (method in slow and args.slow_seeds) else args.seeds
                    f1s, secs, picks = [], [], []
                    CPU_SECONDS.clear()
                    for seed in range(args.first_seed, args.first_seed + n_seeds):
                        chosen = _sample(labels, pool, budget, seed)
                        f1, s, pick = run_one(method, texts, labels, chosen, test, seed, Path(tmp))
                        f1s.append(f1)
                        secs.append(s)
                        picks.append(pick)
                    print(f"#   {name} {budget}/class {method}: macro-F1 "
                          f"{' '.join(f'{v:.3f}' for v in f1s)}, seconds {' '.join(f'{v:.0f}' for v in secs)}"
                          f"{', picks ' + ' '.join(picks) if method == 'auto' else ''}"
                          f"{'; processor seconds ' + ' '.join(f'{v:.0f}' for v in CPU_SECONDS) if CPU_SECONDS else ''}",
                          flush=True)
                    spread = statistics.pstdev(f1s) if len(f1s) > 1 else 0.0
                    tag = f" {'/'.join(sorted(set(p[:2] for p in picks)))}" if method == "auto" else ""
                    cells.append(f"{np.mean(f1s):.3f}±{spread:.3f} {np.mean(secs):5.0f}s{tag}".rjust(22))
                print(f"{budget:>12} | " + " | ".join(cells), flush=True)
    print("\ncells: test macro-F1 mean±spread over seeds, mean training seconds (train_project, "
          "incl. model loading and auto's comparison); auto's pick: tf=TF-IDF, em=embeddings, se=SetFit, fi=finetune")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
