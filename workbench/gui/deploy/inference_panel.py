"""The Inference tab: try an exported bundle on typed text, classify whole files.

Typed text is classified on the GUI thread after a short pause in typing (one text takes
milliseconds with onnxruntime); files and the project's unlabelled records are classified
in a worker thread with progress and Cancel.
"""
from __future__ import annotations

import html
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from workbench.core.deploy.inference import confidence_word
from workbench.core.deploy.jobs import (
    PredictFileConfig,
    PredictUnlabelledConfig,
    predict_file_job,
    predict_unlabelled_job,
)
from workbench.core.errors import WorkbenchError
from workbench.core.jobs import ProgressEvent
from workbench.core.project_operations import PREDICTIONS_STORED
from workbench.core.store.changes import Changes
from workbench.gui.deploy.gradients_view import GradientsView
from workbench.gui.deploy.inference_files import InputFileChoice
from workbench.gui.deploy.inference_widgets import LabelBars
from workbench.gui.deploy.span_view import SpanResults, is_span_bundle
from workbench.gui.widgets.highlight import EXPLAIN_HELP, highlighted_html
from workbench.gui.widgets.panel import ChangesListener
from workbench.gui.widgets.workers import JobHandle, run_in_thread

if TYPE_CHECKING:
    from workbench.core.deploy.inference import Predictor
    from workbench.core.store.project import Project

__all__ = ["InferencePanel", "DEBOUNCE_MS"]

log = logging.getLogger(__name__)

#: Pause in typing before the text is classified.
DEBOUNCE_MS = 150


def _config_mtime(bundle: Path) -> float:
    try:
        return (bundle / "bundle.json").stat().st_mtime
    except OSError:
        return 0.0


