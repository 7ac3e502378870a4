"""The variants table of the Deploy tab: the run's fp32/int8 forms and every student,
pruned or trimmed model derived from it, with size, batch-1 latency, batch-32
throughput, macro-F1 and agreement with the teacher measured at export.

Making a variant (distil, prune, trim the vocabulary), measuring and exporting run as
child-process jobs with progress and cancel; a cancelled job leaves nothing behind.
"""
from __future__ import annotations

import html
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.core.compress.distill import DistillConfig
from workbench.core.compress.prune import PruneConfig
from workbench.core.compress.trim import TrimConfig
from workbench.core.errors import WorkbenchError
from workbench.core.store.changes import Changes
from workbench.gui.widgets.config_form import Collapsible, ConfigForm
from workbench.gui.widgets.workers import JobHandle, run_in_child

if TYPE_CHECKING:
    from workbench.core.store.project import Project

__all__ = ["VariantsView", "COLUMNS"]

COLUMNS = ["Variant", "Run", "From run", "Size MB", "Bundle MB", "Batch-1 p50 ms", "Batch-32 texts/s",
           "Macro-F1", "Agreement", "int8"]
#: (title, config class, job) of the ways to make a smaller model.
METHODS = [
    ("Distil a student", DistillConfig, "distill"),
    ("Prune heads and neurons", PruneConfig, "prune"),
    ("Trim the vocabulary", TrimConfig, "trim"),
]


def _f1(row: dict[str, Any]) -> float | None:
    """Macro-F1 of a classifier variant, entity F1 of a span (entity) variant."""
    return row["macro_f1"] if row.get("macro_f1") is not None else row.get("entity_f1")


def _jobs() -> dict[str, Any]:
    from workbench.core.compress.distill import distill_job
    from workbench.core.compress.prune import prune_job
    from workbench.core.compress.trim import trim_job

    return {"distill": distill_job, "prune": prune_job, "trim": trim_job}


