"""Inter-annotator agreement: Cohen's kappa per pair, Fleiss' kappa, Krippendorff's alpha.

Only annotations with status ``labelled`` and at least one label count. A record takes
part in agreement when at least two annotators labelled it (the *overlap*).

* Single-label projects: the statistics are computed on the label as a nominal category
  (overall), and one-vs-rest on each label (per label, binary: chosen or not).
* Multi-label projects: per label, each annotator's decision "has this label" is a binary
  rating; the overall Cohen and Fleiss figures are the mean of the per-label figures, and
  the overall Krippendorff's alpha uses the MASI set distance (Passonneau 2006) on the
  whole label set.

Fleiss' kappa uses the usual generalisation to a varying number of raters per record
(each record's agreement is the fraction of agreeing rater pairs); it equals Fleiss'
formula when every record has the same number of raters. A statistic is ``None`` when it
is undefined (for example when everyone always chose the same label, so chance agreement
is 1).
"""
from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.core.store.project import Project

__all__ = [
    "AgreementReport",
    "PairAgreement",
    "cohen_kappa",
    "fleiss_kappa",
    "krippendorff_alpha",
    "masi_distance",
    "nominal_distance",
    "load_ratings",
    "compute_agreement",
    "AgreementConfig",
    "agreement_job",
]

Ratings = dict[int, dict[str, frozenset[str]]]


# ----------------------------------------------------------------- formulas
def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float | None:
    """Cohen's kappa of two raters' categories for the same items (``None`` if undefined)."""
    if len(a) != len(b):
        raise ValueError("Both raters need the same number of items.")
    n = len(a)
    if n == 0:
        return None
    observed = sum(1 for x, y in zip(a, b, strict=True) if x == y) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[c] * cb.get(c, 0) for c in ca) / (n * n)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


def _grouped(units: Sequence[Sequence[Hashable]]) -> list[tuple[Counter, int]]:
    """Units with at least two values, grouped by their multiset of values.

    Agreement statistics depend only on each unit's value counts, and real projects have
    few distinct patterns (e.g. "3 chose A", "2 chose A, 1 chose B"), so grouping makes the
    formulas below cost little even for many thousands of records.
    """
    patterns = Counter(tuple(sorted(u, key=repr)) for u in units if len(u) >= 2)
    return [(Counter(values), weight) for values, weight in patterns.items()]


def fleiss_kappa(units: Sequence[Sequence[Hashable]]) -> float | None:
    """Fleiss' kappa; ``units`` holds each item's ratings (items with < 2 are skipped)."""
    groups = _grouped(units)
    if not groups:
        return None
    totals: Counter = Counter()
    n_ratings = 0
    n_items = 0
    p_sum = 0.0
    for counts, weight in groups:
        m = sum(counts.values())
        for value, c in counts.items():
            totals[value] += c * weight
        n_ratings += m * weight
        n_items += weight
        p_sum += weight * (sum(c * c for c in counts.values()) - m) / (m * (m - 1))
    p_bar = p_sum / n_items
    p_e = sum((c / n_ratings) ** 2 for c in totals.values())
    if p_e >= 1.0:
        return None
    return (p_bar - p_e) / (1.0 - p_e)


def nominal_distance(x: Hashable, y: Hashable) -> float:
    """0 for equal values, 1 otherwise."""
    return 0.0 if x == y else 1.0


def masi_distance(x: frozenset, y: frozenset) -> float:
    """MASI distance between two label sets: ``1 - Jaccard * monotonicity``.

    Monotonicity is 1 for equal sets, 2/3 when one contains the other, 1/3 when they
    overlap otherwise and 0 when they are disjoint (Passonneau 2006).
    """
    x, y = frozenset(x), frozenset(y)
    if x == y:
        return 0.0
    union = len(x | y)
    inter = len(x & y)
    if inter == 0:
        return 1.0
    monotonicity = 2 / 3 if (x <= y or y <= x) else 1 / 3
    return 1.0 - (inter / union) * monotonicity


