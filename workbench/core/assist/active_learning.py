"""Active-learning queue strategies over the stored predicted probabilities.

The ranking functions are pure (numpy arrays in, scores or positions out) so they can be
checked with known probabilities. The strategy classes follow the queue contract of
:mod:`workbench.core.assist.queue`: ``name`` and ``next_ids(project, annotator, limit, exclude)``.
They read the current suggester's predictions (a trained model's, or the cold-start
model's, fitted on demand); records without a prediction come after the ranked ones in
import order, so nothing is ever hidden from the queue.
"""
from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.core.assist.queue import QueueStrategy

if TYPE_CHECKING:
    from workbench.core.store.project import Project

__all__ = [
    "STRATEGIES",
    "least_confidence_scores",
    "margin_scores",
    "entropy_scores",
    "multilabel_closeness",
    "multilabel_scores",
    "rank_by_score",
    "stable_random_keys",
    "diverse_select",
    "candidate_ids",
    "RandomStrategy",
    "LeastConfidence",
    "Margin",
    "Entropy",
    "Diverse",
]

log = logging.getLogger(__name__)
_EPS = 1e-12


# --------------------------------------------------------------------------- pure scores
def least_confidence_scores(probs: np.ndarray) -> np.ndarray:
    """1 - max probability per row (higher = more uncertain)."""
    probs = np.asarray(probs, dtype=float)
    return 1.0 - probs.max(axis=1)


def margin_scores(probs: np.ndarray) -> np.ndarray:
    """1 - (best - second best probability) per row (higher = closer tie)."""
    probs = np.asarray(probs, dtype=float)
    if probs.shape[1] < 2:
        return np.zeros(len(probs))
    top2 = np.sort(probs, axis=1)[:, -2:]
    return 1.0 - (top2[:, 1] - top2[:, 0])


def entropy_scores(probs: np.ndarray) -> np.ndarray:
    """Shannon entropy (nats) per row of a probability matrix."""
    probs = np.clip(np.asarray(probs, dtype=float), _EPS, 1.0)
    return -(probs * np.log(probs)).sum(axis=1)


def multilabel_closeness(probs: np.ndarray, thresholds: np.ndarray | float = 0.5) -> np.ndarray:
    """Per-label closeness to the decision threshold: 1 at the threshold, 0 at 0 or 1."""
    probs = np.asarray(probs, dtype=float)
    thr = np.broadcast_to(np.asarray(thresholds, dtype=float), probs.shape[1:])
    span = np.where(probs >= thr, 1.0 - thr, thr)
    return 1.0 - np.abs(probs - thr) / np.maximum(span, _EPS)


def multilabel_scores(
    probs: np.ndarray, thresholds: np.ndarray | float = 0.5, kind: str = "least-confidence"
) -> np.ndarray:
    """Uncertainty of independent per-label (sigmoid) probabilities.

    ``least-confidence``: mean closeness to the threshold over labels; ``margin``: the
    closeness of the label nearest its threshold; ``entropy``: mean binary entropy.
    """
    probs = np.asarray(probs, dtype=float)
    if kind == "entropy":
        p = np.clip(probs, _EPS, 1 - _EPS)
        return (-(p * np.log(p) + (1 - p) * np.log(1 - p))).mean(axis=1)
    closeness = multilabel_closeness(probs, thresholds)
    if kind == "margin":
        return closeness.max(axis=1)
    return closeness.mean(axis=1)


def rank_by_score(scores: np.ndarray, ids: Sequence[int] | np.ndarray) -> list[int]:
    """Ids sorted by descending score; ties keep ascending id order."""
    scores = np.asarray(scores, dtype=float)
    ids = np.asarray(ids, dtype=np.int64)
    order = np.lexsort((ids, -scores))
    return [int(i) for i in ids[order]]


