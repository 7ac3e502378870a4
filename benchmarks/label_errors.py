"""Label-error detection: flip 10 % of the labels and see how many the review finds.

A project is built from the generated support messages of ``active_learning.py`` (every
record labelled), 10 % of the labels are changed to a random other label, and the review
(:func:`workbench.core.assist.review.find_label_issues`: 5-fold out-of-fold TF-IDF + logistic
regression, confident learning, near-duplicates with different labels) is run exactly as
the app runs it. Precision and recall of the top-k flagged records (k = number of flipped
labels) are printed, averaged over several seeds.

Run: ``python benchmarks/label_errors.py [--records 2000] [--seeds 3]``
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

# One BLAS thread: on a busy 2-core machine more threads make every fit far slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from active_learning import make_dataset  # noqa: E402

from workbench.core.assist.review import find_label_issues  # noqa: E402
from workbench.core.data.importer import import_rows  # noqa: E402
from workbench.core.store.project import Project  # noqa: E402


def run_once(n: int, seed: int, rate: float, folder: Path) -> dict[str, float]:
    texts, gold = make_dataset(n, seed=100 + seed)
    names = sorted(set(gold))
    rng = random.Random(seed)
    flipped_rows = set(rng.sample(range(n), int(round(rate * n))))
    given = [
        rng.choice([x for x in names if x != g]) if i in flipped_rows else g
        for i, g in enumerate(gold)
    ]
    path = folder / f"errors-{seed}.wbproj"
    project = Project.create(path, names)
    rows = ({"id": f"R{i}", "text": t, "intent": lab} for i, (t, lab) in enumerate(zip(texts, given, strict=True)))
    import_rows(project, rows, text_col="text", id_col="id", label_col="intent", source="benchmark")
    flipped = {f"R{i}" for i in flipped_rows}
    t0 = time.perf_counter()
    issues = find_label_issues(project)
    seconds = time.perf_counter() - t0
    project.close()
    k = len(flipped)
    top = [x.external_id for x in issues[:k]]
    hits = sum(1 for x in top if x in flipped)
    all_hits = sum(1 for x in issues if x.external_id in flipped)
    return {
        "k": k,
        "flagged": len(issues),
        "precision": hits / max(1, len(top)),
        "recall": hits / k,
        "recall_all": all_hits / k,
        "precision_all": all_hits / max(1, len(issues)),
        "seconds": seconds,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=0.10)
    args = parser.parse_args(argv)
    print(f"{args.records} generated records, 6 intents, {args.rate:.0%} of labels flipped")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            r = run_once(args.records, seed, args.rate, Path(tmp))
            results.append(r)
            print(
                f"seed {seed}: k={r['k']}  top-k precision {r['precision']:.3f}  "
                f"recall {r['recall']:.3f}  | all {r['flagged']} flagged: precision "
                f"{r['precision_all']:.3f} recall {r['recall_all']:.3f}  ({r['seconds']:.1f} s)"
            )
    mean = {key: sum(r[key] for r in results) / len(results) for key in results[0]}
    print(
        f"\nMean over {len(results)} seeds: top-k precision {mean['precision']:.3f}, "
        f"recall {mean['recall']:.3f} (target: recall >= 0.6 at precision >= 0.5)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
