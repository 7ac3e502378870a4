"""The Deploy panel: export a trained run as a verified, quantized ONNX bundle.

The export (:func:`workbench.core.deploy.onnx_export.export_job`) runs in a child process and
opens its own project connection; the panel shows its progress, the verification figures
and the model card, and opens the bundle folder.
"""
from __future__ import annotations

import datetime as _dt
import html
import logging
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from workbench.core.deploy.onnx_export import ExportOptions
from workbench.core.errors import WorkbenchError
from workbench.core.plain_words import FIGURE_HELP
from workbench.core.store.changes import Changes
from workbench.core.training.models import describe_base_model
from workbench.gui.deploy.variants_view import VariantsView
from workbench.gui.widgets.config_form import ConfigForm
from workbench.gui.widgets.panel import ChangesListener
from workbench.gui.widgets.workers import JobHandle, run_in_child

if TYPE_CHECKING:
    from workbench.core.deploy.onnx_export import ExportReport
    from workbench.core.store.project import Project

__all__ = ["DeployPanel", "format_figures", "run_title"]

log = logging.getLogger(__name__)

NO_RUNS = "Train a model first: this project has no trained model yet."
CARD_PLACEHOLDER = (
    "Nothing exported for this run yet. Press Export: the run is converted to ONNX, checked "
    "against the trained model, optionally quantized to int8 and written as a bundle. The "
    "verification figures (agreement, macro-F1, latency, size) and the bundle's model card "
    "then appear here."
)


def run_title(run: dict[str, Any]) -> str:
    """'Run 1 · 2026-11-28 14:39 · tiny · macro-F1 0.033' (local time)."""
    parts = [f"Run {run['run_id']}"]
    created = run.get("created_at")
    if created:
        try:
            parts.append(_dt.datetime.fromisoformat(str(created)).astimezone().strftime("%Y-%m-%d %H:%M"))
        except ValueError:
            parts.append(str(created))
    parts.append(describe_base_model(run.get("base_model")))
    if isinstance(run.get("macro_f1"), (int, float)):
        parts.append(f"macro-F1 {run['macro_f1']:.3f}")
    text = " · ".join(parts)
    if run.get("status") not in (None, "completed"):
        text += f" ({run['status']})"
    return text


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def format_figures(report: ExportReport) -> str:
    """The verification figures as short HTML (warnings in red)."""
    r = report
    lines = [
        f"<b>Exported run {r.run_id}</b> to {html.escape(str(r.bundle_dir))}",
        f"ONNX fp32 vs PyTorch: largest logit difference {r.parity_max_abs_diff:.1e} over "
        f"{r.parity_texts} texts (tolerance {r.parity_tolerance:.0e}) - <b>passed</b>",
    ]
    if r.quantized:
        lines.append(f"int8 vs fp32: {_pct(r.agreement)} same predictions on {r.agreement_texts} "
                     f"{'test' if r.test_texts else 'sample'} texts")
    if r.test_texts:
        f1 = f"Macro-F1 on {r.test_texts} test texts: fp32 {_pct(r.f1_fp32)}"
        if r.quantized:
            f1 += f", int8 {_pct(r.f1_int8)} (drop {r.f1_drop_points:.2f} percentage points)"
        lines.append(f1)
    else:
        lines.append("No labelled test records: macro-F1 not measured.")
    if r.latency_ms:
        lines.append("Latency, one text (median): " + ", ".join(
            f"{k} {v['p50']:.1f} ms" for k, v in r.latency_ms.items()))
    if r.sizes_bytes:
        lines.append("Size: " + ", ".join(f"{k} {v / 2**20:.1f} MB" for k, v in r.sizes_bytes.items()))
    for warning in r.warnings:
        lines.append(f"<span style='color:#b00020'><b>Warning:</b> {html.escape(warning)}</span>")
    return "<br>".join(lines)


