"""Near-duplicate texts: MinHash signatures of word shingles and LSH banding, in numpy.

Each text's words (lower-cased) form shingles of ``shingle`` consecutive words; a shingle
is hashed from the words' vocabulary ids, and ``num_perm`` multiply-shift hash functions
(the high 32 bits of ``a * h + b`` modulo 2^64, ``a`` odd) give the MinHash signature. Signatures are cut into ``bands``
of ``rows``, chosen so that pairs at the threshold are found with high probability; texts
sharing a band are candidates, a candidate pair is kept when its signatures agree on at
least ``threshold`` of the positions (the estimated Jaccard similarity), and groups are the
connected components of the kept pairs. Everything after the word split runs in numpy over
batches, so a million short texts take well under a minute of the grouping itself.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["band_params", "find_groups", "signatures"]

_SHIFT32 = np.uint64(32)
_SEP = "\u2063"  # INVISIBLE SEPARATOR: no word character, so never inside a word
_WORD = re.compile(r"\w{1,40}|\u2063")
_BATCH_TEXTS = 20_000


def _word_ids(batch: Sequence[str], vocab: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """The batch's words (lower-cased, at most 40 characters each) as vocabulary ids in one
    flat array, and the number of words of each text (one regex pass over the joined
    batch; the separator has id 0)."""
    joined = _SEP.join(batch)
    if joined.count(_SEP) != len(batch) - 1:
        joined = _SEP.join(t.replace(_SEP, " ") for t in batch)
    tokens = _WORD.findall(joined.lower())
    # Only the words not seen before go through a Python loop; the rest are C-level maps.
    vocab.setdefault(_SEP, 0)
    for word in sorted(set(tokens).difference(vocab)):  # sorted: the same ids every run
        vocab[word] = len(vocab)
    ids = np.fromiter(map(vocab.__getitem__, tokens), dtype=np.uint64, count=len(tokens))
    separator = ids == 0
    cuts = np.flatnonzero(separator)
    lens = np.diff(np.concatenate(([-1], cuts, [len(tokens)]))) - 1
    return ids[~separator], lens.astype(np.int64)


def band_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """``(bands, rows)`` with ``bands * rows <= num_perm`` minimising the weighted chance of
    missing a pair above the threshold (weight 0.8) plus taking one below it (0.2)."""
    xs = np.linspace(0.0, 1.0, 201)
    best: tuple[float, int, int] = (np.inf, 1, num_perm)
    for rows in range(1, num_perm + 1):
        bands = num_perm // rows
        p = 1.0 - (1.0 - xs ** rows) ** bands
        below, above = xs <= threshold, xs > threshold
        cost = 0.2 * np.trapezoid(p[below], xs[below]) + 0.8 * np.trapezoid(1 - p[above], xs[above])
        if cost < best[0]:
            best = (cost, bands, rows)
    return best[1], best[2]


def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(seed)
    a = rng.randint(0, 1 << 63, size=num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = rng.randint(0, 1 << 63, size=num_perm, dtype=np.uint64)
    return a, b


def signatures(texts: Sequence[str], *, shingle: int = 2, num_perm: int = 64, seed: int = 1,
               should_stop: Callable[[], bool] | None = None,
               progress: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """MinHash signatures ``(n, num_perm)`` (uint32) and a mask of the texts that have
    words (texts without any word get no signature and join no group)."""
    n = len(texts)
    a, b = _permutations(num_perm, seed)
    sig = np.full((n, num_perm), np.uint32(0xFFFFFFFF), dtype=np.uint32)
    has = np.zeros(n, dtype=bool)
    vocab: dict[str, int] = {}
    mult = np.uint64(0x9E3779B97F4A7C15)
    start = 0
    while start < n:
        if should_stop is not None and should_stop():
            from workbench.core.errors import Cancelled

            raise Cancelled("Near-duplicate search cancelled; nothing was changed.")
        end = min(n, start + _BATCH_TEXTS)
        flat, lens = _word_ids(texts[start:end], vocab)
        offsets = np.concatenate(([0], np.cumsum(lens)))
        # Shingle k of a text: its words k .. k + s - 1 (a shorter text: all its words).
        span = np.minimum(lens, shingle)
        count = np.where(lens > 0, lens - span + 1, 0)
        doc = np.repeat(np.arange(len(lens)), count)
        first = np.repeat(offsets[:-1], count) + (
            np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count))
        width = span[doc]
        h = np.zeros(len(doc), dtype=np.uint64)
        for k in range(shingle):
            use = k < width
            h[use] = h[use] * mult + flat[first[use] + k]
        h = (h * mult) >> np.uint64(32)  # spread to 32 bits
        starts = np.cumsum(count) - count
        nonempty = count > 0
        for lo in range(0, len(h), 50_000):
            hi = min(len(h), lo + 50_000)
            # Multiply-shift hashing (the high 32 bits of a * h + b, mod 2^64): universal,
            # and no 64-bit modulo, which would cost several times more.
            phv = ((h[None, lo:hi] * a[:, None] + b[:, None]) >> _SHIFT32).astype(np.uint32)
            seg_docs = doc[lo:hi]
            bounds = np.flatnonzero(np.diff(seg_docs)) + 1
            seg_starts = np.concatenate(([0], bounds))
            mins = np.minimum.reduceat(phv, seg_starts, axis=1).T
            rows = seg_docs[seg_starts] + start
            sig[rows] = np.minimum(sig[rows], mins)
        has[start:end] = nonempty
        del starts
        if progress is not None:
            progress(end)
        start = end
    return sig, has


def find_groups(sig: np.ndarray, has: np.ndarray, *, threshold: float
                ) -> list[list[int]]:
    """Groups (row indices, ascending) of texts whose estimated Jaccard similarity to some
    other member reaches ``threshold``; groups ordered by their first row."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n, num_perm = sig.shape
    bands, rows = band_params(threshold, num_perm)
    live = np.flatnonzero(has)
    pairs_a: list[np.ndarray] = []
    pairs_b: list[np.ndarray] = []
    weights = np.random.RandomState(7).randint(1, 1 << 62, size=rows, dtype=np.int64).astype(np.uint64)
    for band in range(bands):
        part = sig[live, band * rows:(band + 1) * rows].astype(np.uint64)
        keys = (part * weights[None, :]).sum(axis=1)
        order = np.argsort(keys, kind="stable")
        sk = keys[order]
        same = np.flatnonzero(sk[1:] == sk[:-1])
        if not len(same):
            continue
        # Each member of a bucket is paired with the bucket's previous member (a chain):
        # connected components then join the bucket without its quadratic pair count.
        pairs_a.append(live[order[same]])
        pairs_b.append(live[order[same + 1]])
    if not pairs_a:
        return []
    pa = np.concatenate(pairs_a)
    pb = np.concatenate(pairs_b)
    sim = (sig[pa] == sig[pb]).mean(axis=1)
    keep = sim >= threshold
    pa, pb = pa[keep], pb[keep]
    if not len(pa):
        return []
    graph = coo_matrix((np.ones(len(pa), dtype=np.int8), (pa, pb)), shape=(n, n))
    _count, labels = connected_components(graph, directed=False)
    sizes = np.bincount(labels)
    in_group = np.flatnonzero(sizes[labels] > 1)
    groups: dict[int, list[int]] = {}
    for i in in_group:
        groups.setdefault(int(labels[i]), []).append(int(i))
    return sorted(groups.values(), key=lambda g: g[0])