def krippendorff_alpha(
    units: Sequence[Sequence[Hashable]],
    distance: Callable[[Any, Any], float] = nominal_distance,
) -> float | None:
    """Krippendorff's alpha from each unit's values (missing ratings simply left out).

    Uses the coincidence-matrix form: ``alpha = 1 - (n - 1) * sum(o_ck d_ck) /
    sum(n_c n_k d_ck)`` over pairable values (units with at least two values).
    """
    coincidence: dict[tuple[Hashable, Hashable], float] = defaultdict(float)
    for counts, weight in _grouped(units):
        m = sum(counts.values())
        for c, nc in counts.items():
            for k, nk in counts.items():
                pairs = nc * (nc - 1) if c == k else nc * nk
                if pairs:
                    coincidence[(c, k)] += weight * pairs / (m - 1)
    if not coincidence:
        return None
    marginals: dict[Hashable, float] = defaultdict(float)
    for (c, _k), o in coincidence.items():
        marginals[c] += o
    n = sum(marginals.values())
    observed = sum(o * distance(c, k) for (c, k), o in coincidence.items() if c != k)
    expected = sum(
        marginals[c] * marginals[k] * distance(c, k)
        for c, k in itertools.permutations(marginals, 2)
    )
    if expected <= 0.0:
        return None
    return 1.0 - (n - 1) * observed / expected


# ----------------------------------------------------------------- project report
@dataclass
class PairAgreement:
    """Agreement between two annotators on the records both labelled."""

    a: str
    b: str
    overlap: int
    kappa: float | None
    percent_agreement: float | None
    per_label: dict[str, float | None] = field(default_factory=dict)


@dataclass
class AgreementReport:
    """Agreement figures for a project (see the module docstring for definitions)."""

    multi_label: bool
    annotators: list[str]
    records_labelled: int
    overlap: int
    pairs: list[PairAgreement] = field(default_factory=list)
    fleiss: float | None = None
    alpha: float | None = None
    alpha_distance: str = "nominal"
    per_label: dict[str, dict[str, Any]] = field(default_factory=dict)
    disagreements: int = 0
    #: Labels per annotator that came with an import (e.g. the demo's ready-made labels)
    #: rather than from labelling in the app.
    imported: dict[str, int] = field(default_factory=dict)

    def imported_note(self) -> str:
        """A sentence naming imported labels credited to an annotator, or ""."""
        parts = [f"{n} of {who}'s" for who, n in sorted(self.imported.items()) if n]
        if not parts:
            return ""
        return (f"{' and '.join(parts)} labels came with an imported file (as the demo project's "
                "ready-made labels do), not from labelling in the app.")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """A few lines for the CLI and the status bar."""
        def fmt(v: float | None) -> str:
            return "n/a" if v is None else f"{v:.3f}"

        lines = [
            f"Annotators: {len(self.annotators)} ({', '.join(self.annotators) or 'none'})",
            f"Records labelled: {self.records_labelled}; labelled by 2 or more: {self.overlap}; "
            f"with disagreement: {self.disagreements}",
            f"Fleiss' kappa: {fmt(self.fleiss)}",
            f"Krippendorff's alpha ({self.alpha_distance}): {fmt(self.alpha)}",
        ]
        if self.pairs:
            lines.append("Cohen's kappa by pair:")
            for p in self.pairs:
                lines.append(f"  {p.a} / {p.b}: {fmt(p.kappa)} on {p.overlap} records")
        if self.per_label:
            lines.append("Per label (kappa mean of pairs / Fleiss / alpha):")
            for name, figs in self.per_label.items():
                lines.append(
                    f"  {name}: {fmt(figs['cohen_mean'])} / {fmt(figs['fleiss'])} / "
                    f"{fmt(figs['alpha'])}"
                )
        return "\n".join(lines)


