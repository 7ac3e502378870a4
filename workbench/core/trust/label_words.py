"""The words that drive each label across a project, for the Train results.

Every held-out text (test and validation splits, up to ``max_texts``) is explained with
the run's exported bundle (leave-one-word-out, ``core/deploy/explain.py``); the positive
weights of each word are summed per predicted label and divided by the number of texts
given that label. The top words per label show what the model has learnt to look at, so
a domain expert can spot a model that relies on the wrong cues.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.core.errors import Cancelled, WorkbenchError
from workbench.core.jobs import ProgressEvent

__all__ = ["LabelWordsConfig", "label_top_words", "label_words_job"]


#: Words too common to say anything about a label.
FUNCTION_WORDS = frozenset(
    "a an the and or but if of to in on at by for with from as is are was were be been it its "
    "this that these those i me my you your we our he she they them his her their not no do "
    "does did have has had can could will would should so than then there here".split())


@dataclass
class LabelWordsConfig:
    """Which run's words to sum up, over how many texts, and how many words per label."""

    run_id: int
    max_texts: int = 150
    per_label: int = 6


def label_top_words(predictor: Any, texts: Sequence[str], per_label: int = 6,
                    progress: Callable[[int, int], None] | None = None,
                    should_stop: Callable[[], bool] | None = None) -> dict[str, list[tuple[str, float]]]:
    """``{label: [(word, mean weight), ...]}`` over ``texts`` (strongest first)."""
    from workbench.core.deploy.explain import explain

    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    seen: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    counts: dict[str, int] = defaultdict(int)
    for i, text in enumerate(texts):
        if should_stop is not None and should_stop():
            raise Cancelled("Cancelled.")
        label, spans = explain(predictor, text)
        counts[label] += 1
        for e in spans:
            if e["weight"] > 0:
                word = text[e["start"]:e["end"]].lower()
                if any(ch.isalpha() for ch in word) and word not in FUNCTION_WORDS:
                    sums[label][word] += e["weight"]
                    seen[label][word] += 1
        if progress is not None:
            progress(i + 1, len(texts))
    out = {}
    for label in predictor.labels:
        # A word behind one text only says little about the label: prefer repeated ones.
        repeated = {w: v for w, v in sums[label].items() if seen[label][w] > 1} or sums[label]
        words = sorted(repeated.items(), key=lambda kv: -kv[1])[:per_label]
        out[label] = [(w, s / max(1, counts[label])) for w, s in words]
    return out


def label_words_job(project_path: str | Path, config: LabelWordsConfig, *,
                    progress: Callable[[ProgressEvent], None] | None = None,
                    should_stop: Callable[[], bool] | None = None) -> dict[str, list[tuple[str, float]]]:
    """The job: needs the run's export in the default folder (raises a clear message)."""
    from workbench.core.deploy.inference import Predictor
    from workbench.core.deploy.project_data import default_export_dir
    from workbench.core.store.project import Project

    folder = default_export_dir(Path(project_path), config.run_id)
    if not (folder / "bundle.json").is_file():
        raise WorkbenchError(f"Run {config.run_id} is not exported yet: export it (Deploy tab) "
                             "to see which words drive each label.")
    with Project.open(project_path) as project:
        examples = project.labelled_examples()
    texts = [t for _r, t, _l, split in examples if split in ("test", "validation")]
    texts = (texts or [t for _r, t, _l, _s in examples])[: config.max_texts]
    predictor = Predictor.load(folder)
    relay = (lambda done, total: progress(ProgressEvent("explain", done, total))) if progress else None
    return label_top_words(predictor, texts, config.per_label, relay, should_stop)