def stable_random_keys(ids: Sequence[int] | np.ndarray, seed: int = 0) -> np.ndarray:
    """A pseudo-random key per id (SplitMix64 of seed and id): a shuffle that stays the
    same for the ids left when others are labelled or added."""
    with np.errstate(over="ignore"):
        x = np.asarray(ids, dtype=np.uint64) + np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def diverse_select(
    uncertainty: np.ndarray,
    features: Any,
    k: int,
    *,
    pool_factor: int = 10,
    seed: int = 0,
) -> list[int]:
    """Positions of ``k`` rows that are uncertain and unlike each other.

    The ``pool_factor * k`` most uncertain rows are clustered into ``k`` groups (k-means on
    ``features``, dense or sparse); the most uncertain row of each group is taken, and the
    result is ordered by uncertainty. Returns fewer than ``k`` only when there are fewer rows.
    """
    uncertainty = np.asarray(uncertainty, dtype=float)
    n = len(uncertainty)
    k = min(int(k), n)
    if k <= 0:
        return []
    by_uncertainty = np.lexsort((np.arange(n), -uncertainty))
    pool = by_uncertainty[: min(n, max(k, pool_factor * k))]
    if len(pool) <= k or k == 1:
        return [int(i) for i in pool[:k]]
    from sklearn.cluster import MiniBatchKMeans

    X = features[pool]
    km = MiniBatchKMeans(
        n_clusters=k, random_state=seed, n_init=3, batch_size=max(256, 3 * k),
    )
    assign = km.fit_predict(X)
    chosen: list[int] = []
    seen: set[int] = set()
    for j, pos in enumerate(pool):  # pool is sorted by uncertainty: first hit is the best
        cluster = int(assign[j])
        if cluster not in seen:
            seen.add(cluster)
            chosen.append(int(pos))
    if len(chosen) < k:  # empty clusters: fill with the next most uncertain rows
        taken = set(chosen)
        chosen += [int(p) for p in pool if int(p) not in taken][: k - len(chosen)]
    return sorted(chosen, key=lambda p: (-uncertainty[p], p))


# --------------------------------------------------------------------------- candidates
def candidate_ids(
    project: Project, annotator: str | None, exclude: Collection[int] = ()
) -> list[int]:
    """Records this annotator has not annotated yet, minus ``exclude``, in import order.

    Assignment filters are applied by :func:`workbench.core.assist.navigation.queue_ids`.
    """
    from workbench.core.store.project import default_annotator

    annotator = annotator or default_annotator()
    rows = project.db.execute(
        "SELECT r.id FROM records r WHERE NOT EXISTS (SELECT 1 FROM annotations a "
        "WHERE a.record_id = r.id AND a.annotator = ?) ORDER BY r.id",
        [annotator],
    ).fetchall()
    excluded = set(exclude)
    return [r[0] for r in rows if r[0] not in excluded]


# --------------------------------------------------------------------------- strategies
class RandomStrategy(QueueStrategy):
    """Random order, seeded, stable as records are labelled."""

    name = "random"
    description = "Records in a random (seeded) order."

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def next_ids(
        self, project: Project, annotator: str | None, limit: int, exclude: Collection[int] = ()
    ) -> list[int]:
        ids = np.asarray(candidate_ids(project, annotator, exclude), dtype=np.int64)
        if len(ids) == 0:
            return []
        keys = stable_random_keys(ids, self.seed)
        order = np.lexsort((ids, keys))
        return [int(i) for i in ids[order][: max(0, limit)]]


# (project path, strategy name, run id) -> (stamp of the stored predictions, ranked ids,
# their scores). Ranking a large project means reading every stored prediction, so it is
# done once per set of predictions, not on every queue refill.
_RANKINGS: dict[tuple[str, str, int], tuple[tuple[Any, ...], np.ndarray, np.ndarray]] = {}


def _annotated_by(project: Project, annotator: str) -> set[int]:
    rows = project.db.execute("SELECT record_id FROM annotations WHERE annotator = ?", [annotator])
    return {r[0] for r in rows}