def _fmt(value: Any, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "pct":
        return f"{100 * value:.1f}"
    return f"{value:.2f}" if kind == "f2" else f"{value:.0f}"


class VariantsView(QWidget):
    """Variants of the chosen run: the table, and buttons to make, measure and export."""

    #: A job added a run or wrote a bundle: a Changes value.
    changed = Signal(object)
    status_message = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project: Project | None = None
        self.run_id: int | None = None
        self.rows: list[dict[str, Any]] = []
        self._job: JobHandle | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("<b>Variants</b> – smaller and faster forms of this run, measured on the "
                                "project's test records when exported"))
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        for title, tip in (("Size MB", "The model file (model.onnx) alone."),
                           ("Bundle MB", "The whole bundle folder: model, tokenizer, explainer graph if any, "
                                         "runtime files - what you ship.")):
            self.table.horizontalHeaderItem(COLUMNS.index(title)).setToolTip(tip)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.setMinimumHeight(230)  # about eight variants without scrolling
        self.table.itemSelectionChanged.connect(self._update_buttons)
        layout.addWidget(self.table, 1)

        make = QHBoxLayout()
        self.method_combo = QComboBox()
        self.forms = QStackedWidget()
        for title, cls, _key in METHODS:
            self.method_combo.addItem(title)
            self.forms.addWidget(ConfigForm(cls, exclude=("run",)))
        self.method_combo.currentIndexChanged.connect(self.forms.setCurrentIndex)
        self.make_button = QPushButton("Make")
        self.make_button.clicked.connect(self.start_make)
        make.addWidget(self.method_combo)
        make.addWidget(self.make_button)
        # The chosen method's settings, folded away until wanted.
        self.settings = Collapsible("Settings of the chosen method")
        QVBoxLayout(self.settings.body).addWidget(self.forms)
        make.addStretch(1)
        layout.addLayout(make)
        layout.addWidget(self.settings)

        buttons = QHBoxLayout()
        self.export_button = QPushButton("Export selected variant")
        self.export_button.clicked.connect(self.start_export)
        self.measure_button = QPushButton("Measure all")
        self.measure_button.clicked.connect(self.start_measure)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        for w in (self.export_button, self.measure_button, self.cancel_button):
            buttons.addWidget(w)
        buttons.addWidget(self.progress, 1)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        layout.addWidget(self.message)
        self._update_buttons()

    # ------------------------------------------------------------------ data
    def set_run(self, project: Project | None, run_id: int | None) -> None:
        """Show the variants of ``run_id`` (none without a project or run)."""
        self.project, self.run_id = project, run_id
        self.reload()

    def reload(self) -> None:
        from workbench.core.compress.variants import list_variants, variant_rows

        self.rows = []
        if self.project is not None and self.run_id is not None:
            try:
                self.rows = variant_rows(list_variants(self.project, self.run_id))
            except WorkbenchError as exc:
                self.message.setText(str(exc))
        self.table.setRowCount(len(self.rows))
        spans = bool(self.project is not None and getattr(self.project, "is_spans", False))
        self.table.setHorizontalHeaderItem(COLUMNS.index("Macro-F1"),
                                           QTableWidgetItem("Entity F1" if spans else "Macro-F1"))
        for i, r in enumerate(self.rows):
            cells = [r["name"], str(r["run_id"]), "" if r["parent_run"] is None else str(r["parent_run"]),
                     _fmt(r["size_mb"], "f2"), _fmt(r.get("bundle_mb"), "f2"), _fmt(r["b1_p50_ms"], "f2"), _fmt(r["b32_texts_per_s"], "f0"),
                     _fmt(_f1(r), "pct"), _fmt(r["agreement"], "pct"), r["int8_method"] or ""]
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if j:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if r.get("bundle_dir"):
                    item.setToolTip(str(r["bundle_dir"]))
                self.table.setItem(i, j, item)
        self._update_buttons()

    def selected_variant(self) -> str | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return self.rows[rows[0].row()]["name"] if rows else None

    def _update_buttons(self) -> None:
        busy, ready = self._job is not None, self.project is not None and self.run_id is not None
        self.make_button.setEnabled(ready and not busy)
        self.measure_button.setEnabled(ready and not busy and bool(self.rows))
        self.export_button.setEnabled(ready and not busy and self.selected_variant() is not None)
        self.cancel_button.setEnabled(busy)
        self.method_combo.setEnabled(not busy)

    # ------------------------------------------------------------------ jobs
    def _start(self, job: Any, config: Any, what: str) -> None:
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.message.setText(f"{what}…")
        self._what = what
        self._job = run_in_child(self, job, str(self.project.path), config, on_progress=self._on_progress,
                                 on_done=self._on_done, on_failed=self._on_failed,
                                 on_cancelled=self._on_cancelled, name="variants")
        self._update_buttons()

    def start_make(self) -> None:
        """Distil, prune or trim the chosen run (the settings of the form below)."""
        if self.project is None or self.run_id is None or self._job is not None:
            return
        title, cls, key = METHODS[self.method_combo.currentIndex()]
        form = self.forms.widget(self.method_combo.currentIndex())
        try:
            config = cls(**{**asdict(form.config()), "run": self.run_id})
            config.validate()
        except WorkbenchError as exc:
            self.message.setText(str(exc))
            return
        self._start(_jobs()[key], config, f"{title} from run {self.run_id}")

    def start_export(self) -> None:
        """Export the selected variant as a measured bundle."""
        name = self.selected_variant()
        if self.project is None or self.run_id is None or name is None or self._job is not None:
            return
        from workbench.core.compress.variant_export import ExportVariantConfig, export_variant_job

        self._start(export_variant_job, ExportVariantConfig(run=self.run_id, variant=name),
                    f"Exporting and measuring {name}")

    def start_measure(self) -> None:
        """Export and measure every variant not measured yet."""
        if self.project is None or self.run_id is None or self._job is not None:
            return
        from workbench.core.compress.variant_export import (
            MeasureVariantsConfig,
            measure_variants_job,
        )

        self._start(measure_variants_job, MeasureVariantsConfig(run=self.run_id), "Measuring the variants")

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self.message.setText("Cancelling after the current step…")

    def shutdown(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self._job.wait(30_000)

    def _on_progress(self, event: Any) -> None:
        if event.total:
            self.progress.setRange(0, event.total)
            self.progress.setValue(min(event.done, event.total))
        if event.message:
            self.message.setText(f"{self._what}: {event.message}")

    def _finish(self) -> None:
        self._job = None
        self.progress.setVisible(False)
        self._update_buttons()

    def _on_done(self, result: Any) -> None:
        self._finish()
        if hasattr(result, "run_id") and hasattr(result, "method"):
            f1 = result.metrics.get("macro_f1")
            text = f"Run {result.run_id} made ({result.method} of run {result.parent_run})" + (
                f": test macro-F1 {100 * f1:.1f}" if f1 is not None else "")
        elif isinstance(result, dict) and "bundle_dir" in result:
            text = f"Exported {result['name']} to {result['bundle_dir']}"
            if result.get("int8_why"):
                text += f" (int8: {result['int8_why']})"
        else:
            text = "Every variant measured."
        self.message.setText(html.escape(text))
        self.status_message.emit(text)
        self.reload()
        self.changed.emit(Changes(runs=True))

    def _on_cancelled(self) -> None:
        self._finish()
        self.message.setText(f"{self._what}: cancelled, nothing was written.")

    def _on_failed(self, exc: BaseException) -> None:
        self._finish()
        message = str(exc) if isinstance(exc, WorkbenchError) else f"{type(exc).__name__}: {exc}"
        self.message.setText(f"<span style='color:#b00020'>{html.escape(self._what)} failed: "
                             f"{html.escape(message)}</span>")
