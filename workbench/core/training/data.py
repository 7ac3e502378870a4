"""Training data: the label snapshot, the stored split and the data summary.

The split is stratified and stored in ``records.split`` so later runs are measured on the
same test records. Records labelled since the last run are assigned so that every label
keeps roughly the configured share in validation and test; ``reshuffle`` draws a new split
for every labelled record.
"""
from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from workbench.core.errors import WorkbenchError
from workbench.core.store.snapshot import LabelSnapshot, resolve_labels
from workbench.core.training.config import DataSummary, TrainConfig

if TYPE_CHECKING:
    from workbench.core.store.project import Project

__all__ = [
    "MIN_RECORDS",
    "MIN_PER_LABEL_WARNING",
    "Example",
    "PreparedData",
    "assign_splits",
    "data_summary",
    "prepare_data",
]

#: Fewer labelled records than this cannot be trained on.
MIN_RECORDS = 10
#: A label with fewer examples than this gets a warning.
MIN_PER_LABEL_WARNING = 10
ASSIGNED = ("train", "validation", "test")


@dataclass(frozen=True)
class Example:
    """One labelled record as the trainer sees it."""

    record_id: int
    text: str
    labels: tuple[str, ...]
    split: str


@dataclass
class PreparedData:
    """The examples of one run, split, with the label list in model order."""

    labels: list[str]
    multi_label: bool
    train: list[Example]
    validation: list[Example]
    test: list[Example]
    snapshot_hash: str
    ties: int = 0
    changed_splits: dict[int, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def n_labelled(self) -> int:
        return len(self.train) + len(self.validation) + len(self.test)

    def label_index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.labels)}


def _stratum(labels: tuple[str, ...], counts: Counter[str]) -> str:
    # Multi-label records are stratified by their rarest label.
    return min(labels, key=lambda n: (counts[n], n))


def assign_splits(
    examples: list[tuple[int, tuple[str, ...], str]],
    *,
    validation_fraction: float,
    test_fraction: float,
    seed: int,
    reshuffle: bool = False,
) -> dict[int, str]:
    """Split of every record: (record id, labels, stored split) -> {record id: split}.

    Stored splits are kept unless ``reshuffle``. Unassigned records fill, per stratum, the
    validation and test shares first, then go to train; a stratum always keeps at least
    one training example.
    """
    counts: Counter[str] = Counter(n for _rid, labels, _s in examples for n in labels)
    strata: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for rid, labels, split in examples:
        strata[_stratum(labels, counts)].append((rid, "unassigned" if reshuffle else split))
    rng = random.Random(seed)
    result: dict[int, str] = {}
    for name in sorted(strata):
        members = strata[name]
        have = Counter(s for _rid, s in members if s in ASSIGNED)
        new = sorted(rid for rid, s in members if s not in ASSIGNED)
        for rid, s in members:
            if s in ASSIGNED:
                result[rid] = s
        rng.shuffle(new)
        total = len(members)
        want_test = round(total * test_fraction) if total >= 3 else 0
        want_val = round(total * validation_fraction) if total >= 3 else 0
        if total >= 3:  # every stratum with 3+ records is seen by validation and test
            want_test, want_val = max(1, want_test), max(1, want_val)
        for split, want in (("test", want_test), ("validation", want_val)):
            need = max(0, want - have[split])
            # Never take the last example a stratum would have for training.
            spare = len(new) - (0 if have["train"] else 1)
            take = max(0, min(need, spare))
            for rid in new[:take]:
                result[rid] = split
            have[split] += take
            new = new[take:]
        for rid in new:
            result[rid] = "train"
    return result


def _check_enough(snapshot: LabelSnapshot, labels_used: list[str], multi_label: bool) -> None:
    n = len(snapshot.examples)
    if n < MIN_RECORDS:
        raise WorkbenchError(
            f"Only {n} labelled record(s): label at least {MIN_RECORDS} "
            "(a few hundred give a useful model) before training."
        )
    if len(labels_used) < 2:
        only = f" (only {labels_used[0]!r} has examples)" if labels_used else ""
        raise WorkbenchError(
            f"Training needs examples of at least two labels{only}. Label more records."
        )


