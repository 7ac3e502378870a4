"""Data preparation figures, measured side by side in one run.

1. Near-duplicates: pair precision/recall on planted light edits (one word replaced, a
   word inserted or dropped, punctuation) among generated texts, through a real project
   (plan_near_duplicates); then the time of MinHash + LSH grouping on 1,000,000 texts held
   in memory (the project read is not included; reading 1M short records from SQLite
   takes a few seconds more).
2. PII masking: precision/recall per kind on the generated corpus of notes and messages
   (tests/pii_corpus.py), with look-alike distractors.
3. Augmentation: test macro-F1 with and without EDA augmentation (2 copies, strength 0.1)
   at 8/16/32 labelled records per class x 3 seeds, on the demo support messages (370,
   6 intents) and on generated support messages (benchmarks/active_learning.py, 1,200).
   The classifier is logistic regression on frozen embeddings of the bundled MiniLM
   (fine-tuning 18 x 2 runs does not fit here); the augmented texts are embedded too.

Run: ``nice -n 10 python benchmarks/data_prep.py [--records 1000000] [--skip-augment]``
"""
from __future__ import annotations

import argparse
import csv
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402

from workbench.core.data.importer import add_texts  # noqa: E402
from workbench.core.prep.config import AugmentConfig, NearDuplicateConfig  # noqa: E402
from workbench.core.prep.near_duplicates import find_groups, signatures  # noqa: E402
from workbench.core.prep.record_steps import plan_near_duplicates  # noqa: E402
from workbench.core.store.project import Project  # noqa: E402

VOCAB = [f"w{i}" for i in range(20000)]
COMMON = "the a to and of in is it for my on was with this that not you have order".split()


def sentence(rng: random.Random) -> str:
    n = rng.randint(10, 35)
    return " ".join(rng.choice(COMMON) if rng.random() < 0.35 else rng.choice(VOCAB)
                    for _ in range(n))


def light_edit(text: str, rng: random.Random) -> str:
    words = text.split()
    op = rng.choice(["replace", "insert", "drop", "punct"])
    if op == "replace":
        words[rng.randrange(len(words))] = rng.choice(VOCAB)
    elif op == "insert":
        words.insert(rng.randrange(len(words)), rng.choice(COMMON))
    elif op == "drop":
        del words[rng.randrange(len(words))]
    out = " ".join(words)
    if op == "punct" or rng.random() < 0.3:
        out += rng.choice([".", "!", " thanks"])
    return out


