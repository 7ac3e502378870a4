"""The data jobs (import, new project from a file, export of labelled data).

Each has the signature of :mod:`workbench.core.jobs`:
``job(project_path, config, *, progress, should_stop) -> result``.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.core.data.exporter import ExportSummary
from workbench.core.data.importer import ImportProgress, ImportReport
from workbench.core.errors import WorkbenchError
from workbench.core.jobs import never_stop, no_progress
from workbench.core.store.project import Project, remove_project_files

__all__ = [
    "fill_new_project",
    "ImportConfig",
    "NewProjectConfig",
    "LabelledExportConfig",
    "import_job",
    "create_project_job",
    "export_labelled_job",
    "estimate_rows",
]


@dataclass
class ImportConfig:
    """What to import: the data file and which of its columns hold what."""

    file: str | Path
    text_col: str = "text"
    id_col: str | None = None
    label_col: str | None = None
    fmt: str | None = None
    encoding: str | None = None
    add_labels: bool = False
    annotator: str | None = None


@dataclass
class NewProjectConfig:
    """A new project's label set and the data file to fill it with."""

    data: ImportConfig
    labels: list[str] = field(default_factory=list)
    multi_label: bool = False


@dataclass
class LabelledExportConfig:
    """Where to write the labelled data and which labels (``"all"`` or ``"final"``)."""

    out_path: str | Path
    mode: str = "all"
    escape_formulas: bool = True
    masked_only: bool = False


def estimate_rows(path: str | Path) -> int | None:
    """Rough row count for line-based formats (counting newlines), for a progress bar."""
    from workbench.core.data.importer import detect_format

    path = Path(path)
    try:
        fmt = detect_format(path)
    except (WorkbenchError, OSError):
        return None
    if fmt not in ("csv", "tsv", "txt", "jsonl"):
        return None
    count = 0
    try:
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                count += block.count(b"\n")
    except OSError:
        return None
    return max(1, count - (1 if fmt in ("csv", "tsv") else 0))


def _import(project: Any, config: ImportConfig, progress: Callable[[Any], None],
            should_stop: Callable[[], bool]) -> ImportReport:
    from workbench.core.data.importer import import_file

    total = estimate_rows(config.file) or 0

    def report(event: ImportProgress) -> None:
        event.total = event.total or total
        progress(event)

    progress(ImportProgress("import", 0, total, "Reading the file…"))
    return import_file(
        project, config.file, text_col=config.text_col, id_col=config.id_col,
        label_col=config.label_col, fmt=config.fmt, encoding=config.encoding,
        add_labels=config.add_labels, annotator=config.annotator,
        progress=report, should_stop=should_stop,
    )


def import_job(
    project_path: str | Path,
    config: ImportConfig,
    *,
    progress: Callable[[ImportProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ImportReport:
    """Import a data file into the project (all or nothing; a cancel leaves it unchanged)."""
    with Project.open(project_path) as project:
        return _import(project, config, progress or no_progress, should_stop or never_stop)


def create_project_job(
    project_path: str | Path,
    config: NewProjectConfig,
    *,
    progress: Callable[[ImportProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ImportReport:
    """Create a project and import its data; on cancel or error nothing is left behind."""
    project = Project.create(Path(project_path), config.labels, multi_label=config.multi_label)
    return fill_new_project(project, lambda p: _import(p, config.data, progress or no_progress,
                                                       should_stop or never_stop))


def fill_new_project(project: Project, fill: Callable[[Project], ImportReport]) -> ImportReport:
    """Run ``fill`` (an import) on a project just created and close it; on cancel or error
    the new project's files are removed, so nothing is left behind."""
    try:
        report = fill(project)
    except BaseException:
        project.close()
        remove_project_files(project.path)
        raise
    project.close()
    return report


def export_labelled_job(
    project_path: str | Path,
    config: LabelledExportConfig,
    *,
    progress: Callable[[Any], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ExportSummary:
    """Write the project's labelled data to a file (never half a file, even on cancel)."""
    from workbench.core.data.exporter import export_labelled
    with Project.open(project_path) as project:
        return export_labelled(
            project, config.out_path, mode=config.mode, progress=progress,
            should_stop=should_stop, escape_formulas=config.escape_formulas,
            masked_only=config.masked_only,
        )
