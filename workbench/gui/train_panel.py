"""The Train panel: choose a base model and settings, train in the background, read results.

Training runs :func:`workbench.core.training.train_project` in a worker thread (see
:mod:`workbench.gui.workers`); the trainer opens its own project connection by path, so
labelling goes on undisturbed while a model trains.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from workbench.core.errors import WorkbenchError
from workbench.gui.train_charts import TrainingCurves
from workbench.gui.train_results import (
    ConfusionMatrixView,
    MetricsTable,
    PerLabelTable,
    RunHistoryTable,
    cell_records,
    format_duration,
)
from workbench.gui.workers import JobHandle, run_in_thread

if TYPE_CHECKING:
    from workbench.core.project import Project
    from workbench.core.training import TrainConfig, TrainEvent, TrainResult

__all__ = ["TrainPanel", "preload_training_libraries", "train_job"]

log = logging.getLogger(__name__)

#: Forward trainer events to the GUI at most this often (seconds); see :func:`train_job`.
EVENT_BATCH_S = 0.1

_BASE_KINDS = [
    ("bundled", "Bundled MiniLM (built in, works offline)"),
    ("folder", "Model folder on this computer"),
    ("hub", "Hugging Face Hub model id"),
]
_PHASE_TEXT = {
    "prepare": "Preparing the data and loading the model…",
    "train": "Training…",
    "evaluate": "Measuring on the validation split…",
    "save": "Saving the model…",
    "done": "Finishing…",
}
#: Spin box text shown for the value 0 of these settings.
_ZERO_MEANS = {
    "epochs": "Automatic",
    "learning_rate": "Automatic",
    "threads": "Automatic",
    "max_steps": "No limit",
    "early_stopping_patience": "Never stop early",
}
_RANGES: dict[str, tuple[float, float]] = {
    "batch_size": (1, 4096),
    "max_length": (8, 8192),
    "epochs": (0, 1000),
    "threads": (0, 256),
    "early_stopping_patience": (0, 1000),
    "seed": (0, 2**31 - 1),
    "max_steps": (0, 10**9),
    "learning_rate": (0.0, 1.0),
}
_TITLES = {
    "max_length": "Max length (tokens)",
    "learning_rate": "Learning rate",
    "early_stopping_patience": "Early-stopping patience",
    "reshuffle_split": "Draw a new train/validation/test split",
    "max_steps": "Max steps",
}


def preload_training_libraries() -> None:
    """Import torch and transformers now (call at start-up, behind a loading state).

    Importing them later inside the training thread holds the interpreter lock long
    enough to freeze the window for a few hundred milliseconds.
    """
    import torch  # noqa: F401
    import transformers  # noqa: F401

    import workbench.core.training.loop  # noqa: F401


def train_job(
    project_path: str,
    config: TrainConfig,
    *,
    progress: Callable[[list[TrainEvent]], None],
    should_stop: Callable[[], bool],
) -> TrainResult:
    """Run the trainer, forwarding its events in batches (worker thread).

    Every loss point reaches the charts, yet the GUI receives at most about ten
    batches a second however fast the steps are.
    """
    from workbench.core.training import train_project

    pending: list[TrainEvent] = []
    last = 0.0

    def collect(event: TrainEvent) -> None:
        nonlocal last
        pending.append(event)
        now = time.monotonic()
        if now - last >= EVENT_BATCH_S or event.phase != "train" or event.val_metrics:
            last = now
            progress(pending.copy())
            pending.clear()

    try:
        return train_project(project_path, config, progress=collect, should_stop=should_stop)
    finally:
        if pending:
            progress(pending.copy())


class _Collapsible(QWidget):
    """A titled section that can be folded away (folded at first)."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.toggle = QToolButton(text=title, checkable=True, checked=False)
        self.toggle.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        self.toggle.setArrowType(Qt.RightArrow)
        self.toggle.setStyleSheet("QToolButton { border: none; font-weight: bold; }")
        self.toggle.toggled.connect(self._on_toggled)
        self.body = QWidget()
        self.body.setVisible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.toggle)
        layout.addWidget(self.body)

    def _on_toggled(self, on: bool) -> None:
        self.toggle.setArrowType(Qt.DownArrow if on else Qt.RightArrow)
        self.body.setVisible(on)


