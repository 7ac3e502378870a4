"""Active-learning simulation: how many labels does each queue strategy need?

An annotator is simulated on a generated labelled data set (gold labels are revealed only
for the records a strategy asks for): 20 random labels to start, then batches of 20 up to
200, retraining a fast model each round: logistic regression on frozen sentence
embeddings of the bundled MiniLM (computed once; the default), or with ``--features tfidf``
on TF-IDF word + character n-grams (the cold-start suggester's features). Test macro-F1 per
round is printed for random, least-confidence, margin, entropy and the diversity-aware
strategy (k-means over the features of the most uncertain records), averaged over several
seeds, and the label count at which each strategy first reaches random's 200-label macro-F1.

The data set: short support messages over 6 intents with imbalanced priors, each intent
made of sub-topics of unequal frequency, shared vocabulary between intents and distractor
words from other intents (so it is not separable by a keyword list). 3,000 records: 2,000
in the pool, 1,000 for the test set.

Run: ``python benchmarks/active_learning.py [--seeds 5] [--features minilm|tfidf]``
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

# One BLAS thread: on a busy 2-core machine more threads make every fit far slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench.core.assist import active_learning as al  # noqa: E402
from workbench.core.assist.textmodel import fit_predict_linear, tfidf_features  # noqa: E402

# intent -> prior, then sub-topics (weight, keywords). Keywords overlap across intents.
INTENTS: dict[str, tuple[float, list[tuple[float, list[str]]]]] = {
    "billing": (0.30, [
        (0.6, ["charged", "charge", "card", "invoice", "bill", "billed", "statement", "payment"]),
        (0.3, ["vat", "receipt", "invoice", "company", "tax", "address", "billing"]),
        (0.1, ["declined", "checkout", "bank", "transfer", "paypal", "payment", "failed"]),
    ]),
    "delivery": (0.24, [
        (0.6, ["parcel", "package", "arrived", "courier", "tracking", "late", "delivery"]),
        (0.3, ["address", "neighbour", "doorstep", "driver", "left", "delivered", "wrong"]),
        (0.1, ["customs", "international", "abroad", "duty", "border", "shipping"]),
    ]),
    "refund": (0.18, [
        (0.6, ["refund", "money", "back", "return", "returned", "charge", "weeks"]),
        (0.3, ["broken", "damaged", "faulty", "replacement", "return", "label"]),
        (0.1, ["cancelled", "cancel", "subscription", "prorated", "money", "card"]),
    ]),
    "account": (0.13, [
        (0.6, ["password", "login", "log", "reset", "account", "email", "locked"]),
        (0.3, ["delete", "close", "data", "privacy", "gdpr", "account", "remove"]),
        (0.1, ["username", "profile", "photo", "name", "change", "update", "email"]),
    ]),
    "technical": (0.09, [
        (0.6, ["app", "crash", "crashes", "error", "bug", "loading", "screen"]),
        (0.3, ["website", "page", "browser", "button", "checkout", "broken", "blank"]),
        (0.1, ["notification", "sync", "update", "version", "android", "iphone", "login"]),
    ]),
    "feedback": (0.06, [
        (0.6, ["love", "great", "service", "thanks", "quality", "happy", "recommend"]),
        (0.3, ["suggest", "feature", "wish", "would", "idea", "option", "app"]),
        (0.1, ["disappointed", "terrible", "worst", "never", "again", "quality", "service"]),
    ]),
}
FILLER = (
    "hi hello please thanks thank you my the a an i it this that was is not and or but "
    "order again today still help need want can could would you your me we our just "
    "yesterday week last month now asap urgent quick question about with for from on in "
    "really very some any have has had got get did do does there here when why how what"
).split()
OPENERS = ["hi,", "hello,", "hey,", "good morning,", "", "", "", "dear support,"]


def make_dataset(n: int = 3000, seed: int = 7, distractor: float = 0.6) -> tuple[list[str], list[str]]:
    """Generated support messages and their intents (see the module docstring)."""
    rng = random.Random(seed)
    names = list(INTENTS)
    priors = [INTENTS[name][0] for name in names]
    texts: list[str] = []
    labels: list[str] = []
    seen: set[str] = set()
    while len(texts) < n:
        intent = rng.choices(names, priors)[0]
        topics = INTENTS[intent][1]
        words = rng.choices(topics, [w for w, _ in topics])[0][1]
        content = rng.sample(words, rng.randint(1, 3))
        if rng.random() < distractor:  # a distractor from another intent
            other = rng.choice([x for x in names if x != intent])
            o_topics = INTENTS[other][1]
            o_words = rng.choices(o_topics, [w for w, _ in o_topics])[0][1]
            content += rng.sample(o_words, rng.randint(1, 2))
        filler = [rng.choice(FILLER) for _ in range(rng.randint(5, 12))]
        tokens = content + filler
        rng.shuffle(tokens)
        text = (rng.choice(OPENERS) + " " + " ".join(tokens)).strip()
        if text in seen:
            continue
        seen.add(text)
        texts.append(text)
        labels.append(intent)
    return texts, labels


def minilm_embeddings(texts: list[str], batch_size: int = 64) -> np.ndarray:
    """Mean-pooled, L2-normalised sentence embeddings of the bundled MiniLM (frozen)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from workbench.core.training import bundled_model_path

    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))
    folder = str(bundled_model_path())
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            enc = tokenizer(texts[start : start + batch_size], padding=True, truncation=True,
                            max_length=128, return_tensors="pt")
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(pooled, dim=1).numpy())
    return np.vstack(out)


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, y_pred, average="macro"))