def prepare_data(
    project: Project,
    *,
    validation_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 42,
    reshuffle: bool = False,
    augment: bool = False,
) -> PreparedData:
    """Snapshot the final labels and split them (nothing is written to the project).

    The caller stores ``changed_splits`` with :meth:`Project.set_splits` once the run
    starts. Raises :class:`WorkbenchError` when there is too little data to train on.
    With ``augment``, the stored augmented rows of training records join the train split
    (never validation or test); see :func:`_augmented`.
    """
    snap = resolve_labels(project)
    multi = project.multi_label
    counts: Counter[str] = Counter(n for _rid, _t, labels, _s in snap.examples for n in labels)
    labels = [name for name in project.label_names() if counts[name] > 0]
    _check_enough(snap, labels, multi)
    triples = [(rid, tuple(lab), split) for rid, _t, lab, split in snap.examples]
    splits = assign_splits(
        triples,
        validation_fraction=validation_fraction,
        test_fraction=test_fraction,
        seed=seed,
        reshuffle=reshuffle,
    )
    changed = {rid: splits[rid] for rid, _lab, old in triples if splits[rid] != old}
    resolved = LabelSnapshot(
        examples=[(rid, text, lab, splits[rid]) for rid, text, lab, _s in snap.examples],
        ties=snap.ties,
        multi_annotator=snap.multi_annotator,
    )
    parts: dict[str, list[Example]] = {s: [] for s in ASSIGNED}
    for rid, text, lab, split in resolved.examples:
        parts[split].append(Example(rid, text, tuple(lab), split))
    if augment:
        parts["train"].extend(_augmented(project, parts["train"]))
    data = PreparedData(
        labels=labels,
        multi_label=multi,
        train=parts["train"],
        validation=parts["validation"],
        test=parts["test"],
        snapshot_hash=resolved.hash,
        ties=snap.ties,
        changed_splits=changed,
    )
    data.warnings = _warnings(project, counts, parts, snap.ties, multi)
    return data


def _augmented(project: Project, train: list[Example]) -> list[Example]:
    """Augmented rows of the training records, with their source's labels. Their ids are
    negative (``-row id``): they are no records, so no prediction or split is stored."""
    from workbench.core.prep.augment import augmented_examples

    by_id = {ex.record_id: ex for ex in train}
    return [Example(-row, text, by_id[source].labels, "train")
            for row, source, text in augmented_examples(project, sorted(by_id))]


def _warnings(
    project: Project,
    counts: Counter[str],
    parts: dict[str, list[Example]],
    ties: int,
    multi: bool,
) -> list[str]:
    out: list[str] = []
    n = sum(len(v) for v in parts.values())
    if 0 < n < 100:
        out.append(f"Only {n} labelled records: expect a rough model (a few hundred help a lot).")
    for name in project.label_names():
        c = counts[name]
        if c == 0:
            out.append(f"Label {name!r} has no examples and will not be learned.")
        elif c < MIN_PER_LABEL_WARNING:
            out.append(f"Label {name!r} has only {c} example(s).")
    if parts["test"]:
        in_test = Counter(n for ex in parts["test"] for n in ex.labels)
        for name in project.label_names():
            if counts[name] and not in_test[name]:
                out.append(f"The test split has no example of {name!r}.")
    used = [c for c in counts.values() if c]
    if len(used) >= 2 and max(used) >= 5 * min(used):
        out.append(
            f"Labels are imbalanced ({max(used)} vs {min(used)} examples): rare labels get "
            "more weight during training (class weighting)."
        )
    if ties:
        out.append(f"{ties} record(s) left out: their annotators disagree without a majority.")
    return out


def data_summary(project: Project, config: TrainConfig | None = None) -> DataSummary:
    """Counts per label and split, resolved ties and warnings, for the Train panel.

    Splits show where each labelled record will be at the next run (records labelled
    since the last run are counted in the split they would be assigned to).
    """
    if project.is_spans:  # entities: spans per type (core/spans)
        from workbench.core.spans.span_summary import span_data_summary

        return span_data_summary(project, config, assign_splits)
    snap = resolve_labels(project)
    multi = project.multi_label
    counts: Counter[str] = Counter(n for _rid, _t, labels, _s in snap.examples for n in labels)
    summary = DataSummary(
        n_labelled=len(snap.examples),
        by_label={name: counts[name] for name in project.label_names()},
        splits={s: 0 for s in ASSIGNED},
        ties=snap.ties,
        multi_label=multi,
        labels=project.label_names(),
        final_labels=snap.summary(),
    )
    triples = [(rid, tuple(lab), split) for rid, _t, lab, split in snap.examples]
    cfg = config or TrainConfig()
    splits = assign_splits(
        triples,
        validation_fraction=cfg.validation_fraction,
        test_fraction=cfg.test_fraction,
        seed=cfg.seed,
        reshuffle=cfg.reshuffle_split,
    )
    parts: dict[str, list[Example]] = {s: [] for s in ASSIGNED}
    for rid, text, lab, _s in snap.examples:
        parts[splits[rid]].append(Example(rid, text, tuple(lab), splits[rid]))
    for split, members in parts.items():
        summary.splits[split] = len(members)
        per = Counter(n for ex in members for n in ex.labels)
        for name in project.label_names():
            summary.split_by_label.setdefault(name, {})[split] = per[name]
    labels_used = [n for n in project.label_names() if counts[n]]
    try:
        _check_enough(snap, labels_used, multi)
    except WorkbenchError as exc:
        summary.warnings.append(str(exc))
    summary.warnings.extend(_warnings(project, counts, parts, snap.ties, multi))
    return summary
