"""Settings of the model-assisted labelling commands, declared once (see
:mod:`workbench.core.settings`): the labelling queue and the label-error review.

Kept free of numpy and scikit-learn so the CLI can build its flags without loading them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from workbench.core.settings import Settings, setting

__all__ = ["QueueOptions", "ReviewOptions"]


@dataclass
class QueueOptions(Settings):
    """Which records come next in the labelling queue, and how many."""

    SETTINGS_NAME: ClassVar[str] = "queue"

    strategy: str = setting(
        "order",
        "Queue order: order (import order), random, least-confidence, margin, entropy or "
        "diverse (uncertain records spread over groups of similar texts); the model-driven "
        "orders need predictions (stored by predict-project, or the cold-start model).",
        not_blank=True, metavar="NAME", label="Queue order",
    )
    limit: int = setting(20, "How many records to list.", min=1, max=1_000_000)


@dataclass
class ReviewOptions(Settings):
    """How suspected label errors are searched for and how many are shown."""

    SETTINGS_NAME: ClassVar[str] = "review"

    folds: int = setting(
        5,
        "Cross-validation folds: each record is judged by a model trained on the other "
        "folds. More folds: slower, each model sees more data.",
        min=2, max=50, label="Cross-validation folds",
    )
    features: str = setting(
        "auto",
        "What the judging model reads: auto (sentence-encoder embeddings and TF-IDF "
        "together, TF-IDF alone when the encoder cannot be loaded), combined, embeddings "
        "or tfidf.",
        choices=("auto", "combined", "embeddings", "tfidf"), label="Features",
    )
    limit: int = setting(
        0, "Show at most this many suspected errors (0 = all), most suspicious first.",
        min=0, max=1_000_000, special={0: "All"}, label="Show at most",
    )