def simulate(strategy: str, features, y: np.ndarray, pool: np.ndarray, test: np.ndarray,
             seed: int, start: int = 20, step: int = 20, stop: int = 200) -> list[float]:
    """Test macro-F1 after each round of ``strategy`` (one value per labelled-set size)."""
    rng = np.random.default_rng(seed)
    labelled = list(rng.choice(pool, size=start, replace=False))
    curve = []
    while True:
        lab = np.array(labelled)
        probs_test = fit_predict_linear(features, y, lab, test)
        curve.append(macro_f1(y[test], probs_test.argmax(axis=1)))
        if len(labelled) >= stop:
            return curve
        taken = set(labelled)
        rest = np.array([i for i in pool if i not in taken])
        if strategy == "random":
            picks = list(rng.choice(rest, size=step, replace=False))
        else:
            probs = fit_predict_linear(features, y, lab, rest)
            # "diverse" scores like the app's Diverse strategy; "diverse:<kind>" to compare.
            base, _, kind = strategy.partition(":")
            kind = kind or (al.Diverse.kind if base == "diverse" else base)
            scores = {
                "least-confidence": al.least_confidence_scores,
                "margin": al.margin_scores,
                "entropy": al.entropy_scores,
            }[kind](probs)
            if base == "diverse":
                picks = [rest[p] for p in al.diverse_select(scores, features[rest], step, seed=seed)]
            else:
                picks = list(rest[np.lexsort((rest, -scores))[:step]])
        labelled += [int(p) for p in picks]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--records", type=int, default=3000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--distractor", type=float, default=0.6,
                        help="share of messages with words of another intent")
    parser.add_argument("--features", choices=("tfidf", "minilm"), default="minilm",
                        help="per-round model features (default: minilm)")
    parser.add_argument("--strategies", default="random,least-confidence,margin,entropy,diverse")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    texts, labels = make_dataset(args.records, distractor=args.distractor)
    names = sorted(set(labels))
    y = np.array([names.index(x) for x in labels])
    if args.features == "minilm":
        t_embed = time.perf_counter()
        features = minilm_embeddings(texts)
        model_text = (f"frozen MiniLM sentence embeddings (computed once, "
                      f"{time.perf_counter() - t_embed:.0f} s) + logistic regression")
    else:
        features = tfidf_features(texts)
        model_text = "TF-IDF (word 1-2 + char 2-4 grams) + logistic regression"
    counts = {name: labels.count(name) for name in names}
    print(f"Data: {len(texts)} generated records, {len(names)} intents {counts}")
    print(f"Model per round: {model_text}")
    strategies = args.strategies.split(",")
    curves: dict[str, list[list[float]]] = {s: [] for s in strategies}
    for seed in range(args.seeds):
        order = np.random.default_rng(1000 + seed).permutation(len(texts))
        test, pool = order[: args.test], order[args.test :]
        for s in strategies:
            curves[s].append(simulate(s, features, y, pool, test, seed))
    sizes = list(range(20, 201, 20))
    mean = {s: np.mean(curves[s], axis=0) for s in strategies}
    print(f"\nTest macro-F1 by number of labels (mean of {args.seeds} seeds):")
    print("labels  " + "  ".join(f"{s:>16}" for s in strategies))
    for i, n in enumerate(sizes):
        print(f"{n:6d}  " + "  ".join(f"{mean[s][i]:16.3f}" for s in strategies))
    target = mean["random"][-1] if "random" in mean else None
    if target is not None:
        print(f"\nRandom at 200 labels: macro-F1 {target:.3f}")
        for s in strategies:
            reached = next((n for n, f in zip(sizes, mean[s], strict=True) if f >= target), None)
            where = f"{reached} labels" if reached is not None else "not within 200 labels"
            print(f"  {s:>16} reaches it with {where}")
    print(f"\n(total time {time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
