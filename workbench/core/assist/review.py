"""Label-error review: records whose label is probably wrong, most suspicious first.

Two signals:

* **Confident learning** (the rule behind cleanlab): out-of-fold probabilities from a
  k-fold logistic regression over the labelled records, on sentence-encoder embeddings
  and TF-IDF features (:mod:`workbench.core.assist.review_features`; TF-IDF alone when
  the encoder cannot be loaded); a record is flagged when
  the model is confidently sure of a *different* label (its probability for that label
  reaches the label's own threshold, the mean probability the label's records receive)
  or, single-label, when its favourite is another label.
  Flagged records are ranked by how little probability their given label gets.
* **Near-duplicates with different labels**: texts with TF-IDF cosine similarity of at
  least 0.9 (exact duplicates are already refused on import).

A label the user chose to keep is remembered and not flagged again until it changes.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workbench.core.assist.embeddings import cache_folder
from workbench.core.assist.review_features import features_words, out_of_fold_probs, review_probs
from workbench.core.assist.suggestions import AssistEvent
from workbench.core.assist.textmodel import temperature_scaled
from workbench.core.errors import Cancelled
from workbench.core.plain_words import confidence_words
from workbench.core.store.project import Project

__all__ = [
    "LabelIssue",
    "confident_learning",
    "confident_learning_multilabel",
    "out_of_fold_probs",
    "near_duplicate_pairs",
    "find_label_issues",
    "review_project",
    "keep_label",
    "REVIEW_PROVENANCE",
]

log = logging.getLogger(__name__)

META_KEPT = "review.kept"
REVIEW_PROVENANCE = "review fix"
DUPLICATE_SIMILARITY = 0.9


@dataclass
class LabelIssue:
    """One suspected label error, for the Review queue and ``workbench review --json``."""

    id: int
    external_id: str | None
    text: str
    label: str
    suggested_label: str
    score: float
    reason: str
    labels: tuple[str, ...] = ()
    suggested_labels: tuple[str, ...] = ()
    #: Which features judged the record: combined, embeddings or tfidf.
    features: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["labels"] = list(self.labels)
        out["suggested_labels"] = list(self.suggested_labels)
        return out


# --------------------------------------------------------------------------- pure rules
def confident_learning(
    given: np.ndarray, probs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Confident-learning rule for single-label data.

    ``given``: (n,) class indices; ``probs``: (n, K) out-of-fold probabilities. Returns
    ``(flagged, suggested, score)``: a boolean mask of likely label errors, the confidently
    predicted class of each row (-1 where no class passes its threshold) and a suspicion
    score ``1 - p(given label)``.
    """
    given = np.asarray(given, dtype=int)
    probs = np.asarray(probs, dtype=float)
    n, k = probs.shape
    thresholds = np.full(k, np.inf)
    for j in range(k):
        rows = given == j
        if rows.any():
            thresholds[j] = probs[rows, j].mean()
    confident = probs >= thresholds[None, :]
    masked = np.where(confident, probs, -1.0)
    suggested = np.where(confident.any(axis=1), masked.argmax(axis=1), -1)
    flagged = (suggested >= 0) & (suggested != given)
    score = 1.0 - probs[np.arange(n), given]
    return flagged, suggested, score


