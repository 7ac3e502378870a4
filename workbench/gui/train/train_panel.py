"""The Train panel: choose a base model and settings, train in the background, read results.

Training runs :func:`workbench.core.training.train_job` in a child process (see
:func:`workbench.gui.widgets.workers.run_in_child`): the window never waits for the
interpreter lock, torch is never imported into it, and a crash in native code ends the run,
not the app. The trainer opens its own project connection by path, so labelling goes on
undisturbed while a model trains.
"""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from workbench.core.errors import Cancelled, WorkbenchError
from workbench.core.jobs import JobCrashed
from workbench.core.store.changes import Changes
from workbench.core.training.loop import train_job
from workbench.core.training.tracking import run_curve
from workbench.gui.train.federation_page import FederationPage
from workbench.gui.train.label_words_view import LabelWordsView
from workbench.gui.train.learning_curve_view import LearningCurveView
from workbench.gui.train.run_summary import finished_message
from workbench.gui.train.span_results import EntityResults
from workbench.gui.train.train_charts import TrainingCurves
from workbench.gui.train.train_form import TrainSettingsForm
from workbench.gui.train.train_results import (
    ConfusionMatrixView,
    EvaluationCaptions,
    MetricsTable,
    PerLabelTable,
    RunHistoryTable,
    cell_records,
    format_duration,
    results_layout,
)
from workbench.gui.widgets.panel import ChangesListener
from workbench.gui.widgets.workers import JobHandle, run_in_child, run_in_thread

if TYPE_CHECKING:
    from workbench.core.store.project import Project
    from workbench.core.training import TrainConfig, TrainEvent, TrainResult

__all__ = ["TrainPanel"]

log = logging.getLogger(__name__)

_PHASE_TEXT = {
    "prepare": "Preparing the data and loading the model…",
    "train": "Training…",
    "evaluate": "Measuring on the validation split…",
    "save": "Saving the model…",
    "done": "Finishing…",
}

