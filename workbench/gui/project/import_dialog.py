"""The dialog that imports another data file into the open project.

The import runs :func:`workbench.core.data.jobs.import_job` in a worker thread (the
new-project wizard runs :func:`~workbench.core.data.jobs.create_project_job`; span projects
run :func:`~workbench.core.spans.span_jobs.import_span_job`): it opens its own project
connection and imports in one transaction, so a cancelled or failed import leaves the
project exactly as it was.
"""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from workbench.core.data.importer import ImportReport
from workbench.core.data.jobs import import_job
from workbench.core.store.project import Project
from workbench.gui.project.data_mapper import (
    DATA_FILE_FILTER,
    ColumnMapping,
    DataFileMapper,
    ImportProgressBox,
)
from workbench.gui.project.span_import import SpanFileMapper, import_span_job, plain_message
from workbench.gui.widgets.workers import JobHandle, run_in_thread

__all__ = [
    "DATA_FILE_FILTER",
    "ColumnMapping",
    "DataFileMapper",
    "ImportProgressBox",
    "ImportDialog",
]


class ImportDialog(QDialog):
    """Import another data file into the open project (one transaction; Cancel undoes)."""

    imported = Signal(object)  # ImportReport
    job_finished = Signal()  # after done, failure or cancel

    def __init__(self, project: Project, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Import data into {project.name}")
        self.resize(820, 560)
        self.project_path = project.path
        self.report: ImportReport | None = None
        self.job: JobHandle | None = None
        self._labels = project.label_names()
        self.spans = project.is_spans

        layout = QVBoxLayout(self)
        self.mapper = SpanFileMapper(span_mode=True) if self.spans else DataFileMapper()
        self.mapper.changed.connect(self._update_buttons)
        layout.addWidget(self.mapper, 1)
        where = "in the file's entities" if self.spans else "in the label column"
        self.add_labels_check = QCheckBox(
            f"Add the new labels (found {where}, not yet in the project)")
        self.add_labels_check.setChecked(False)
        layout.addWidget(self.add_labels_check)
        hint = QLabel(
            "Records whose text is already in the project are skipped. The import is all or "
            "nothing: cancelling or an error leaves the project unchanged."
        )
        hint.setObjectName("hintText")
        hint.setWordWrap(True)
        layout.addWidget(hint)
        self.progress_box = ImportProgressBox()
        layout.addWidget(self.progress_box)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.import_button = self.buttons.addButton("Import", QDialogButtonBox.ButtonRole.AcceptRole)
        self.import_button.setDefault(True)
        self.buttons.accepted.connect(self.start_import)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self._update_buttons()

    def _update_buttons(self) -> None:
        problem = self.mapper.problem()
        running = self.job is not None and self.job.is_running()
        self.import_button.setEnabled(not problem and not running)
        self.import_button.setToolTip(problem)
        mapping = self.mapper.mapping()
        if self.spans:
            self.add_labels_check.setEnabled(self.mapper.is_span_file and not running)
        else:
            self.add_labels_check.setEnabled(bool(mapping and mapping.label_col))

    def start_import(self) -> None:
        """Start the import in a worker thread (the Import button)."""
        mapping = self.mapper.mapping()
        if self.mapper.problem() or mapping is None or self.mapper.path is None:
            return
        if self.job is not None and self.job.is_running():
            return
        self.mapper.setEnabled(False)
        self.add_labels_check.setEnabled(False)
        self.progress_box.start(f"Importing {self.mapper.path.name}…")
        add_labels = self.add_labels_check.isChecked()
        if self.spans:
            job, config = import_span_job, self.mapper.span_config(add_labels=add_labels)
        else:
            job, config = import_job, mapping.import_config(self.mapper.path, add_labels=add_labels)
        self.job = run_in_thread(
            self,
            job,
            self.project_path,
            config,
            on_progress=self.progress_box.step,
            on_done=self._on_done,
            on_failed=self._on_failed,
            on_cancelled=self._on_cancelled,
            name="import",
        )
        self._update_buttons()

    def _on_done(self, report: ImportReport) -> None:
        self.report = report
        self.progress_box.finish(f"Done: {report.summary()}.")
        self.imported.emit(report)
        self.job = None
        self.job_finished.emit()
        self.accept()

    def _on_failed(self, exc: BaseException) -> None:
        self.progress_box.finish(plain_message(exc) + " Nothing was imported.", error=True)
        self._ready_again()

    def _on_cancelled(self) -> None:
        self.progress_box.finish("Import cancelled: nothing was imported.")
        self._ready_again()

    def _ready_again(self) -> None:
        self.job = None
        self.mapper.setEnabled(True)
        self._update_buttons()
        self.job_finished.emit()

    def reject(self) -> None:
        """Cancel a running import first; a second Cancel (or none running) closes."""
        if self.job is not None and self.job.is_running():
            self.progress_box.status.setText("Cancelling…")
            self.job.cancel()
            return
        super().reject()

    def shutdown(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.job.wait(10_000)
