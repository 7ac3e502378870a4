"""Export the project's labels to CSV, JSON Lines or Parquet, in a worker thread."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from workbench.core.data.jobs import LabelledExportConfig, export_labelled_job
from workbench.core.errors import WorkbenchError
from workbench.core.jobs import ProgressEvent
from workbench.core.store.project import Project
from workbench.gui.project.data_mapper import ImportProgressBox
from workbench.gui.widgets.workers import JobHandle, run_in_thread

__all__ = ["ExportDialog"]

log = logging.getLogger(__name__)

EXPORT_FILTER = "CSV (*.csv);;JSON Lines (*.jsonl);;Parquet (*.parquet)"


class ExportDialog(QDialog):
    """Choose the file and what to export; the export runs in the background."""

    exported = Signal(object)  # the exporter's summary

    def __init__(self, project: Project, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Export labels of {project.name}")
        self.resize(640, 240)
        self.project_path = project.path
        self.job: JobHandle | None = None
        self.summary: Any = None
        layout = QVBoxLayout(self)

        self.final_radio = QRadioButton("Final labels: one row per record (agreed across annotators)")
        self.all_radio = QRadioButton("Every annotation: one row per annotator and record, with status")
        self.final_radio.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.final_radio)
        group.addButton(self.all_radio)
        layout.addWidget(self.final_radio)
        layout.addWidget(self.all_radio)

        row = QHBoxLayout()
        row.addWidget(QLabel("Save to:"))
        self.path_edit = QLineEdit(str(project.path.with_name(project.path.stem + "-labels.csv")))
        self.path_edit.textChanged.connect(self._update_buttons)
        row.addWidget(self.path_edit, 1)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row.addWidget(browse)
        layout.addLayout(row)
        hint = QLabel("The format follows the file name: .csv, .jsonl or .parquet.")
        hint.setObjectName("hintText")
        layout.addWidget(hint)
        self.escape_check = QCheckBox("Escape spreadsheet formulas (CSV)")
        self.escape_check.setToolTip(
            "Cells starting with = + - or @ get a leading ' so a spreadsheet shows them as "
            "text instead of running them."
        )
        self.escape_check.setChecked(True)
        layout.addWidget(self.escape_check)
        self.masked_check = QCheckBox("Masked text only (refuse if personal data remains)")
        self.masked_check.setToolTip(
            "Check every exported text with the masking rules of the Data tab; if an e-mail "
            "address, phone number, IBAN, card number, ... is still there, no file is written."
        )
        layout.addWidget(self.masked_check)
        layout.addStretch(1)
        self.progress_box = ImportProgressBox()
        layout.addWidget(self.progress_box)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.export_button.setDefault(True)
        self.buttons.accepted.connect(self.start_export)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self._update_buttons()

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export labels", self.path_edit.text(), EXPORT_FILTER)
        if path:
            self.path_edit.setText(path)

    def _update_buttons(self) -> None:
        running = self.job is not None and self.job.is_running()
        self.export_button.setEnabled(bool(self.path_edit.text().strip()) and not running)

    def mode(self) -> str:
        return "final" if self.final_radio.isChecked() else "all"

    def start_export(self) -> None:
        """Start writing the file in a worker thread (the Export button)."""
        text = self.path_edit.text().strip()
        if not text or (self.job is not None and self.job.is_running()):
            return
        out = Path(text).expanduser()
        self.progress_box.start(f"Exporting to {out.name}…")
        self.job = run_in_thread(
            self,
            export_labelled_job,
            self.project_path,
            LabelledExportConfig(out, self.mode(), escape_formulas=self.escape_check.isChecked(),
                                 masked_only=self.masked_check.isChecked()),
            on_progress=self._on_progress,
            on_done=self._on_done,
            on_failed=self._on_failed,
            on_cancelled=self._on_cancelled,
            name="export",
        )
        self._update_buttons()

    def _on_progress(self, event: ProgressEvent) -> None:
        self.progress_box.bar.setRange(0, 0)
        self.progress_box.status.setText(f"Exporting… {event.done:,} rows written")

    def _on_done(self, summary: Any) -> None:
        self.summary = summary
        self.job = None
        text = summary.summary() if hasattr(summary, "summary") else str(summary)
        self.progress_box.finish(text)
        self.exported.emit(summary)
        self.accept()

    def _on_failed(self, exc: BaseException) -> None:
        self.job = None
        message = str(exc) if isinstance(exc, WorkbenchError) else f"Export failed: {exc}"
        self.progress_box.finish(message, error=True)
        self._update_buttons()

    def _on_cancelled(self) -> None:
        self.job = None
        self.progress_box.finish("Export cancelled: no file was written.")
        self._update_buttons()

    def reject(self) -> None:
        if self.job is not None and self.job.is_running():
            self.job.cancel()
            return
        super().reject()