class TrainPanel(ChangesListener, QWidget):
    """Form, live progress and results of training runs for the open project."""

    status_message = Signal(str)
    open_records = Signal(list)
    #: A run ended here (new run, its predictions): a Changes value.
    changed = Signal(object)
    #: Train in a child process (True) or in a worker thread of this process (False: the
    #: window then shares the interpreter lock with the trainer; kept for comparisons).
    in_process = True
    #: The job a run starts (a module-level function with the job signature).
    job = staticmethod(train_job)
    #: Emitted in the GUI thread when a run has ended: the TrainResult, or None on failure.
    run_finished = Signal(object)
    #: Emitted in the GUI thread with the latest TrainEvent (at most ~10 times a second).
    train_progress = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)

        self._project: Project | None = None
        self._job: JobHandle | None = None
        self._job_path: str | None = None
        self._run_started = 0.0

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
        self.form = TrainSettingsForm()
        self.form.split_settings_changed.connect(self._update_data_summary)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.form)
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

    def _build_right(self) -> QWidget:
        self.tabs = QTabWidget()

        self.curves = TrainingCurves()
        progress_page = QWidget()
        progress_layout = QVBoxLayout(progress_page)
        self.curves_caption = QLabel(
            "Start training to follow the run here: loss should fall and validation macro-F1 "
            "rise; the model with the best validation macro-F1 is kept."
        )
        self.curves_caption.setWordWrap(True)
        self.curves_caption.setStyleSheet("color: #555555;")
        progress_layout.addWidget(self.curves, 1)
        progress_layout.addWidget(self.curves_caption)
        self.tabs.addTab(progress_page, "Progress")

        self.history = RunHistoryTable()
        self.history.selection_changed.connect(self._show_selected_runs)
        self.metrics_table = MetricsTable()
        self.per_label = PerLabelTable()
        self.confusion = ConfusionMatrixView()
        self.confusion.open_records.connect(self.open_records)
        self.label_words = LabelWordsView()
        self.captions = EvaluationCaptions()
        results_page = results_layout(
            self.history, self.metrics_table, self.per_label, self.confusion, self.label_words,
            captions=self.captions,
        )
        self.tabs.addTab(results_page, "Results")
        self.entities = EntityResults()  # spans runs: per type and the wrong spans
        self.entities.open_records.connect(self.open_records)
        self.tabs.addTab(self.entities, "Entities")
        self.tabs.setTabVisible(2, False)
        self.learning = LearningCurveView()  # macro-F1 against labels, from the run history
        self.tabs.addTab(self.learning, "Learning curve")
        self.federation = FederationPage()  # federated training (core/federated)
        self.federation.training_source = self.config
        self.federation.run_added.connect(self._federation_run_added)
        self.tabs.addTab(self.federation, "Federation")
        return self.tabs

    def _federation_run_added(self) -> None:
        self._reload_runs()
        self.changed.emit(Changes(runs=True, predictions=True))

    # ================================================================ public API
    def set_project(self, project: Project | None) -> None:
        """Show ``project`` (the GUI thread's shared connection), or nothing."""
        self._project = project
        self._pending_changes = None
        self.tabs.setTabVisible(2, project is not None and project.is_spans)
        self.federation.set_project(str(project.path) if project is not None else None)
        self._update_data_summary()
        self._load_runs()
        self._set_running(self.is_running())
        if not self.is_running():  # earlier results are more useful than empty curves
            self.tabs.setCurrentIndex(1 if self.history.runs() else 0)

    def _refresh_shown(self, changes: Changes) -> None:
        """Labels changed (the data summary) or runs did (the history); waits while hidden."""
        if changes.touches("annotations", "records", "label_schema", "final_labels", "settings"):
            self._update_data_summary()
        if changes.runs:
            self._reload_runs()

    def shutdown(self) -> None:
        """Cancel a running job and wait for its thread to end (on quit)."""
        self.label_words.shutdown()
        job = self._job
        if job is not None:
            job.silence()
            job.cancel()  # the trainer stops after its step and saves the best model
            if not job.wait(120_000):
                log.warning("The training thread did not stop within two minutes")
        self._job = None

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)  # applies the changes made while hidden

    def is_running(self) -> bool:
        return self._job is not None

    def config(self) -> TrainConfig:
        """The form's settings as a :class:`TrainConfig` (raises WorkbenchError if bad)."""
        return self.form.config()

    def set_base_model(self, value: str) -> None:
        """Select a base model: 'bundled', an existing folder, or otherwise a Hub id."""
        self.form.set_base_model(value)

    def set_setting(self, name: str, value: Any) -> None:
        """Put a value into the form (as if typed)."""
        self.form.set_setting(name, value)

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
        self.curves.clear()
        self.curves.start_live()
        self.progress.setRange(0, 0)  # busy until the first step reports a total
        self.progress.setFormat("%p%")
        self.progress_text.setText("Starting…")
        self.tabs.setCurrentIndex(0)
        run = run_in_child if self.in_process else run_in_thread
        self._job = run(
            self,
            self.job,
            self._job_path,
            config,
            on_progress=self._on_event,
            on_done=self._on_done,
            on_failed=self._on_failed,
            on_cancelled=self._on_cancelled,
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

    def _on_event(self, event: TrainEvent) -> None:
        # Events come throttled per phase (core.jobs.Throttle): each short epoch's last
        # loss point still arrives before its evaluation.
        if event.loss is not None and event.phase == "train":
            self.curves.add_loss(event.step, event.loss)
        if (
            event.phase == "evaluate"
            and event.val_metrics
            and event.val_metrics.get("macro_f1") is not None
        ):
            self.curves.add_validation(event.step, event.val_metrics["macro_f1"])
        self._show_progress(event)
        self.train_progress.emit(event)

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
                left = f"about {format_duration(event.eta_s)} left"
                if event.eta_max_s is not None and event.eta_max_s > event.eta_s * 1.2 + 5:
                    left += (f" if it stops early (at most {format_duration(event.eta_max_s)}"
                             " if it keeps improving)")
                details.append(left)
            parts.append(" · ".join(details))
        if self._job is not None and self._job.stop_event.is_set():
            parts = ["Cancelling after the current step…"]
        self.progress_text.setText("\n".join(p for p in parts if p))

    def _on_done(self, result: TrainResult) -> None:
        self._finish()
        if result.status == "completed":
            message = finished_message(result, self._project)
            sentence = ((result.metrics or {}).get("method") or {}).get("sentence")
            if sentence:  # how the model was trained (the automatic choice, in one sentence)
                message += "\n" + sentence
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
        if isinstance(exc, JobCrashed):
            text = f"{exc} The window is unaffected; the run is marked as interrupted."
        elif isinstance(exc, WorkbenchError):
            text = str(exc)
        else:
            text = f"Training stopped because of an unexpected error: {exc.__class__.__name__}: {exc}"
        self._show_error(text)
        self.progress_text.setText("Training did not finish.")
        self.status_message.emit(f"Training failed: {text}")
        self._after_run(None)
        self.run_finished.emit(None)

    def _on_cancelled(self) -> None:
        error = self._job.error if self._job is not None else None
        result = error.result if isinstance(error, Cancelled) else None
        if result is not None:  # a run that was cancelled keeps its best model so far
            self._on_done(result)
            return
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
        if run_id is not None:
            self.changed.emit(Changes(runs=True, predictions=True))

    def _set_running(self, running: bool) -> None:
        has_project = self._project is not None
        self.start_button.setEnabled(has_project and not running)
        self.cancel_button.setEnabled(running)
        self.cancel_button.setText("Cancel")
        self.form.set_editable(not running)

    def _show_error(self, text: str) -> None:
        self.error_banner.setText(text)
        self.error_banner.setVisible(bool(text))

    # ================================================================ data and results
    def _update_data_summary(self) -> None:
        if self._project is None:
            self.form.show_summary(None, "Open a project to train a model.")
            return
        from workbench.core.training import data_summary

        try:
            config = self.form.config()
        except WorkbenchError:
            config = None  # an unfinished form: show the stored split
        try:
            self.form.show_summary(data_summary(self._project, config))
        except Exception as exc:  # noqa: BLE001 - the form must stay usable
            log.exception("Data summary failed")
            self.form.show_summary(None, f"The data summary is not available: {exc}")

    def _fetch_runs(self) -> list[dict[str, Any]]:
        if self._project is None:
            return []
        from workbench.core.training import list_runs

        try:
            return list_runs(self._project)
        except Exception:  # noqa: BLE001 - an unreadable history must not break the panel
            log.exception("Cannot list runs")
            return []

    def _load_runs(self, select: list[int] | None = None) -> None:
        runs = self._fetch_runs()
        self.learning.show_runs(runs)
        self.history.set_runs(runs, select=select)
        if not runs:
            self._show_selected_runs([])

    def _reload_runs(self) -> None:
        """Runs changed: reload them, keeping the selection."""
        runs = self._fetch_runs()
        self.learning.show_runs(runs)
        selected = self.history.selected_run_ids()
        self.history.set_runs(runs, select=selected or None)
        if not runs:
            self._show_selected_runs([])

    def _show_selected_runs(self, run_ids: list[int]) -> None:
        by_id = {run["id"]: run for run in self.history.runs()}
        runs = [by_id[i] for i in run_ids if i in by_id]
        if runs and self._job is None:  # an earlier run's stored curves (tracking.py)
            self.curves.show_curve(run_curve(runs[0]))
            self.curves_caption.setText(f"Curves of run #{runs[0]['id']} (select another run in Results).")
        self.entities.show_run(runs[0] if runs else None, self._project)
        self.metrics_table.show_runs(runs)
        self.per_label.show_runs(runs)
        self.label_words.show_run(self._project.path if self._project else None,
                                  runs[0] if runs else None)
        if not runs or self._project is None:
            self.captions.show(None)
            self.confusion.show_matrix([], None, {})
            return
        run = runs[0]
        metrics = run.get("metrics") or {}
        evaluation = self.captions.show(metrics)  # test split, validation or cross-validation
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
            labels if (cells or stored) else [], stored, cells, multi_label=multi, evaluation=evaluation
        )