def load_ratings(project: Project) -> Ratings:
    """record id -> annotator -> label set, for labelled annotations with labels."""
    from workbench.core.store.snapshot import annotator_votes

    return {
        rid: {a: frozenset(names) for a, names in by.items()}
        for rid, by in annotator_votes(project).items()
    }


def _mean(values: list[float | None]) -> float | None:
    real = [v for v in values if v is not None]
    return sum(real) / len(real) if real else None


def _single_value(labels: frozenset[str]) -> str:
    # A single-label project stores one label; be robust to legacy multi rows.
    return next(iter(labels)) if len(labels) == 1 else sorted(labels)[0]


@dataclass
class AgreementConfig:
    """Settings of the agreement job (none yet: the whole project is measured)."""


def agreement_job(
    project_path: str | Path,
    config: AgreementConfig | None = None,
    *,
    progress: Callable[[Any], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> AgreementReport:
    """The agreement job (see :mod:`workbench.core.jobs`): :func:`compute_agreement` of the
    project file, with its own connection."""
    from workbench.core.store.project import Project

    with Project.open(project_path) as project:
        return compute_agreement(project)


def compute_agreement(project: Project, ratings: Mapping[int, Mapping[str, frozenset[str]]] | None = None) -> AgreementReport:
    """Agreement figures for the whole project."""
    if ratings is None:
        ratings = load_ratings(project)
    multi = project.multi_label
    labels = project.label_names()
    annotators = sorted({a for by in ratings.values() for a in by})
    overlapping = {rid: by for rid, by in ratings.items() if len(by) >= 2}
    report = AgreementReport(
        multi_label=multi,
        annotators=annotators,
        records_labelled=len(ratings),
        overlap=len(overlapping),
        alpha_distance="MASI" if multi else "nominal",
        disagreements=sum(1 for by in overlapping.values() if len(set(by.values())) > 1),
        imported=dict(project.db.execute(
            "SELECT annotator, count(*) FROM main.annotations WHERE provenance = 'imported' "
            "AND status = 'labelled' GROUP BY annotator").fetchall()),
    )

    def value(s: frozenset[str]) -> Hashable:
        return s if multi else _single_value(s)

    # Pairwise Cohen's kappa.
    per_label_pairs: dict[str, list[float | None]] = {name: [] for name in labels}
    for a, b in itertools.combinations(annotators, 2):
        shared = [rid for rid, by in overlapping.items() if a in by and b in by]
        if not shared:
            continue
        xa = [ratings[r][a] for r in shared]
        xb = [ratings[r][b] for r in shared]
        per_label = {
            name: cohen_kappa([name in s for s in xa], [name in s for s in xb]) for name in labels
        }
        for name, k in per_label.items():
            per_label_pairs[name].append(k)
        if multi:
            kappa = _mean(list(per_label.values()))
        else:
            kappa = cohen_kappa([value(s) for s in xa], [value(s) for s in xb])
        agree = sum(1 for x, y in zip(xa, xb, strict=True) if x == y) / len(shared)
        report.pairs.append(PairAgreement(a, b, len(shared), kappa, agree, per_label))

    # Fleiss' kappa and Krippendorff's alpha over all overlapping records.
    units = [list(by.values()) for by in overlapping.values()]
    per_label_fleiss = {}
    for name in labels:
        binary = [[name in s for s in u] for u in units]
        per_label_fleiss[name] = fleiss_kappa(binary)
        report.per_label[name] = {
            "cohen_mean": _mean(per_label_pairs[name]),
            "fleiss": per_label_fleiss[name],
            "alpha": krippendorff_alpha(binary),
            "overlap": len(units),
            "records_with_label": sum(1 for u in units if any(name in s for s in u)),
        }
    if multi:
        report.fleiss = _mean(list(per_label_fleiss.values()))
        report.alpha = krippendorff_alpha(units, masi_distance)
    else:
        single = [[value(s) for s in u] for u in units]
        report.fleiss = fleiss_kappa(single)
        report.alpha = krippendorff_alpha(single)
    return report