def _unpredicted(
    project: Project, annotator: str, run_id: int | None, skip: set[int], limit: int
) -> list[int]:
    """Records without a prediction of ``run_id`` the annotator has not annotated, in
    import order (all unannotated ones when ``run_id`` is None)."""
    out: list[int] = []
    after = 0
    while len(out) < limit:
        sql = (
            "SELECT r.id FROM records r WHERE r.id > ? AND NOT EXISTS (SELECT 1 FROM "
            "annotations a WHERE a.record_id = r.id AND a.annotator = ?) "
        )
        params: list[Any] = [after, annotator]
        if run_id is not None:
            sql += "AND NOT EXISTS (SELECT 1 FROM predictions p WHERE p.run_id = ? AND p.record_id = r.id) "
            params.append(run_id)
        sql += "ORDER BY r.id LIMIT ?"
        params.append(limit + len(skip) if len(skip) < 10_000 else 10_000)
        rows = [r[0] for r in project.db.execute(sql, params)]
        if not rows:
            break
        out += [i for i in rows if i not in skip]
        after = rows[-1]
    return out[:limit]


class _UncertaintyStrategy(QueueStrategy):
    """Ranks records by an uncertainty score of the current suggester's probabilities.

    Records without a stored prediction (imported since the last refresh) follow the
    ranked ones in import order.
    """

    kind = "least-confidence"

    def scores(self, preds: Any) -> np.ndarray:
        if preds.multi_label:
            return multilabel_scores(preds.probs, preds.thresholds, self.kind)
        fn = {
            "least-confidence": least_confidence_scores,
            "margin": margin_scores,
            "entropy": entropy_scores,
        }[self.kind]
        return fn(preds.probs)

    def ranking(self, project: Project, run_id: int) -> tuple[np.ndarray, np.ndarray]:
        """(record ids, scores) of every stored prediction of the run, most uncertain first."""
        from workbench.core.assist.suggestions import load_predictions

        stamp = tuple(project.db.execute(
            "SELECT count(*), total(confidence) FROM predictions WHERE run_id = ?", [run_id]
        ).fetchone()) + tuple(project.label_names())
        key = (str(project.path), self.name, run_id)
        hit = _RANKINGS.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1], hit[2]
        preds = load_predictions(project, run_id)
        if preds is None or len(preds.ids) == 0 or not preds.labels:
            ids, scores = np.zeros(0, dtype=np.int64), np.zeros(0)
        else:
            scores = self.scores(preds)
            order = np.lexsort((preds.ids, -scores))
            ids, scores = preds.ids[order], scores[order]
        for old in [k for k in _RANKINGS if k[:2] == key[:2]]:
            del _RANKINGS[old]
        _RANKINGS[key] = (stamp, ids, scores)
        return ids, scores

    def next_ids(
        self, project: Project, annotator: str | None, limit: int, exclude: Collection[int] = ()
    ) -> list[int]:
        from workbench.core.assist.suggestions import ensure_predictions
        from workbench.core.store.project import default_annotator

        if limit <= 0:
            return []
        annotator = annotator or default_annotator()
        skip = _annotated_by(project, annotator) | set(exclude)
        # Fit the cold-start model only when nothing suggests yet: refreshing it is a
        # background job in the app (and done by the ``queue`` command).
        run_id = ensure_predictions(project, refresh=False)
        if run_id is None:
            return _unpredicted(project, annotator, None, skip, limit)
        ids, scores = self.ranking(project, run_id)
        keep = np.fromiter((int(i) not in skip for i in ids), dtype=bool, count=len(ids))
        out = self.pick(project, ids[keep], scores[keep], limit)
        if len(out) < limit:
            out += _unpredicted(project, annotator, run_id, skip | set(out), limit - len(out))
        return out

    def pick(self, project: Project, ids: np.ndarray, scores: np.ndarray, limit: int) -> list[int]:
        """The first ``limit`` of the candidates (already in ranked order)."""
        return [int(i) for i in ids[:limit]]


class LeastConfidence(_UncertaintyStrategy):
    """Least confident first (lowest top probability)."""

    name = "least-confidence"
    description = "Records the model is least sure about first (lowest top probability)."
    kind = "least-confidence"