def bench_duplicates(n_small: int, n_large: int) -> None:
    rng = random.Random(0)
    base = [sentence(rng) for _ in range(n_small)]
    texts = list(base)
    truth = set()
    seen = set(base)
    for i in range(n_small // 10):
        edited = light_edit(base[i], rng)
        if edited in seen:  # an edit that changed nothing would be refused by the import
            continue
        seen.add(edited)
        texts.append(edited)
        truth.add((i, len(texts) - 1))
    with tempfile.TemporaryDirectory() as tmp:
        with Project.create(Path(tmp) / "d.wbproj", ["a"]) as project:
            add_texts(project, texts)
            position = {t: i for i, t in enumerate(texts)}
            index = {rid: position[text] for rid, text in project.db.execute(
                "SELECT id, text FROM records")}
            for threshold in (0.5, 0.7):
                t0 = time.perf_counter()
                plan = plan_near_duplicates(project, NearDuplicateConfig(threshold=threshold))
                dt = time.perf_counter() - t0
                pairs = {(index[a], index[b]) for g in plan.groups for a in g for b in g
                         if a < b}
                tp = len(pairs & truth)
                print(f"near-duplicates, {len(texts):,} records ({len(truth)} planted pairs), "
                      f"threshold {threshold}: precision {tp / max(1, len(pairs)):.3f}, "
                      f"recall {tp / len(truth):.3f} ({len(plan.groups)} groups, {dt:.2f} s)")
    rng = random.Random(1)
    n_base = n_large - n_large // 100
    big = [sentence(rng) for _ in range(n_base)]
    big += [light_edit(big[i], rng) for i in range(n_large // 100)]
    planted = {(i, n_base + i) for i in range(n_large // 100) if big[i] != big[n_base + i]}
    t0 = time.perf_counter()
    sig, has = signatures(big)
    t1 = time.perf_counter()
    groups = find_groups(sig, has, threshold=0.5)
    t2 = time.perf_counter()
    pairs = {(a, b) for g in groups for a in g for b in g if a < b}
    tp = len(pairs & planted)
    mean_words = np.mean([len(t.split()) for t in big[:10000]])
    print(f"near-duplicates on {len(big):,} texts in memory (mean {mean_words:.0f} words): "
          f"MinHash {t1 - t0:.1f} s + LSH grouping {t2 - t1:.1f} s = {t2 - t0:.1f} s "
          f"({len(big) / (t2 - t0):,.0f} texts/s); {len(groups):,} groups; planted pairs "
          f"{len(planted):,}: precision {tp / max(1, len(pairs)):.3f}, "
          f"recall {tp / max(1, len(planted)):.3f}")


def bench_pii(n: int) -> None:
    from tests.pii_corpus import make_corpus, score
    from workbench.core.prep.pii import find_pii

    corpus = make_corpus(n, seed=21)
    t0 = time.perf_counter()
    found = [find_pii(text) for text, _ in corpus]
    dt = time.perf_counter() - t0
    print(f"PII on {n:,} generated notes/messages ({dt:.2f} s, {n / dt:,.0f} texts/s):")
    for kind, row in sorted(score(corpus, found).items()):
        print(f"  {kind:6s} planted {row['planted']:5d} found {row['found']:5d} "
              f"precision {row['precision']:.3f} recall {row['recall']:.3f}")
    texts, _labels = _demo()
    flagged = [(f.kind, f.value) for t in texts for f in find_pii(t)]
    print(f"  on the {len(texts)} demo support messages (order numbers, amounts, no personal "
          f"data): {len(flagged)} finding(s) {flagged[:5]}")


def _demo() -> tuple[list[str], list[str]]:
    from workbench.core.resources import resource_path

    with open(resource_path("demo", "support_messages.csv"), encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [r["text"] for r in rows], [r["intent"] for r in rows]


def bench_augment(per_class: list[int], seeds: int) -> None:
    from active_learning import make_dataset, minilm_embeddings
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    from workbench.core.prep.augment import augment_text

    cfg = AugmentConfig(copies=2, strength=0.1)
    cache: dict[str, np.ndarray] = {}

    def embed(texts: list[str]) -> np.ndarray:
        new = sorted({t for t in texts if t not in cache})
        if new:
            for t, v in zip(new, minilm_embeddings(new), strict=True):
                cache[t] = v
        return np.vstack([cache[t] for t in texts])

    datasets = {"demo support messages (370)": _demo(),
                "generated support messages (1,200)": make_dataset(1200, seed=3)}
    for name, (texts, labels) in datasets.items():
        embed(texts)
        classes = sorted(set(labels))
        print(f"augmentation on {name}, {len(classes)} classes:")
        for k in per_class:
            scores = {"off": [], "on": []}
            for seed in range(seeds):
                rng = random.Random(seed)
                train: list[int] = []
                for c in classes:
                    members = [i for i, y in enumerate(labels) if y == c]
                    train += rng.sample(members, min(k, len(members) - 1))
                test = [i for i in range(len(texts)) if i not in set(train)]
                x_test, y_test = embed([texts[i] for i in test]), [labels[i] for i in test]
                x_tr, y_tr = [texts[i] for i in train], [labels[i] for i in train]
                aug_rng = random.Random(100 + seed)
                extra = [(augment_text(t, cfg, aug_rng)[0], y) for t, y in zip(x_tr, y_tr, strict=True)
                         for _ in range(cfg.copies)]
                for mode, (xs, ys) in (("off", (x_tr, y_tr)),
                                       ("on", (x_tr + [t for t, _ in extra], y_tr + [y for _, y in extra]))):
                    clf = LogisticRegression(max_iter=2000, C=10.0).fit(embed(xs), ys)
                    scores[mode].append(f1_score(y_test, clf.predict(x_test), average="macro"))
            off, on = np.mean(scores["off"]), np.mean(scores["on"])
            print(f"  {k:2d} labels/class: macro-F1 without {off:.3f}, with {on:.3f} "
                  f"(gain {100 * (on - off):+.1f} points; seeds {', '.join(f'{a:.3f}/{b:.3f}' for a, b in zip(scores['off'], scores['on'], strict=True))})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", type=int, default=4000)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--pii", type=int, default=5000)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--skip-augment", action="store_true")
    ap.add_argument("--skip-pii", action="store_true")
    args = ap.parse_args()
    if not args.skip_pii:
        bench_pii(args.pii)
    if not args.skip_augment:
        bench_augment([8, 16, 32], args.seeds)
    bench_duplicates(args.small, args.records)
    return 0


if __name__ == "__main__":
    sys.exit(main())