def confident_learning_multilabel(
    given: np.ndarray, probs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same rule per label for multi-label data (``given`` and ``probs``: (n, L)).

    Returns ``(flagged, suggested, score)``: a row mask, the suggested 0/1 matrix (given
    labels with the confidently wrong ones flipped) and the largest ``|given - p|`` per row.
    """
    given = np.asarray(given, dtype=int)
    probs = np.asarray(probs, dtype=float)
    flips = np.zeros_like(given, dtype=bool)
    for j in range(given.shape[1]):
        pos, neg = given[:, j] == 1, given[:, j] == 0
        if not pos.any() or not neg.any():
            continue
        t_pos = probs[pos, j].mean()
        t_neg = (1.0 - probs[neg, j]).mean()
        flips[:, j] = (pos & (1.0 - probs[:, j] >= t_neg) & (probs[:, j] < t_pos)) | (
            neg & (probs[:, j] >= t_pos) & (1.0 - probs[:, j] < t_neg)
        )
    suggested = np.where(flips, 1 - given, given)
    score = np.abs(given - probs).max(axis=1) if given.size else np.zeros(len(given))
    return flips.any(axis=1), suggested, score


def near_duplicate_pairs(
    features: Any, threshold: float = DUPLICATE_SIMILARITY, chunk: int = 1000
) -> list[tuple[int, int, float]]:
    """Pairs ``(i, j, cosine)`` with ``i < j`` whose L2-normalised rows are this similar."""
    pairs: list[tuple[int, int, float]] = []
    n = features.shape[0]
    transposed = features.T.tocsc() if hasattr(features, "tocsc") else features.T
    for start in range(0, n, chunk):
        sims = features[start : start + chunk] @ transposed
        if hasattr(sims, "tocoo"):
            coo = sims.tocoo()
            rows, cols, vals = coo.row, coo.col, coo.data
        else:
            rows, cols = np.nonzero(sims >= threshold)
            vals = sims[rows, cols]
        for r, c, v in zip(rows, cols, vals, strict=True):
            i = start + int(r)
            if int(c) > i and v >= threshold:
                pairs.append((i, int(c), float(min(v, 1.0))))
    return pairs


# --------------------------------------------------------------------------- project level
def _kept(project: Project) -> dict[str, list[str]]:
    try:
        value = json.loads(project.get_meta(META_KEPT) or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def keep_label(project: Project, record_id: int, labels: Sequence[str]) -> None:
    """Remember that the user checked this record's labels: it is not flagged again
    while it keeps exactly these labels."""
    kept = _kept(project)
    kept[str(record_id)] = sorted(labels)
    project.set_meta(META_KEPT, json.dumps(kept))


def _word_features(texts: Sequence[str]) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"(?u)\b\w+\b")
    return vec.fit_transform([t or "" for t in texts])


def find_label_issues(
    project: Project,
    *,
    folds: int = 5,
    seed: int = 0,
    progress: Callable[[AssistEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    include_kept: bool = False,
    features: str = "auto",
    base_model: str = "bundled",
    strict: bool = False,
) -> list[LabelIssue]:
    """Suspected label errors among the labelled records, most suspicious first.

    ``features``: see :data:`workbench.core.assist.review_features.REVIEW_FEATURES`; each
    issue's ``features`` names the ones used. ``strict``: single-label records only when the
    model is confidently sure of another label (the review before embeddings; for
    comparisons)."""
    progress = progress or (lambda _e: None)
    label_names = project.label_names()
    index = {name: i for i, name in enumerate(label_names)}
    examples = [ex for ex in project.labelled_examples() if ex[2] and all(n in index for n in ex[2])]
    multi = project.multi_label
    if len(examples) < 4:
        return []
    progress(AssistEvent("review", 0, folds, f"Checking {len(examples)} labelled records…"))
    texts = [ex[1] for ex in examples]
    if multi:
        y = np.zeros((len(examples), len(label_names)), dtype=int)
        for row, ex in enumerate(examples):
            y[row, [index[n] for n in ex[2]]] = 1
    else:
        y = np.array([index[ex[2][0]] for ex in examples], dtype=int)
        if len(np.unique(y)) < 2:
            return []

    def _report(message: str, done: int, total: int) -> None:
        progress(AssistEvent("review", done, total, message))

    probs, used = review_probs(
        texts, y, choice=features, folds=folds, seed=seed, multi_label=multi,
        cache=cache_folder(project.models_dir), base_model=base_model,
        should_stop=should_stop, progress=_report,
    )
    how = f"out-of-fold, {folds}-fold cross-validation on {features_words(used)}"
    if multi:
        flagged, suggested_m, score = confident_learning_multilabel(y, probs)
        suggested = [tuple(label_names[j] for j in np.flatnonzero(row)) for row in suggested_m]
        p_given = 1.0 - score
    else:
        probs = np.hstack([probs, np.zeros((len(y), len(label_names) - probs.shape[1]))])
        flagged, best, score = confident_learning(y, probs)
        # Records not flagged still get the model's favourite as the suggestion (for dups).
        top = probs.argmax(axis=1)
        # Also every record whose favourite is another label (cleanlab's "predicted_neq_given"
        # filter): the strict rule alone missed ~40 % of flipped labels on real texts; the
        # list stays ranked by how little probability the given label gets
        # (benchmarks/label_errors.py).
        if not strict:
            flagged = flagged | (top != y)
        suggested = [(label_names[b if b >= 0 else t],) for b, t in zip(best, top, strict=True)]
        p_given = probs[np.arange(len(y)), y]
        shown, _t = temperature_scaled(probs, y)  # honest percentages in the reasons
    issues: dict[int, LabelIssue] = {}
    for i in np.flatnonzero(flagged):
        rid, text, labels, _split = examples[i]
        sugg = suggested[i]
        if multi:
            reason = (
                f"The model disagrees ({how}): "
                f"it suggests {', '.join(sugg) or 'no label'}."
            )
        else:
            reason = (
                f"The model leans to {sugg[0]!r} ({shown[i, index[sugg[0]]]:.0%}, "
                f"{confidence_words(shown[i, index[sugg[0]]])}), while {labels[0]!r} gets "
                f"only {shown[i, y[i]]:.0%} ({how})."
            )
        issues[rid] = LabelIssue(
            id=rid, external_id=None, text=text, label=", ".join(labels),
            suggested_label=", ".join(sugg), score=float(score[i]), reason=reason,
            labels=tuple(labels), suggested_labels=tuple(sugg), features=used,
        )
    if should_stop is not None and should_stop():
        raise Cancelled("Review cancelled.")
    progress(AssistEvent("review", folds, folds, "Looking for near-duplicates…"))
    for i, j, sim in near_duplicate_pairs(_word_features(texts)):
        if sorted(examples[i][2]) == sorted(examples[j][2]):
            continue
        # The record whose label the model believes less is the likelier mistake.
        a, b = (i, j) if p_given[i] <= p_given[j] else (j, i)
        rid, text, labels, _split = examples[a]
        other = examples[b]
        reason = (
            f"Nearly the same text as record {other[0]} ({sim:.0%} similar), "
            f"which is labelled {', '.join(other[2])!r}."
        )
        dup_score = float(max(score[a], 0.5 * sim))
        if rid in issues:
            issue = issues[rid]
            issue.reason += " " + reason
            issue.score = max(issue.score, dup_score)
            continue
        issues[rid] = LabelIssue(
            id=rid, external_id=None, text=text, label=", ".join(labels),
            suggested_label=", ".join(other[2]), score=dup_score, reason=reason,
            labels=tuple(labels), suggested_labels=tuple(other[2]), features=used,
        )
    _add_duplicate_conflicts(project, examples, issues)
    kept = {} if include_kept else _kept(project)
    result = [
        issue for issue in issues.values()
        if kept.get(str(issue.id)) != sorted(issue.labels)
    ]
    externals = {r.id: r.external_id for r in project.get_records([x.id for x in result])}
    for issue in result:
        issue.external_id = externals.get(issue.id)
    result.sort(key=lambda x: (-x.score, x.id))
    log.info("Review: %d suspected label errors among %d records (%s)", len(result), len(examples),
             features_words(used))
    return result


def _add_duplicate_conflicts(project: Project, examples: list, issues: dict[int, LabelIssue],
                             ) -> None:
    """Near-duplicate groups with conflicting labels found by data preparation (the Data
    tab's near-duplicate step) join the list while their labels still differ."""
    from workbench.core.prep.record_steps import duplicate_conflicts

    by_id = {ex[0]: ex for ex in examples}
    for rid, others in duplicate_conflicts(project).items():
        if rid in issues or rid not in by_id:
            continue
        differ = [by_id[o] for o in others if o in by_id and sorted(by_id[o][2]) != sorted(by_id[rid][2])]
        if not differ:
            continue
        _rid, text, labels, _split = by_id[rid]
        other = differ[0]
        issues[rid] = LabelIssue(
            id=rid, external_id=None, text=text, label=", ".join(labels),
            suggested_label=", ".join(other[2]), score=0.5,
            reason=f"Near-duplicate of record {other[0]} (data preparation), which is "
                   f"labelled {', '.join(other[2])!r}.",
            labels=tuple(labels), suggested_labels=tuple(other[2]),
        )


def review_project(
    project_path: str | Path,
    *,
    folds: int = 5,
    progress: Callable[[AssistEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    features: str = "auto",
) -> list[LabelIssue]:
    """:func:`find_label_issues` on its own connection (for a worker thread)."""
    with Project.open(project_path) as project:
        return find_label_issues(project, folds=folds, progress=progress, should_stop=should_stop,
                                 features=features)