class TrainPanel(QWidget):
    """Form, live progress and results of training runs for the open project."""

    status_message = Signal(str)
    open_records = Signal(list)
    #: Emitted in the GUI thread when a run has ended: the TrainResult, or None on failure.
    run_finished = Signal(object)
    #: Emitted in the GUI thread with the latest TrainEvent (at most ~10 times a second).
    progress_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from workbench.core.training import TrainConfig

        self._project: Project | None = None
        self._job: JobHandle | None = None
        self._job_path: str | None = None
        self._run_started = 0.0
        self._last_result: TrainResult | None = None
        self._fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
        self._defaults = TrainConfig()
        self._inputs: dict[str, QWidget] = {}

        splitter = QSplitter(Qt.Horizontal, self)
        splitter.addWidget(self._build_form())
        splitter.addWidget(self._build_right())
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([380, 820])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(splitter)
        self._set_running(False)
        self.set_project(None)

    # ================================================================ building
    def _build_form(self) -> QWidget:
        form_widget = QWidget()
        column = QVBoxLayout(form_widget)

        model_box = QGroupBox("Base model")
        model_layout = QVBoxLayout(model_box)
        self.base_kind = QComboBox()
        for key, text in _BASE_KINDS:
            self.base_kind.addItem(text, key)
        self.base_value = QLineEdit()
        self.browse_button = QPushButton("Browse…")
        self.browse_button.clicked.connect(self._browse_model_folder)
        row = QHBoxLayout()
        row.addWidget(self.base_value, 1)
        row.addWidget(self.browse_button)
        model_layout.addWidget(self.base_kind)
        model_layout.addLayout(row)
        help_text = self._fields["base_model"].metadata.get("help", "")
        for widget in (self.base_kind, self.base_value):
            widget.setToolTip(help_text)
            widget.setWhatsThis(help_text)
        self.base_kind.currentIndexChanged.connect(self._on_base_kind_changed)
        self._on_base_kind_changed()
        column.addWidget(model_box)

        settings_box = QGroupBox("Training settings")
        basic = QFormLayout(settings_box)
        self.advanced = _Collapsible("Advanced settings")
        advanced_form = QFormLayout(self.advanced.body)
        advanced_form.setContentsMargins(12, 0, 0, 0)
        for name, f in self._fields.items():
            if name in ("base_model", "reshuffle_split"):
                continue
            widget = self._make_input(name, f)
            if widget is None:
                continue
            label = QLabel(_TITLES.get(name, name.replace("_", " ").capitalize()))
            help_text = str(f.metadata.get("help", ""))
            for w in (label, widget):
                w.setToolTip(help_text)
                w.setWhatsThis(help_text)
            target = advanced_form if f.metadata.get("advanced") else basic
            target.addRow(label, widget)
        basic.addRow(self.advanced)
        self.reset_button = QPushButton("Restore defaults")
        self.reset_button.setToolTip("Put every setting back to its recommended value.")
        self.reset_button.clicked.connect(self.reset_settings)
        advanced_form.addRow(self.reset_button)
        column.addWidget(settings_box)

        data_box = QGroupBox("Training data")
        data_layout = QVBoxLayout(data_box)
        self.data_text = QLabel()
        self.data_text.setWordWrap(True)
        self.data_text.setTextFormat(Qt.RichText)
        self.data_warnings = QLabel()
        self.data_warnings.setWordWrap(True)
        self.data_warnings.setTextFormat(Qt.RichText)
        self.data_warnings.setStyleSheet(
            "QLabel { background: #fff4e5; color: #663c00; border: 1px solid #f0c36d;"
            " border-radius: 4px; padding: 6px; }"
        )
        self.reshuffle = QCheckBox(_TITLES["reshuffle_split"])
        reshuffle_help = str(self._fields["reshuffle_split"].metadata.get("help", ""))
        self.reshuffle.setToolTip(reshuffle_help)
        self.reshuffle.setWhatsThis(reshuffle_help)
        self._inputs["reshuffle_split"] = self.reshuffle
        self.reshuffle.toggled.connect(self._update_data_summary)
        data_layout.addWidget(self.data_text)
        data_layout.addWidget(self.data_warnings)
        data_layout.addWidget(self.reshuffle)
        column.addWidget(data_box)

        column.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(form_widget)
        scroll.setMinimumWidth(360)
        scroll.setFrameShape(QFrame.NoFrame)

        # Start, Cancel and progress stay in view however long the form is.
        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start training")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop after the current step; the best model so far is kept.")
        self.cancel_button.clicked.connect(self.cancel)
        buttons.addWidget(self.start_button, 1)
        buttons.addWidget(self.cancel_button)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setFormat("Not running")
        self.progress_text = QLabel(" ")
        self.progress_text.setWordWrap(True)
        self.error_banner = QLabel()
        self.error_banner.setWordWrap(True)
        self.error_banner.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.error_banner.setStyleSheet(
            "QLabel { background: #fdecea; color: #611a15; border: 1px solid #f5a9a3;"
            " border-radius: 4px; padding: 6px; }"
        )
        self.error_banner.setVisible(False)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(scroll, 1)
        left_layout.addLayout(buttons)
        left_layout.addWidget(self.progress)
        left_layout.addWidget(self.progress_text)
        left_layout.addWidget(self.error_banner)
        return left

    def _make_input(self, name: str, f: dataclasses.Field) -> QWidget | None:
        default = getattr(self._defaults, name)
        choices = f.metadata.get("choices")
        widget: QWidget
        if choices:
            widget = QComboBox()
            for choice in choices:
                widget.addItem(str(choice), choice)
        elif isinstance(default, bool):
            widget = QCheckBox()
        elif isinstance(default, int):
            widget = QSpinBox()
            low, high = _RANGES.get(name, (0, 10**6))
            widget.setRange(int(low), int(high))
        elif isinstance(default, float):
            widget = QDoubleSpinBox()
            if name == "learning_rate":
                widget.setDecimals(6)
                widget.setSingleStep(1e-5)
            else:
                widget.setDecimals(3)
                widget.setSingleStep(0.01)
            low, high = _RANGES.get(name, (0.0, 1.0))
            widget.setRange(low, high)
        elif isinstance(default, str):
            widget = QLineEdit()
        else:
            return None
        if name in _ZERO_MEANS and isinstance(widget, (QSpinBox, QDoubleSpinBox)):
            widget.setSpecialValueText(_ZERO_MEANS[name])
        self._inputs[name] = widget
        self._set_input(name, default)
        return widget

    def _build_right(self) -> QWidget:
        self.tabs = QTabWidget()

        self.curves = TrainingCurves()
        progress_page = QWidget()
        progress_layout = QVBoxLayout(progress_page)
        self.curves_caption = QLabel(
            "Loss should fall and validation macro-F1 rise; the best checkpoint is kept."
        )
        self.curves_caption.setStyleSheet("color: #555555;")
        progress_layout.addWidget(self.curves, 1)
        progress_layout.addWidget(self.curves_caption)
        self.tabs.addTab(progress_page, "Progress")

        results_page = QWidget()
        results_layout = QVBoxLayout(results_page)
        history_caption = QLabel(
            "<b>Run history</b> — select a run to see its results; Ctrl+click a second run to "
            "compare the two side by side."
        )
        self.history = RunHistoryTable()
        self.history.setMinimumHeight(110)
        self.history.selection_changed.connect(self._show_selected_runs)
        self.metrics_table = MetricsTable()
        self.per_label = PerLabelTable()
        self.confusion = ConfusionMatrixView()
        self.confusion.open_records.connect(self.open_records)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(_titled("Confusion matrix (test split)", self.confusion))
        right_layout.addWidget(_titled("Per label (test split)", self.per_label), 1)
        lower = QSplitter(Qt.Horizontal)
        lower.addWidget(_titled("Metrics", self.metrics_table))
        lower.addWidget(right)
        lower.setSizes([380, 480])
        outer = QSplitter(Qt.Vertical)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(history_caption)
        top_layout.addWidget(self.history)
        outer.addWidget(top)
        outer.addWidget(lower)
        outer.setSizes([150, 600])
        results_layout.addWidget(outer)
        self.tabs.addTab(results_page, "Results")
        return self.tabs

    # ================================================================ public API
    def set_project(self, project: Project | None) -> None:
        """Show ``project`` (the GUI thread's shared connection), or nothing."""
        self._project = project
        self.refresh()
        self._load_runs()
        self._set_running(self.is_running())

    def refresh(self) -> None:
        """Update the data summary (labels changed elsewhere)."""
        self._update_data_summary()

    def shutdown(self) -> None:
        """Cancel a running job and wait for its thread to end (on quit)."""
        job = self._job
        if job is not None:
            job.silence()
            job.cancel()
            job.wait(60_000)
        self._job = None

    def is_running(self) -> bool:
        return self._job is not None

    def config(self) -> TrainConfig:
        """The settings in the form as a :class:`TrainConfig` (raises WorkbenchError if bad)."""
        from workbench.core.training import TrainConfig

        values: dict[str, Any] = {"base_model": self.base_model()}
        for name, widget in self._inputs.items():
            values[name] = self._get_input(name, widget)
        return TrainConfig(**values)

    def base_model(self) -> str:
        """The base model setting: 'bundled', a folder path or a Hub id."""
        kind = self.base_kind.currentData()
        if kind == "bundled":
            return "bundled"
        text = self.base_value.text().strip()
        if not text:
            raise WorkbenchError(
                "Choose a model folder first." if kind == "folder" else "Type a Hugging Face model id first."
            )
        return os.path.expanduser(text) if kind == "folder" else text

    def set_base_model(self, value: str) -> None:
        """Select a base model: 'bundled', an existing folder, or otherwise a Hub id."""
        if value == "bundled":
            self.base_kind.setCurrentIndex(0)
            return
        kind = "folder" if os.path.isdir(os.path.expanduser(value)) else "hub"
        self.base_kind.setCurrentIndex(self.base_kind.findData(kind))
        self.base_value.setText(value)

    def set_setting(self, name: str, value: Any) -> None:
        """Put a value into the form (as if typed)."""
        self._set_input(name, value)

    def reset_settings(self) -> None:
        for name in self._inputs:
            self._set_input(name, getattr(self._defaults, name))

    # ================================================================ running
    def start(self) -> None:
        """Start a training run with the form's settings (does nothing while one runs)."""
        if self._job is not None or self._project is None:
            return
        self._show_error("")
        try:
            config = self.config()
        except WorkbenchError as exc:
            self._show_error(str(exc))
            return
        self._job_path = str(self._project.path)
        self._run_started = time.monotonic()
        self._last_result = None
        self.curves.clear()
        self.curves.start_live()
        self.progress.setRange(0, 0)  # busy until the first step reports a total
        self.progress.setFormat("%p%")
        self.progress_text.setText("Starting…")
        self.tabs.setCurrentIndex(0)
        self._job = run_in_thread(
            self,
            train_job,
            self._job_path,
            config,
            on_progress=self._on_events,
            on_done=self._on_done,
            on_failed=self._on_failed,
            on_cancelled=self._on_cancelled,
            throttle_ms=0,  # train_job already batches events
            name="train",
        )
        self._set_running(True)
        self.status_message.emit("Training started.")

    def cancel(self) -> None:
        """Ask the running job to stop after its current step."""
        if self._job is None:
            return
        self._job.cancel()
        self.cancel_button.setEnabled(False)
        self.cancel_button.setText("Cancelling…")
        self.progress_text.setText("Cancelling after the current step…")

    def _on_events(self, events: list[TrainEvent]) -> None:
        for event in events:
            if event.loss is not None and event.phase == "train":
                self.curves.add_loss(event.step, event.loss)
            if (
                event.phase == "evaluate"
                and event.val_metrics
                and event.val_metrics.get("macro_f1") is not None
            ):
                self.curves.add_validation(event.step, event.val_metrics["macro_f1"])
        if events:
            self._show_progress(events[-1])
            self.progress_changed.emit(events[-1])

    def _show_progress(self, event: TrainEvent) -> None:
        if event.total_steps > 0:
            self.progress.setRange(0, event.total_steps)
            self.progress.setValue(min(event.step, event.total_steps))
            self.progress.setFormat(f"%p%  (step {event.step} of {event.total_steps})")
        parts = [event.message or _PHASE_TEXT.get(event.phase, event.phase)]
        if event.phase == "train":
            details = [f"epoch {event.epoch:.1f}"]
            if event.samples_per_s:
                details.append(f"{event.samples_per_s:.1f} texts/s")
            if event.eta_s is not None:
                details.append(f"about {format_duration(event.eta_s)} left")
            parts.append(" · ".join(details))
        if self._job is not None and self._job.stop_event.is_set():
            parts = ["Cancelling after the current step…"]
        self.progress_text.setText("\n".join(p for p in parts if p))

    def _on_done(self, result: TrainResult) -> None:
        self._finish()
        self._last_result = result
        elapsed = format_duration(time.monotonic() - self._run_started)
        if result.status == "completed":
            f1 = (result.metrics or {}).get("macro_f1")
            score = f", test macro-F1 {f1:.3f}" if isinstance(f1, (int, float)) else ""
            message = f"Run #{result.run_id} finished in {elapsed}{score}."
            self.progress.setValue(self.progress.maximum())
            self.progress.setFormat("Finished")
        elif result.status == "cancelled" and result.model_path is not None:
            message = f"Run #{result.run_id} cancelled; the best model so far was kept."
        elif result.status == "cancelled":
            message = f"Run #{result.run_id} cancelled before a model could be saved."
        else:
            message = f"Run #{result.run_id} failed."
            self._show_error(result.error or "Training failed; see the log for details.")
        self.progress_text.setText(message)
        self.status_message.emit(message)
        self._after_run(result.run_id)
        self.run_finished.emit(result)

    def _on_failed(self, exc: BaseException) -> None:
        self._finish()
        if isinstance(exc, WorkbenchError):
            text = str(exc)
        else:
            text = f"Training stopped because of an unexpected error: {exc.__class__.__name__}: {exc}"
        self._show_error(text)
        self.progress_text.setText("Training did not finish.")
        self.status_message.emit(f"Training failed: {text}")
        self._after_run(None)
        self.run_finished.emit(None)

    def _on_cancelled(self) -> None:
        self._finish()
        self.progress_text.setText("Training cancelled.")
        self.status_message.emit("Training cancelled.")
        self._after_run(None)
        self.run_finished.emit(None)

    def _finish(self) -> None:
        self._job = None
        self.curves.stop_live()
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.progress.setFormat("Not running")
        self._set_running(False)

    def _after_run(self, run_id: int | None) -> None:
        if self._project is None or str(self._project.path) != self._job_path:
            return  # another project was opened meanwhile
        self._load_runs(select=[run_id] if run_id is not None else None)
        if run_id is not None and self.history.selected_run_ids():
            self.tabs.setCurrentIndex(1)
        self._update_data_summary()

    def _set_running(self, running: bool) -> None:
        has_project = self._project is not None
        self.start_button.setEnabled(has_project and not running)
        self.cancel_button.setEnabled(running)
        self.cancel_button.setText("Cancel")
        for widget in [self.base_kind, self.base_value, *self._inputs.values(), self.reset_button]:
            widget.setEnabled(not running)
        self.browse_button.setEnabled(not running and self.base_kind.currentData() == "folder")

    def _show_error(self, text: str) -> None:
        self.error_banner.setText(text)
        self.error_banner.setVisible(bool(text))

    # ================================================================ data and results
    def _update_data_summary(self) -> None:
        if self._project is None:
            self.data_text.setText("Open a project to train a model.")
            self.data_warnings.setVisible(False)
            return
        from workbench.core.training import data_summary

        try:
            config = self.config()
        except WorkbenchError:
            config = None  # an unfinished form: show the stored split
        try:
            summary = data_summary(self._project, config)
        except Exception as exc:  # noqa: BLE001 - the form must stay usable
            log.exception("Data summary failed")
            self.data_text.setText(f"The data summary is not available: {exc}")
            self.data_warnings.setVisible(False)
            return
        self.data_text.setText(_summary_html(summary))
        warnings = list(summary.warnings)
        self.data_warnings.setText("<br>".join(f"⚠ {_escape(w)}" for w in warnings))
        self.data_warnings.setVisible(bool(warnings))

    def _load_runs(self, select: list[int] | None = None) -> None:
        runs: list[dict[str, Any]] = []
        if self._project is not None:
            from workbench.core.training import list_runs

            try:
                runs = list_runs(self._project)
            except Exception:  # noqa: BLE001 - an unreadable history must not break the panel
                log.exception("Cannot list runs")
        self.history.set_runs(runs, select=select)
        if not runs:
            self._show_selected_runs([])

    def _show_selected_runs(self, run_ids: list[int]) -> None:
        by_id = {run["id"]: run for run in self.history.runs()}
        runs = [by_id[i] for i in run_ids if i in by_id]
        self.metrics_table.show_runs(runs)
        self.per_label.show_runs(runs)
        if not runs or self._project is None:
            self.confusion.show_matrix([], None, {})
            return
        run = runs[0]
        metrics = run.get("metrics") or {}
        labels = list(metrics.get("labels") or self._project.label_names())
        try:
            cells = cell_records(self._project, int(run["id"]))
        except Exception:  # noqa: BLE001
            log.exception("Cannot read the predictions of run %s", run["id"])
            cells = {}
        multi = self._project.multi_label
        stored = metrics.get("confusion_matrix")
        if multi and stored:
            # Per label [[tn, fp], [fn, tp]] -> correct, missed, false alarm.
            stored = [[m[1][1], m[1][0], m[0][1]] for m in stored]
        self.confusion.show_matrix(
            labels if (cells or stored) else [], stored, cells, multi_label=multi
        )

    # ================================================================ form helpers
    def _on_base_kind_changed(self) -> None:
        kind = self.base_kind.currentData()
        self.base_value.setVisible(kind != "bundled")
        self.browse_button.setVisible(kind == "folder")
        self.browse_button.setEnabled(kind == "folder" and not self.is_running())
        self.base_value.setPlaceholderText(
            "Folder with config.json, weights and tokenizer"
            if kind == "folder"
            else "e.g. distilbert-base-multilingual-cased"
        )

    def _browse_model_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a Hugging Face model folder")
        if folder:
            self.base_value.setText(folder)

    def _set_input(self, name: str, value: Any) -> None:
        widget = self._inputs[name]
        if isinstance(widget, QComboBox):
            index = widget.findData(value)
            widget.setCurrentIndex(max(0, index))
        elif isinstance(widget, QCheckBox):
            widget.setChecked(bool(value))
        elif isinstance(widget, QSpinBox):
            widget.setValue(int(value))
        elif isinstance(widget, QDoubleSpinBox):
            widget.setValue(float(value))
        elif isinstance(widget, QLineEdit):
            widget.setText(str(value))

    @staticmethod
    def _get_input(name: str, widget: QWidget) -> Any:
        if isinstance(widget, QComboBox):
            return widget.currentData()
        if isinstance(widget, QCheckBox):
            return widget.isChecked()
        if isinstance(widget, (QSpinBox, QDoubleSpinBox)):
            return widget.value()
        if isinstance(widget, QLineEdit):
            return widget.text()
        raise TypeError(name)


