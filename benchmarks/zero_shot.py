"""Zero-shot cold start against random order, before the first label.

Data: the topic and sentiment sets of ``benchmarks/few_labels.py`` (built offline), with
one-line label guidelines written for them. Measured on 1,000 records of each:

* suggestion accuracy: how often the zero-shot suggested label (label name + guideline,
  bundled MiniLM similarity) is the gold label, against always suggesting the most common
  label and against a random label;
* queue: the first 30 records in zero-shot order (round-robin over the suggested labels,
  most confident first) against 30 in random order (mean over 5 draws): labels covered, and
  the test macro-F1 of the TF-IDF cold-start model fitted on those 30 gold labels.

Run: ``nice -n 10 python benchmarks/zero_shot.py``
"""
from __future__ import annotations

import os
import random
import sys
from collections import Counter
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from few_labels import make_sentiment, make_topic  # noqa: E402

GUIDES = {
    "topic": {
        "billing": "Charges, invoices, card payments and bills.",
        "delivery": "Parcels, couriers, shipping and tracking of orders.",
        "refund": "Getting money back, returns and cancelled orders.",
        "account": "Login, passwords, profile and account data.",
        "technical": "The app or website crashes, errors and bugs.",
        "feedback": "Praise, complaints and suggestions about the service.",
    },
    "sentiment": {
        "positive": "The customer is happy with the product.",
        "negative": "The customer is unhappy: the product failed or disappointed.",
        "mixed": "Some good and some bad points about the product.",
    },
}


def main() -> int:
    import torch
    from sklearn.metrics import f1_score

    from workbench.core.assist.textmodel import fit_predict_linear, tfidf_features
    from workbench.core.assist.zero_shot import zero_shot_probs

    torch.set_num_threads(1)
    for name, (texts, labels) in {"topic": make_topic(2000, seed=7), "sentiment": make_sentiment(2400, seed=11)}.items():
        names = sorted(set(labels))
        order = list(range(len(texts)))
        random.Random(0).shuffle(order)
        test, pool = order[:600], order[600:1600]
        descriptions = [f"{n}. {GUIDES[name][n]}" for n in names]
        probs = zero_shot_probs(descriptions, [texts[i] for i in pool])
        pred = probs.argmax(axis=1)
        gold = np.array([names.index(labels[i]) for i in pool])
        acc = float((pred == gold).mean())
        majority = Counter(gold.tolist()).most_common(1)[0][1] / len(gold)
        # Queue: round-robin over suggested labels, most confident first.
        buckets = {k: sorted(np.flatnonzero(pred == k).tolist(), key=lambda j: -probs[j, k]) for k in range(len(names))}
        queue: list[int] = []
        while len(queue) < 30 and any(buckets.values()):
            for k in range(len(names)):
                if buckets[k] and len(queue) < 30:
                    queue.append(buckets[k].pop(0))
        feats = tfidf_features([texts[i] for i in pool] + [texts[i] for i in test])
        test_idx = np.arange(len(pool), len(pool) + len(test))
        y_all = np.concatenate([gold, [names.index(labels[i]) for i in test]])

        def score(chosen: list[int], gold=gold, feats=feats, y_all=y_all, test_idx=test_idx,
                  names=names) -> tuple[int, float]:
            ys = gold[chosen]
            covered = len(set(ys.tolist()))
            if covered < 2:
                return covered, 0.0
            p = fit_predict_linear(feats, y_all, np.array(chosen), test_idx, multi_label=False)
            full = np.zeros((len(test_idx), len(names)))
            full[:, : p.shape[1]] = p
            return covered, float(f1_score(y_all[test_idx], full.argmax(axis=1), average="macro", zero_division=0))

        zs_cov, zs_f1 = score(queue)
        rnd = [score(random.Random(s).sample(range(len(pool)), 30)) for s in range(5)]
        print(f"== {name}: {len(names)} labels, {len(pool)} unlabelled records scored ==")
        print(f"suggestion accuracy: zero-shot {acc:.3f} | most common label {majority:.3f} | random label {1 / len(names):.3f}")
        print(f"first 30 records: zero-shot order covers {zs_cov}/{len(names)} labels, cold-start macro-F1 {zs_f1:.3f} | "
              f"random order covers {np.mean([c for c, _ in rnd]):.1f}/{len(names)}, macro-F1 {np.mean([f for _, f in rnd]):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