class Margin(_UncertaintyStrategy):
    """Smallest gap between the two most likely labels first (breaking ties)."""

    name = "margin"
    description = "Records where the two most likely labels are closest first."
    kind = "margin"


class Entropy(_UncertaintyStrategy):
    """Highest entropy of the predicted distribution first."""

    name = "entropy"
    description = "Records with the most spread-out predicted probabilities first."
    kind = "entropy"


class Diverse(_UncertaintyStrategy):
    """Uncertain records spread over k-means clusters of their texts, so a batch is not a
    run of near-copies. Uncertainty is least confidence (the benchmark's best scorer).

    The clusters are formed on the bundled sentence encoder's embeddings (cached per text,
    :mod:`workbench.core.assist.embeddings`), so records that say the same thing in other
    words share a group; TF-IDF features when the encoder cannot be loaded (or
    ``features = "tfidf"``). ``features_used`` names the features of the last pick."""

    name = "diverse"
    description = "Uncertain records, spread over groups of similar texts so a batch is varied."
    kind = "least-confidence"
    batch = 20
    features = "auto"
    features_used = ""
    #: With a number: when more pool texts than this still need an encoder pass, this pick
    #: groups by TF-IDF instead (the labelling view must not wait; it runs
    #: :func:`workbench.core.assist.jobs.diverse_warm_job` in the background meanwhile).
    sync_limit: int | None = None
    #: Cancel check and ``AssistEvent`` callback of the encoder pass (the background job).
    should_stop: Any = None
    progress: Any = None

    def pick(self, project: Project, ids: np.ndarray, scores: np.ndarray, limit: int) -> list[int]:
        n_take = min(limit, len(ids))
        if n_take == 0:
            return []
        n_batches = -(-n_take // self.batch)
        pool_n = min(len(ids), n_batches * self.batch * 10)
        pool_ids, pool_scores = ids[:pool_n], scores[:pool_n]
        texts = {r.id: r.text for r in project.get_records([int(i) for i in pool_ids])}
        features = self._features(project, [texts.get(int(i), "") for i in pool_ids])
        chosen: list[int] = []
        remaining = np.arange(pool_n)
        # Diversify batch by batch so each screenful of the queue is varied; whole batches
        # even for a short limit, so a shorter queue is a prefix of a longer one.
        while len(chosen) < n_take and len(remaining):
            k = min(self.batch, len(remaining))
            picks = diverse_select(pool_scores[remaining], features[remaining], k)
            chosen += [int(pool_ids[remaining[p]]) for p in picks]
            remaining = np.delete(remaining, picks)
        return chosen[:n_take]

    def _features(self, project: Project, texts: list[str]) -> Any:
        from workbench.core.assist import embeddings as emb
        from workbench.core.assist.textmodel import tfidf_features

        vectors = None
        folder = emb.cache_folder(project.models_dir)
        if self.features != emb.TFIDF and (
                self.sync_limit is None or emb.missing_count(texts, folder=folder) <= self.sync_limit):
            vectors = emb.text_embeddings(texts, folder=folder, should_stop=self.should_stop,
                                          on_batch=self._embedded)
        self.features_used = emb.TFIDF if vectors is None else emb.EMBEDDINGS
        log.info("Diverse queue: groups from %s", emb.feature_words(self.features_used))
        return tfidf_features(texts) if vectors is None else vectors

    def _embedded(self, done: int, total: int) -> None:
        if self.progress is not None:
            from workbench.core.assist.suggestions import AssistEvent

            self.progress(AssistEvent("embed", done, total, f"Grouping the queue: {done} of {total} texts"))


#: Strategy name -> class, consulted by :func:`workbench.core.assist.navigation.get_strategy`.
STRATEGIES: dict[str, type[QueueStrategy]] = {
    cls.name: cls for cls in (RandomStrategy, LeastConfidence, Margin, Entropy, Diverse)
}
