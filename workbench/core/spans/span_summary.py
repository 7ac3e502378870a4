"""The Train tab's summary of a span project's data (spans per type and split) and the
checks and warnings shared with training. Imports nothing from the trainer, so the
classification summary can hand span projects over here."""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from workbench.core.errors import WorkbenchError
from workbench.core.spans.span_snapshot import SpanRecord, resolved_spans
from workbench.core.store.project import Project
from workbench.core.training.config import DataSummary, TrainConfig

__all__ = ["ASSIGNED", "MIN_SPAN_RECORDS", "check_span_data", "span_data_summary",
           "split_records", "warn_span_data"]

ASSIGNED = ("train", "validation", "test")
#: Fewer labelled records than this cannot be trained on.
MIN_SPAN_RECORDS = 6
_NONE = "\x00no entity"


def split_records(records: list[SpanRecord], config: TrainConfig, splitter: Callable[..., dict[int, str]]
                  ) -> dict[int, str]:
    """Split of each record, stratified by its rarest entity type (``splitter``:
    :func:`workbench.core.training.data.assign_splits`)."""
    triples = [(r.record_id, tuple(sorted({s.label for s in r.spans})) or (_NONE,), r.split)
               for r in records]
    return splitter(triples, validation_fraction=config.validation_fraction,
                         test_fraction=config.test_fraction, seed=config.seed,
                         reshuffle=config.reshuffle_split)


def warn_span_data(project: Project, counts: Counter[str], parts: dict[str, list[SpanRecord]]
              ) -> list[str]:
    out = []
    n = sum(len(v) for v in parts.values())
    if 0 < n < 100:
        out.append(f"Only {n} labelled records: expect a rough model (a few hundred help).")
    for name in project.label_names():
        if counts[name] == 0:
            out.append(f"Entity type {name!r} has no examples and will not be learned.")
        elif counts[name] < 10:
            out.append(f"Entity type {name!r} has only {counts[name]} span(s).")
    in_test = Counter(s.label for r in parts["test"] for s in r.spans)
    for name in project.label_names():
        if counts[name] and parts["test"] and not in_test[name]:
            out.append(f"The test split has no span of {name!r}.")
    return out


def check_span_data(records: list[SpanRecord], counts: Counter[str]) -> None:
    if len(records) < MIN_SPAN_RECORDS:
        raise WorkbenchError(f"Only {len(records)} labelled record(s): label at least "
                             f"{MIN_SPAN_RECORDS} records (with their entities) to train.")
    if not counts:
        raise WorkbenchError("No entity is labelled yet: mark some spans before training.")


def span_data_summary(project: Project, config: TrainConfig | None,
                      splitter: Callable[..., dict[int, str]]) -> DataSummary:
    """Spans per entity type and split, and warnings, for the Train panel."""
    config = config or TrainConfig()
    records = resolved_spans(project)
    counts: Counter[str] = Counter(s.label for r in records for s in r.spans)
    summary = DataSummary(n_labelled=len(records),
                          by_label={n: counts[n] for n in project.label_names()},
                          splits={s: 0 for s in ASSIGNED}, labels=project.label_names(),
                          final_labels="spans (entities) per record")
    splits = split_records(records, config, splitter) if records else {}
    parts: dict[str, list[SpanRecord]] = {s: [] for s in ASSIGNED}
    for r in records:
        parts[splits[r.record_id]].append(r)
    for split, members in parts.items():
        summary.splits[split] = len(members)
        per = Counter(s.label for r in members for s in r.spans)
        for name in project.label_names():
            summary.split_by_label.setdefault(name, {})[split] = per[name]
    try:
        check_span_data(records, counts)
    except WorkbenchError as exc:
        summary.warnings.append(str(exc))
    summary.warnings.extend(warn_span_data(project, counts, parts))
    return summary
