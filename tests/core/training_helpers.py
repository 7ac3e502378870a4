"""Small labelled projects for the training tests (vocabulary of the tiny test model)."""
from __future__ import annotations

import random
from pathlib import Path

from workbench.core.project import Project

KEYWORDS = {
    "billing": ["refund", "money", "charge", "card", "payment", "bill", "invoice"],
    "delivery": ["delivery", "shipping", "package", "late", "arrived", "broken", "damaged"],
    "account": ["account", "login", "password", "reset", "app", "crash", "error"],
}
FILLER = "the a my your is was it this that please help thanks very not can cannot".split()


def make_texts(label: str, n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        words = rng.sample(KEYWORDS[label], 3) + rng.sample(FILLER, 5)
        rng.shuffle(words)
        out.append(" ".join(words) + f" {i}")
    return out


def make_project(
    path: Path, counts: dict[str, int] | None = None, *, multi_label: bool = False, seed: int = 0
) -> Path:
    """A project whose records are labelled by keyword class (imbalanced by default)."""
    counts = counts or {"billing": 40, "delivery": 25, "account": 15}
    project = Project.create(path, list(KEYWORDS), multi_label=multi_label)
    with project:
        for k, (label, n) in enumerate(counts.items()):
            texts = make_texts(label, n, seed + k)
            ids = project.add_records(texts)
            for j, rid in enumerate(ids):
                labels = [label]
                if multi_label and j % 4 == 0:
                    other = list(KEYWORDS)[(k + 1) % len(KEYWORDS)]
                    labels.append(other)
                project.annotate(rid, labels)
    return path
