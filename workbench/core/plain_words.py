"""Results in words a domain expert reads without a machine-learning background.

Each figure the app shows has a one-sentence explanation (:data:`FIGURE_HELP`, used as
hover text), and a run's results open with a "what this means" line such as "The model
gets about 9 in 10 messages right; it is weakest on feedback (7 of 10)".
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["FIGURE_HELP", "agreement_words", "confidence_words", "epochs_summary", "in_ten",
           "what_this_means"]

#: One sentence per figure, shown on hover.
FIGURE_HELP: dict[str, str] = {
    "accuracy": "Share of held-out test texts whose label the model got right.",
    "macro_f1": "Average quality over the labels, each label counting the same however rare "
                "it is (1 = perfect, 0 = never right).",
    "micro_f1": "Quality over all label decisions together (common labels weigh more).",
    "weighted_f1": "Average quality over the labels, weighted by how often each label occurs.",
    "subset_accuracy": "Share of texts whose whole set of labels was exactly right.",
    "precision": "Of the texts the model gave this label, the share that really have it.",
    "recall": "Of the texts that really have this label, the share the model found.",
    "f1": "Balance of precision and recall for this label (1 = perfect).",
    "support": "How many test texts have this label.",
    "epochs": "How many times the model went through the training texts.",
    "learning_rate": "How big a step the model takes when it learns from a mistake.",
    "batch_size": "How many texts the model learns from at once.",
    "max_length": "Longest text the model reads, in word pieces (about 3 of 4 of a word "
                  "each); longer texts are cut.",
    "loss": "The training error: lower means the model fits the training texts better.",
    "ece": "Calibration error: how far the shown confidence is from the real hit rate "
           "(0.05 means off by about 5 points).",
    "kappa": "Agreement between annotators beyond chance: 1 = always agree, 0 = no better "
             "than chance.",
    "alpha": "Krippendorff's alpha: agreement beyond chance that copes with missing "
             "annotations (1 = perfect, 0 = chance).",
    "duration": "Wall-clock time of the run, from the first step to the saved model.",
}


def in_ten(share: float) -> int:
    """A share as "n in 10" (rounded, 0..10)."""
    return int(round(10 * max(0.0, min(1.0, float(share)))))


def confidence_words(p: float, *, unsure_below: float = 0.6) -> str:
    """A calibrated probability in words: "almost certain", "likely", "possible", "unsure"
    (the bundle's own rule, so the app and ``predict.py`` say the same)."""
    from workbench.core.deploy.inference import confidence_word

    return confidence_word(p, unsure_below)


def what_this_means(metrics: Mapping[str, Any], noun: str = "texts") -> str:
    """One sentence summing up a run's test results for a non-specialist."""
    acc = metrics.get("accuracy")
    if acc is None:
        acc = metrics.get("subset_accuracy")
    if not isinstance(acc, (int, float)):
        return ""
    text = f"The model gets about {in_ten(acc)} in 10 {noun} right"
    per = metrics.get("per_label") or {}
    recalls = {name: v.get("recall") for name, v in per.items()
               if isinstance(v, Mapping) and isinstance(v.get("recall"), (int, float))
               and (v.get("support") or 0) > 0}
    if len(recalls) >= 2:
        weakest = min(recalls, key=lambda n: recalls[n])
        if recalls[weakest] < acc - 0.05:
            text += f"; it is weakest on {weakest} ({in_ten(recalls[weakest])} of 10)"
    n = metrics.get("n")
    if isinstance(n, int) and n:
        text += f" (measured on {n} held-out {noun})"
    return text + "."


def epochs_summary(metrics: Mapping[str, Any], planned: Any) -> str:
    """The real number of epochs, saying when early stopping ended the run ("7 of 20,
    stopped early: no gain after epoch 4")."""
    history = metrics.get("history") or []
    done = len(history)
    if not done:
        return str(planned) if planned not in (None, "") else "–"
    if isinstance(planned, int) and done < planned:
        if not metrics.get("stopped_early", True):  # cancelled, or a step limit
            return f"{done} of {planned}"
        best = metrics.get("best_epoch")
        why = f"no gain after epoch {best}" if best else "no further gain"
        return f"{done} of {planned} (stopped early: {why})"
    return str(done)


def agreement_words(value: float | None) -> str:
    """Agreement beyond chance (Cohen's/Fleiss' κ, Krippendorff's α) in words, after the
    usual Landis & Koch bands: "" when not measured."""
    if value is None:
        return ""
    bands = ((0.8, "almost always agree"), (0.6, "mostly agree"), (0.4, "agree moderately"),
             (0.2, "agree only a little"), (0.0, "agree hardly more than by chance"))
    words = next((w for limit, w in bands if value > limit), "agree less often than chance would")
    return f"In plain words: the annotators {words} (1 = always, 0 = as by chance)."