class InferencePanel(InputFileChoice, ChangesListener, QWidget):
    """Open a bundle, classify typed text as you type, and classify files in the background."""

    status_message = Signal(str)
    open_records = Signal(list)
    #: Predictions were stored here: a Changes value.
    changed = Signal(object)
    #: Emitted after each typed-text prediction with the result dict.
    predicted = Signal(object)
    #: Emitted with the word weights once the typed text's explanation is shown.
    explained = Signal(object)
    #: Emitted when a batch job ends: ("done", rows) | ("cancelled", 0) | ("failed", message).
    batch_finished = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project: Project | None = None
        self.predictor: Predictor | None = None
        self.bundle_dir: Path | None = None
        self._opened_mtime = 0.0
        self._job: JobHandle | None = None
        self._job_kind = ""
        self.last_latency_ms: float | None = None
        self.last_explanation: list[dict[str, Any]] = []
        self._explain_job: JobHandle | None = None

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self.predict_now)

        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        self.bundle_label = QLabel("No model bundle open.")
        self.bundle_label.setWordWrap(True)
        self.open_button = QPushButton("Open bundle…")
        self.open_button.clicked.connect(self._choose_bundle)
        self.latest_button = QPushButton("Latest export")
        self.latest_button.setToolTip("Open the most recent export of this project")
        self.latest_button.clicked.connect(self.open_latest_export)
        top.addWidget(self.bundle_label, 1)
        top.addWidget(self.open_button)
        top.addWidget(self.latest_button)
        layout.addLayout(top)
        self.error_label = QLabel("")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b00020;")
        self.error_label.hide()
        layout.addWidget(self.error_label)

        try_box = QGroupBox("Try it")
        try_layout = QVBoxLayout(try_box)
        self.text_edit = QPlainTextEdit()
        self.text_edit.setPlaceholderText("Type or paste a text; the label probabilities update as you type.")
        self.text_edit.setMaximumHeight(120)
        self.text_edit.textChanged.connect(self._schedule)
        try_layout.addWidget(self.text_edit)
        self.result_label = QLabel("")
        try_layout.addWidget(self.result_label)
        self.explain_label = QLabel("")
        self.explain_label.setWordWrap(True)
        self.explain_label.setTextFormat(Qt.TextFormat.RichText)
        self.explain_label.setToolTip(EXPLAIN_HELP)
        try_layout.addWidget(self.explain_label)
        self.gradients = GradientsView()  # a second opinion from the run's PyTorch model
        self.text_edit.textChanged.connect(lambda: self.gradients.set_text(self.text_edit.toPlainText()))
        try_layout.addWidget(self.gradients)
        self.bars = LabelBars()
        try_layout.addWidget(self.bars)
        #: Spans bundles: colour key and table of the entities found.
        self.span_results = SpanResults()
        self.span_results.hide()
        try_layout.addWidget(self.span_results)
        self.latency_label = QLabel("")
        self.latency_label.setStyleSheet("color: gray;")
        try_layout.addWidget(self.latency_label)
        layout.addWidget(try_box)

        batch_box = QGroupBox("Classify a file")
        form = QFormLayout(batch_box)
        row = QHBoxLayout()
        self.input_edit = QLineEdit()
        self.input_edit.setPlaceholderText("CSV, TSV, JSONL or TXT (one text per line)")
        self.input_edit.editingFinished.connect(self.input_changed)
        browse_in = QPushButton("Browse…")
        browse_in.clicked.connect(self.choose_input)
        row.addWidget(self.input_edit, 1)
        row.addWidget(browse_in)
        form.addRow("Input file", row)
        self.column_combo = QComboBox()
        self.column_combo.setEnabled(False)
        self.column_combo.currentIndexChanged.connect(self.show_preview)
        form.addRow("Text column", self.column_combo)
        self.peeked_rows: list[dict[str, Any]] = []
        self.preview_label = QLabel("")
        self.preview_label.setTextFormat(Qt.TextFormat.RichText)
        self.preview_label.setStyleSheet("color: #555555;")
        form.addRow(self.preview_label)
        row = QHBoxLayout()
        self.output_edit = QLineEdit()
        self.output_edit.setPlaceholderText("new .csv or .jsonl file")
        browse_out = QPushButton("Browse…")
        browse_out.clicked.connect(self.choose_output)
        row.addWidget(self.output_edit, 1)
        row.addWidget(browse_out)
        form.addRow("Output file", row)
        buttons = QHBoxLayout()
        self.run_button = QPushButton("Classify file")
        self.run_button.clicked.connect(self.start_file_job)
        self.store_button = QPushButton("Predict unlabelled records")
        self.store_button.setToolTip(
            "Classify the project's unlabelled records and store the predictions with the "
            "model's run (used for model-assisted labelling)")
        self.store_button.clicked.connect(self.start_store_job)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_job)
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.store_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        form.addRow(buttons)
        self.review_spin = QSpinBox()
        self.review_spin.setRange(0, 100)
        self.review_spin.setValue(60)
        self.review_spin.setSuffix(" %")
        self.review_spin.setToolTip("Rows whose calibrated confidence is below this are marked "
                                    "needs_review = yes in the output (0: mark none).")
        form.addRow("Needs review below", self.review_spin)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(False)
        form.addRow(self.progress)
        self.batch_label = QLabel("")
        self.batch_label.setWordWrap(True)
        form.addRow(self.batch_label)
        layout.addWidget(batch_box)
        layout.addStretch(1)
        self._update_buttons()

    # ------------------------------------------------------------------ project
    def set_project(self, project: Project | None) -> None:
        """Use this project for "Latest export" and for storing predictions."""
        self.project = project
        self._update_buttons()
        self._show_kind()

    def _refresh_now(self, changes: Changes) -> None:
        self._update_buttons()
        if changes.runs:
            self.follow_latest_export()

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        """An export made while the tab was hidden is opened (or enables "Latest export")."""
        super().showEvent(event)
        self._update_buttons()
        self.follow_latest_export()

    def follow_latest_export(self) -> None:
        """Open the project's newest export when no bundle is open or the open one is an
        older export of this project (a bundle opened from elsewhere is kept)."""
        latest = self._latest_export()
        if latest is None or self._job is not None:
            return
        if self.bundle_dir is not None:
            current = self.bundle_dir.resolve()
            if current.parent != latest.parent.resolve():
                return  # opened from elsewhere: the user's choice
            if current == latest.resolve() and self._opened_mtime >= _config_mtime(latest):
                return
        self.open_bundle(latest)

    def shutdown(self) -> None:
        """Stop a running job and wait for its thread."""
        self._timer.stop()
        for job in (self._job, self._explain_job):
            if job is not None:
                job.cancel()
                job.wait(10_000)
        self.gradients.shutdown()

    def _latest_export(self) -> Path | None:
        if self.project is None:
            return None
        from workbench.core.deploy.project_data import latest_export

        return latest_export(self.project.path)

    def _update_buttons(self) -> None:
        busy = self._job is not None
        loaded = self.predictor is not None
        self.latest_button.setEnabled(not busy and self._latest_export() is not None)
        self.open_button.setEnabled(not busy)
        self.run_button.setEnabled(loaded and not busy)
        self.store_button.setEnabled(loaded and not busy and self.project is not None
                                     and self.predictor.config.get("run_id") is not None)
        self.cancel_button.setEnabled(busy)
        self.text_edit.setEnabled(loaded)

    # ------------------------------------------------------------------ bundle
    def _choose_bundle(self) -> None:
        start = str(self.bundle_dir or (self.project.models_dir if self.project else Path.home()))
        folder = QFileDialog.getExistingDirectory(self, "Open model bundle", start)
        if folder:
            self.open_bundle(folder)

    def open_latest_export(self) -> None:
        latest = self._latest_export()
        if latest is not None:
            self.open_bundle(latest)

    def open_bundle(self, folder: str | Path) -> bool:
        """Load a bundle; on a bad bundle show the reason and keep the previous one."""
        from workbench.core.deploy.inference import Predictor

        try:
            predictor = Predictor.load(folder)
        except WorkbenchError as exc:
            self.error_label.setText(str(exc))
            self.error_label.show()
            self.status_message.emit(f"Cannot open bundle: {exc}")
            return False
        self.predictor, self.bundle_dir = predictor, Path(folder)
        self._opened_mtime = _config_mtime(self.bundle_dir)
        self.error_label.hide()
        run = predictor.config.get("run_id")
        kind = "int8" if predictor.config.get("fp32_model_file") else "fp32"
        self.bundle_label.setText(
            f"{self.bundle_dir}  ({len(predictor.labels)} labels"
            + (f", run {run}" if run is not None else "") + f", {kind})")
        self.bars.set_labels(predictor.labels)
        self._show_kind()
        self._update_buttons()
        self.status_message.emit(f"Opened model bundle {self.bundle_dir.name}")
        if self.text_edit.toPlainText().strip():
            self.predict_now()
        return True

    # ------------------------------------------------------------------ typed text
    def _schedule(self) -> None:
        self._timer.start()

    def predict_now(self) -> None:
        """Classify the typed text now and show the probabilities and latency."""
        self._timer.stop()
        text = self.text_edit.toPlainText()
        if self.predictor is None:
            return
        if not text.strip():
            self.bars.clear()
            self.span_results.show_result(self.text_edit, None)
            self.result_label.setText("")
            self.explain_label.setText("")
            self.latency_label.setText("")
            return
        if self.span_mode:
            self._predict_spans(text)
            return
        start = time.perf_counter()
        try:
            probs = self.predictor.predict_proba([text])
        except WorkbenchError as exc:
            self.error_label.setText(str(exc))
            self.error_label.show()
            return
        self.last_latency_ms = (time.perf_counter() - start) * 1000.0
        result = self.predictor.decide(probs)[0]
        chosen = set(result["labels"]) if "labels" in result else {result["label"]}
        self.bars.show_probs(result["probs"], chosen)
        shown = ", ".join(sorted(chosen, key=self.predictor.labels.index)) or "(no label)"
        top = max((result["probs"][n] for n in chosen), default=0.0)
        words = confidence_word(top)
        self.result_label.setText(f"Prediction: <b>{html.escape(shown)}</b> ({words}, {top:.0%})")
        self.result_label.setToolTip("Confidence is calibrated: of the texts shown at about 80 %, "
                                     "about 8 in 10 are right. Below 60 % the model is unsure.")
        self.show_explanation(text)
        self.latency_label.setText(f"{self.last_latency_ms:.1f} ms")
        self.predicted.emit(result)

    def show_explanation(self, text: str) -> None:
        """Highlight the words that drove the prediction (each word left out, explain.py),
        computed in a worker thread. A bundle without an explainer graph needs one model
        call per word: long texts get no highlights there."""
        from workbench.core.deploy.explain import explain_job

        if len(text.split()) > 150 and not self.predictor.config.get("explainer_file"):
            self.explain_label.setText("<i>Word highlights are shown for texts up to 150 words.</i>")
            return
        self.explain_label.setText("<i>Weighing the words…</i>")
        self._explain_job = run_in_thread(self, explain_job, self.predictor, text,
                                          on_done=self._explained, name="explain")

    def _explained(self, answer: tuple[str, str, list[dict[str, Any]]]) -> None:
        text, label, spans = answer
        if text != self.text_edit.toPlainText():
            return  # the text changed meanwhile: its own explanation is on the way
        self.last_explanation = spans
        self.explain_label.setText(f"<i>Why {html.escape(label)}:</i> {highlighted_html(text, spans)}")
        self.explained.emit(spans)

    # ------------------------------------------------------------------ spans bundles
    @property
    def span_mode(self) -> bool:
        return self.predictor is not None and is_span_bundle(self.predictor)

    def _show_kind(self) -> None:
        spans = self.span_mode
        config = self.predictor.config if self.predictor is not None else {}
        self.gradients.set_run(self.project, config.get("run_id"), config.get("labels"), classification=not spans)
        self.bars.setVisible(not spans)
        self.span_results.setVisible(spans)
        if spans and self.predictor is not None:
            colors = {lab.name: lab.color for lab in self.project.labels()} if self.project else {}
            self.span_results.set_labels(self.predictor.labels, colors)

    def _predict_spans(self, text: str) -> None:
        """Find the entities of the typed text, highlight them and list them."""
        start = time.perf_counter()
        try:
            result = self.predictor.predict([text])[0]
        except WorkbenchError as exc:
            self.error_label.setText(str(exc))
            self.error_label.show()
            return
        self.last_latency_ms = (time.perf_counter() - start) * 1000.0
        self.span_results.show_result(self.text_edit, result)
        if result.get("spans") and len(text.split()) <= 150:  # the words behind each entity
            from workbench.core.deploy.span_explain import explain_spans_job

            self._explain_job = run_in_thread(self, explain_spans_job, self.predictor, text, name="explain",
                                              on_done=lambda a: self.span_results.show_explanations(*a))
        n = len(result.get("spans") or [])
        self.result_label.setText(f"Found <b>{n}</b> entit{'y' if n == 1 else 'ies'}")
        self.latency_label.setText(f"{self.last_latency_ms:.1f} ms")
        self.predicted.emit(result)

    def start_file_job(self) -> None:
        """Classify the chosen file into the output file in a worker thread."""
        if self.predictor is None or self._job is not None:
            return
        src, dst = self.input_edit.text().strip(), self.output_edit.text().strip()
        if not src or not dst:
            self._batch_failed_text("Choose an input file and an output file.")
            return
        if Path(dst).exists() and not self.confirm_overwrite(Path(dst)):
            self._batch_failed_text(f"{dst} exists and was kept: choose another output file.")
            return
        column = self.column_combo.currentText() if self.column_combo.isEnabled() else None
        config = PredictFileConfig(src, dst, text_col=column or None, predictor=self.predictor,
                                   review_below=self.review_spin.value() / 100.0)
        self._start("file", predict_file_job, str(self.bundle_dir), config)

    def start_store_job(self) -> None:
        """Predict the project's unlabelled records and store them under the bundle's run."""
        if self.predictor is None or self.project is None or self._job is not None:
            return
        if self.span_mode:  # entity bundle: span suggestions (pre-annotation)
            from workbench.core.spans.span_assist import predict_span_records

            self._start("store", predict_span_records, str(self.project.path),
                        int(self.predictor.config["run_id"]), self.predictor)
            return
        self._start("store", predict_unlabelled_job, str(self.project.path),
                    PredictUnlabelledConfig(str(self.bundle_dir)))

    def _start(self, kind: str, fn: Any, *args: Any) -> None:
        self._job_kind = kind
        self.progress.setRange(0, 0)
        self.batch_label.setText("Working…")
        self._job = run_in_thread(
            self, fn, *args,
            on_progress=self._on_progress, on_done=self._on_done,
            on_failed=self._on_failed, on_cancelled=self._on_cancelled,
            name=f"inference-{kind}",
        )
        self._update_buttons()

    def cancel_job(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self.batch_label.setText("Cancelling…")

    def _on_progress(self, event: ProgressEvent) -> None:
        done, total = event.done, event.total
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)
        self.batch_label.setText(f"{done:,} of {total:,} texts")

    def _finish(self) -> None:
        self._job = None
        self.progress.setRange(0, 1)
        self._update_buttons()

    def _on_done(self, rows: int) -> None:
        kind = self._job_kind
        self._finish()
        self.progress.setValue(1)
        if kind == "store":
            text = f"Stored predictions for {rows:,} unlabelled records."
        else:
            text = f"Wrote {rows:,} predictions to {self.output_edit.text().strip()}."
        self.batch_label.setText(text)
        self.status_message.emit(text)
        self.batch_finished.emit(("done", rows))
        if kind == "store":
            self.changed.emit(PREDICTIONS_STORED)

    def _on_cancelled(self) -> None:
        self._finish()
        self.progress.setValue(0)
        self.batch_label.setText("Cancelled: nothing was written.")
        self.batch_finished.emit(("cancelled", 0))

    def _on_failed(self, exc: BaseException) -> None:
        self._finish()
        message = str(exc) if isinstance(exc, WorkbenchError) else f"{type(exc).__name__}: {exc}"
        self._batch_failed_text(message)
        self.batch_finished.emit(("failed", message))

    def _batch_failed_text(self, message: str) -> None:
        self.batch_label.setText(f"<span style='color:#b00020'>{html.escape(message)}</span>")
        self.batch_label.setTextFormat(Qt.TextFormat.RichText)
        self.status_message.emit(message)
