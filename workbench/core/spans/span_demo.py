"""The span demo project: synthetic clinical notes (``resources/demo/clinical_notes.jsonl``,
made by ``resources/demo/make_span_demo.py``; no real patient data) with drug, dose,
frequency and condition entities, the first notes already labelled."""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.core.data.importer import import_rows
from workbench.core.resources import resource_path
from workbench.core.store.project import Project, remove_project_files
from workbench.core.store.spans import Span

__all__ = ["SPAN_DEMO_LABELS", "SPAN_DEMO_PRELABELLED", "SpanDemoConfig",
           "create_span_demo_job"]

SPAN_DEMO_LABELS = [
    ("drug", "A medicine by generic or brand name (misspelt ones too); not the dose."),
    ("dose", "Amount per administration with its unit: 500 mg, 2 puffs, 20 units."),
    ("frequency", "How often: BID, q8h, twice daily, at bedtime, PRN."),
    ("condition", "A diagnosis or disease, including abbreviations (HTN, T2DM, afib)."),
]
#: Notes that arrive labelled, so a model can be trained at once.
SPAN_DEMO_PRELABELLED = 120


@dataclass
class SpanDemoConfig:
    prelabelled: int = SPAN_DEMO_PRELABELLED


def create_span_demo_job(project_path: str | Path, config: SpanDemoConfig, *,
                         progress: Callable[[Any], None] | None = None,
                         should_stop: Callable[[], bool] | None = None) -> str:
    """Create the span demo project at ``project_path``; returns its path (nothing is left
    behind on cancel or error)."""
    source = resource_path("demo", "clinical_notes.jsonl")
    notes = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines()
             if line.strip()]
    path = Path(project_path)
    project = Project.create(path, [name for name, _ in SPAN_DEMO_LABELS], task="spans")
    try:
        for name, guideline in SPAN_DEMO_LABELS:
            project.update_label(name, guideline=guideline)
        project.set_meta("name", "Clinical notes (span demo)")
        rows = [{"id": n["id"], "text": n["text"],
                 "spans": [Span(s["start"], s["end"], s["label"]) for s in n["spans"]]
                 if i < config.prelabelled else None}
                for i, n in enumerate(notes)]
        import_rows(project, rows, text_col="text", id_col="id", source=str(source),
                    fmt="spacy", progress=progress, should_stop=should_stop,
                    spans_col="spans")
    except BaseException:
        project.close()
        remove_project_files(path)
        raise
    project.close()
    return str(path)