class _QuietLabel(QLabel):
    """A label that takes no room while it has nothing to say."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setHidden(not text)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt override
        super().setText(text)
        self.setHidden(not text)


class _CardView(QTextBrowser):
    """The model card; while empty it says, in grey and wrapped, what will appear."""

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        super().paintEvent(event)
        if not self.document().isEmpty():
            return
        painter = QPainter(self.viewport())
        painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
        margin = int(self.document().documentMargin()) + 2
        rect = self.viewport().rect().adjusted(margin, margin, -margin, -margin)
        painter.drawText(rect, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop
                                   | Qt.TextFlag.TextWordWrap), CARD_PLACEHOLDER)
        painter.end()


class DeployPanel(ChangesListener, QWidget):
    """Pick a run, export it with progress, read the verification figures and model card."""

    status_message = Signal(str)
    open_records = Signal(list)
    #: An export was written here: a Changes value.
    changed = Signal(object)
    #: Emitted with the ExportReport after a successful export.
    export_finished = Signal(object)
    #: Emitted when an export ends without a bundle: ("cancelled" | "failed", message).
    export_stopped = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project: Project | None = None
        self.report: ExportReport | None = None
        self.bundle_dir: Path | None = None
        self._job: JobHandle | None = None
        self._custom_out = False

        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.run_combo = QComboBox()
        self.run_combo.currentIndexChanged.connect(self._run_changed)
        form.addRow("Run", self.run_combo)
        out_row = QHBoxLayout()
        self.out_edit = QLineEdit()
        self.out_edit.textEdited.connect(self._out_edited)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._choose_out)
        out_row.addWidget(self.out_edit, 1)
        out_row.addWidget(browse)
        form.addRow("Bundle folder", out_row)
        layout.addLayout(form)
        # The export settings, generated from ExportOptions (the CLI's flags come from it too).
        self.options_form = ConfigForm(ExportOptions)
        layout.addWidget(self.options_form)

        buttons = QHBoxLayout()
        self.export_button = QPushButton("Export")
        self.export_button.clicked.connect(self.start_export)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_export)
        self.open_button = QPushButton("Open bundle folder")
        self.open_button.clicked.connect(self.open_bundle_folder)
        for button in (self.export_button, self.cancel_button, self.open_button):
            buttons.addWidget(button)
        # Only shown while an export runs; an idle "0%" bar says nothing.
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setVisible(False)
        buttons.addWidget(self.progress, 1)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.message_label = _QuietLabel("")
        self.message_label.setWordWrap(True)
        layout.addWidget(self.message_label)
        self.figures_label = _QuietLabel("")
        self.figures_label.setWordWrap(True)
        self.figures_label.setToolTip(
            "Logit difference: how far the exported model's scores are from the trained "
            "model's (tiny = the same model). Same predictions: how often the small int8 file "
            "answers like the full one. " + FIGURE_HELP["macro_f1"] + " Latency: time to "
            "classify one text on this computer.")
        layout.addWidget(self.figures_label)
        self.card_view = _CardView()
        self.card_view.setOpenExternalLinks(False)
        layout.addWidget(self.card_view, 1)
        # The variants of the chosen run (core/compress): a table, make/measure/export.
        self.variants = VariantsView()
        self.variants.changed.connect(self.changed)
        self.variants.status_message.connect(self.status_message)
        layout.addWidget(self.variants, 2)
        self._update_buttons()

    # ------------------------------------------------------------------ project
    def set_project(self, project: Project | None) -> None:
        """Show this project's completed runs (and its latest export's model card)."""
        self.project = project
        self.report = None
        self.bundle_dir = None
        self.figures_label.setText("")
        self.card_view.clear()
        self._custom_out = False
        self._pending_changes = None
        self.reload_runs()
        self._update_buttons()

    def _refresh_shown(self, changes: Changes) -> None:
        """Runs changed (a training run finished): reload them unless exporting."""
        if changes.runs and self._job is None:
            self.reload_runs()

    def reload_runs(self) -> None:
        """Reload the list of runs (after a training run finished)."""
        current = self.run_combo.currentData()
        self.run_combo.blockSignals(True)
        self.run_combo.clear()
        runs: list[dict[str, Any]] = []
        if self.project is not None:
            from workbench.core.deploy.project_data import list_exportable_runs

            runs = list_exportable_runs(self.project)
        for run in runs:
            self.run_combo.addItem(run_title(run), run["run_id"])
            if run.get("model_path"):
                self.run_combo.setItemData(self.run_combo.count() - 1, str(run["model_path"]),
                                           Qt.ToolTipRole)
        if current is not None:
            index = self.run_combo.findData(current)
            if index >= 0:
                self.run_combo.setCurrentIndex(index)
        self.run_combo.blockSignals(False)
        if self.project is not None and not runs:
            self.message_label.setText(NO_RUNS)
        elif self.message_label.text() == NO_RUNS:
            self.message_label.setText("")
        self._run_changed()

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        """Runs trained while the tab was hidden appear when it is shown."""
        super().showEvent(event)
        if self._job is None:
            self.reload_runs()

    def shutdown(self) -> None:
        """Cancel a running export and wait for its thread."""
        if self._job is not None:
            self._job.cancel()
            self._job.wait(30_000)
        self.variants.shutdown()

    # ------------------------------------------------------------------ controls
    def _run_changed(self, *_: Any) -> None:
        if not self._custom_out:
            run_id = self.run_combo.currentData()
            if self.project is not None and run_id is not None:
                from workbench.core.deploy.project_data import default_export_dir

                self.out_edit.setText(str(default_export_dir(self.project.path, run_id)))
            else:
                self.out_edit.setText("")
        if self._job is None:
            self._show_existing_export()
        self.variants.set_run(self.project, self.run_combo.currentData())
        self._update_buttons()

    def _show_existing_export(self) -> None:
        """Show the chosen run's bundle if it was already exported to its default folder."""
        run_id = self.run_combo.currentData()
        if self.report is not None and self.report.run_id == run_id:
            return  # this session's export of the run is on screen
        self.report = None
        self.bundle_dir = None
        self.figures_label.setText("")
        self.card_view.clear()
        if self.project is None or run_id is None:
            return
        from workbench.core.deploy.project_data import default_export_dir

        folder = default_export_dir(self.project.path, run_id)
        card = folder / "model_card.md"
        if (folder / "bundle.json").is_file() and card.is_file():
            self.bundle_dir = folder
            self.figures_label.setText(
                f"Run {run_id} was already exported to {html.escape(str(folder))}. "
                "Its model card is below; Export writes the bundle again.")
            self.card_view.setMarkdown(card.read_text(encoding="utf-8"))

    def _out_edited(self, _text: str) -> None:
        self._custom_out = True

    def _choose_out(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export the bundle into", self.out_edit.text())
        if folder:
            self.out_edit.setText(folder)
            self._custom_out = True

    def _update_buttons(self) -> None:
        busy = self._job is not None
        ready = self.project is not None and self.run_combo.currentData() is not None
        self.export_button.setEnabled(ready and not busy)
        self.cancel_button.setEnabled(busy)
        self.open_button.setEnabled(self.bundle_dir is not None and self.bundle_dir.is_dir())
        self.run_combo.setEnabled(not busy)

    # ------------------------------------------------------------------ export
    def start_export(self) -> None:
        """Export the chosen run in a child process."""
        if self.project is None or self._job is not None:
            return
        run_id = self.run_combo.currentData()
        if run_id is None:
            return
        from workbench.core.deploy.onnx_export import ExportConfig, export_job

        try:
            config = ExportConfig(**{
                **asdict(self.options_form.config()),
                "run": run_id, "out_dir": self.out_edit.text().strip() or None,
            })
            config.validate()
        except WorkbenchError as exc:
            self.message_label.setText(str(exc))
            return
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.message_label.setText("Starting the export…")
        self.figures_label.setText("")
        # A child process: the export is CPU-bound and runs native code (torch, ORT).
        self._job = run_in_child(
            self, export_job, str(self.project.path), config,
            on_progress=self._on_progress, on_done=self._on_done,
            on_failed=self._on_failed, on_cancelled=self._on_cancelled,
            name="export",
        )
        self._update_buttons()

    def cancel_export(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self.message_label.setText("Cancelling after the current step…")

    def _on_progress(self, event: Any) -> None:
        self.progress.setRange(0, event.total)
        self.progress.setValue(event.step - 1)
        self.message_label.setText(f"Step {event.step} of {event.total}: {event.message}…")

    def _finish(self) -> None:
        self._job = None
        self.progress.setRange(0, 1)
        self.progress.setVisible(False)
        self._update_buttons()

    def _on_done(self, report: ExportReport) -> None:
        self.report = report
        self.bundle_dir = Path(report.bundle_dir)
        self._finish()
        self.progress.setValue(1)
        self.message_label.setText("Export finished." + (
            f" Zip: {report.zip_path}" if report.zip_path else ""))
        self.figures_label.setText(format_figures(report))
        self.card_view.setMarkdown(report.model_card)
        self._update_buttons()
        text = f"Exported run {report.run_id} to {report.bundle_dir}"
        if report.warnings:
            text += " (with a warning: see the Deploy tab)"
        self.status_message.emit(text)
        self.export_finished.emit(report)
        self.changed.emit(Changes(runs=True))

    def _on_cancelled(self) -> None:
        self._finish()
        self.progress.setValue(0)
        self.message_label.setText("Export cancelled: nothing was written.")
        self.export_stopped.emit(("cancelled", ""))

    def _on_failed(self, exc: BaseException) -> None:
        self._finish()
        message = str(exc) if isinstance(exc, WorkbenchError) else f"{type(exc).__name__}: {exc}"
        self.message_label.setText(f"<span style='color:#b00020'>Export failed: {html.escape(message)}</span>")
        self.status_message.emit(f"Export failed: {message}")
        self.export_stopped.emit(("failed", message))

    def open_bundle_folder(self) -> None:
        """Show the bundle folder in the system's file manager."""
        if self.bundle_dir is None:
            return
        if QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.bundle_dir))):
            self.status_message.emit(f"Opened {self.bundle_dir} in the file manager")
            return
        from PySide6.QtWidgets import QApplication

        QApplication.clipboard().setText(str(self.bundle_dir))
        text = f"No file manager could be started. The bundle is in {self.bundle_dir} (path copied)."
        self.message_label.setText(html.escape(text))
        self.status_message.emit(text)
