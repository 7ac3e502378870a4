"""Span-file imports as jobs (``job(project_path, config, *, progress, should_stop)``): into
an open span project, or into a new one (as ``workbench new --task spans`` makes it). The
window runs them in a worker thread; all or nothing (see :mod:`.span_import`)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.core.data.importer import ImportProgress, ImportReport
from workbench.core.data.jobs import fill_new_project
from workbench.core.jobs import never_stop, no_progress
from workbench.core.spans.span_import import import_span_file
from workbench.core.store.project import Project

__all__ = ["NewSpanProjectConfig", "SpanImportConfig", "create_span_project_job", "import_span_job"]


@dataclass
class SpanImportConfig:
    """What to import into a span project: a span file, or plain records (text column)."""

    file: str | Path
    text_col: str = "text"
    id_col: str | None = None
    add_labels: bool = False
    annotator: str | None = None


@dataclass
class NewSpanProjectConfig:
    """A new span project's entity labels and the file to fill it with."""

    data: SpanImportConfig
    labels: list[str] = field(default_factory=list)


def _import(project: Project, config: SpanImportConfig, progress: Callable[[Any], None],
            should_stop: Callable[[], bool]) -> ImportReport:
    progress(ImportProgress("import", 0, 0, "Reading the file…"))
    return import_span_file(project, config.file, add_labels=config.add_labels,
                            annotator=config.annotator, text_col=config.text_col,
                            id_col=config.id_col, progress=progress, should_stop=should_stop)


def import_span_job(
    project_path: str | Path,
    config: SpanImportConfig,
    *,
    progress: Callable[[ImportProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ImportReport:
    """Import a span file (or plain records) into a span project (all or nothing)."""
    with Project.open(project_path) as project:
        return _import(project, config, progress or no_progress, should_stop or never_stop)


def create_span_project_job(
    project_path: str | Path,
    config: NewSpanProjectConfig,
    *,
    progress: Callable[[ImportProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ImportReport:
    """Create a span project (as ``workbench new --task spans`` does) and import its data;
    on cancel or error nothing is left behind."""
    project = Project.create(Path(project_path), config.labels, task="spans")
    return fill_new_project(project, lambda p: _import(p, config.data, progress or no_progress,
                                                       should_stop or never_stop))