def _titled(title: str, widget: QWidget) -> QWidget:
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 4, 0, 0)
    caption = QLabel(f"<b>{title}</b>")
    layout.addWidget(caption)
    layout.addWidget(widget)
    return box


def _escape(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _summary_html(summary: Any) -> str:
    """Counts per label and split as a small HTML table."""
    splits = summary.splits or {}
    head = f"<b>{summary.n_labelled}</b> labelled records"
    split_text = " · ".join(
        f"{name} {splits.get(name, 0)}" for name in ("train", "validation", "test", "unassigned")
        if name in splits
    )
    if split_text:
        head += f"<br><span style='color:#555'>{split_text}</span>"
    if summary.ties:
        head += f"<br>{summary.ties} records left out (annotators disagree, no majority)"
    labels = list(summary.labels or summary.by_label)
    if not labels:
        return head
    rows = "".join(
        f"<tr><td>{_escape(name)}</td><td align='right'>&nbsp;&nbsp;{summary.by_label.get(name, 0)}</td>"
        + (_split_cells(summary.split_by_label.get(name) or {}) if summary.split_by_label else "")
        + "</tr>"
        for name in labels
    )
    split_head = (
        "<th align='right'>&nbsp;&nbsp;train</th><th align='right'>&nbsp;&nbsp;val</th>"
        "<th align='right'>&nbsp;&nbsp;test</th>"
        if summary.split_by_label
        else ""
    )
    return (
        f"{head}<table style='margin-top:6px' cellspacing='0' cellpadding='1'>"
        f"<tr><th align='left'>label</th><th align='right'>&nbsp;&nbsp;records</th>{split_head}</tr>"
        f"{rows}</table>"
    )


def _split_cells(counts: dict[str, int]) -> str:
    return "".join(
        f"<td align='right'>&nbsp;&nbsp;{counts.get(s, 0)}</td>" for s in ("train", "validation", "test")
    )

