"""The Review tab for spans projects: likely span errors, where the newest trained entity
model confidently disagrees with the annotation (a span it finds that the annotation lacks,
another type on the same words, other edges, or an annotated span it does not find).

The review predicts every labelled record with the run's ONNX bundle (exported first if it
has none) in a child process; double-click (or Enter) opens the record in the Label panel.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.core.errors import ModelError, WorkbenchError
from workbench.gui.widgets.workers import JobHandle, run_in_child

if TYPE_CHECKING:
    from workbench.core.spans.span_assist import SpanIssue
    from workbench.core.store.project import Project

__all__ = ["KINDS", "SpanReviewConfig", "SpanReviewView", "span_review_job"]

KINDS = {"missing": "Missing span", "wrong_type": "Wrong type", "boundary": "Other edges",
         "unsupported": "Not found by the model"}
_CONTEXT = 30


@dataclass
class SpanReviewConfig:
    """How confident the model must be (span score) for a disagreement to be listed."""

    min_score: float = 0.8


def span_review_job(project_path: str | Path, config: SpanReviewConfig, *,
                    progress: Callable[[Any], None] | None = None,
                    should_stop: Callable[[], bool] | None = None) -> list[SpanIssue]:
    """The newest trained run's likely span errors (the same steps as ``workbench review``)."""
    from workbench.core.assist.project_predictions import bundle_for_run
    from workbench.core.assist.suggestions import latest_trained_run
    from workbench.core.deploy.inference import Predictor
    from workbench.core.spans.span_assist import review_span_errors
    from workbench.core.store.project import Project

    with Project.open(project_path) as project:
        run_id = latest_trained_run(project)
    if run_id is None:
        raise ModelError("No trained entity model yet: train one in the Train tab first.")
    predictor = Predictor.load(bundle_for_run(project_path, run_id, progress=progress,
                                              should_stop=should_stop))
    return review_span_errors(project_path, run_id, predictor, min_score=config.min_score,
                              progress=progress, should_stop=should_stop)


def _show(span: Any) -> str:
    return "–" if span is None else f"{span.label} {span.start}–{span.end}"


class SpanReviewView(QWidget):
    """Find likely span errors and open their records."""

    status_message = Signal(str)
    open_records = Signal(list)
    #: Emitted when a review ends with the number of issues (-1: failed or cancelled).
    review_finished = Signal(int)

    COLUMNS = ("Record", "Kind", "Annotated", "Model", "Score", "Text")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project: Project | None = None
        self.issues: list[SpanIssue] = []
        self._job: JobHandle | None = None
        self.find_button = QPushButton("Find likely span errors")
        self.find_button.setToolTip("Predict every labelled record with the newest entity model "
                                    "and list where it confidently disagrees with the spans")
        self.find_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.min_score = QDoubleSpinBox()
        self.min_score.setRange(0.0, 1.0)
        self.min_score.setSingleStep(0.05)
        self.min_score.setValue(SpanReviewConfig.min_score)
        self.min_score.setPrefix("model score ≥ ")
        self.progress = QProgressBar()
        self.progress.setFixedWidth(200)
        self.progress.hide()
        self.summary = QLabel("Likely span errors: spans a confident entity model disagrees "
                              "with.")
        self.summary.setWordWrap(True)
        top = QHBoxLayout()
        for widget in (self.find_button, self.cancel_button, self.min_score, self.progress):
            top.addWidget(widget)
        top.addWidget(self.summary, 1)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setObjectName("spanIssues")
        self.table.setHorizontalHeaderLabels(list(self.COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        for col in range(len(self.COLUMNS) - 1):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(self.COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.table.activated.connect(self._open)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        self._update_buttons()

    def set_project(self, project: Project | None, classification: Sequence[QWidget] = ()) -> None:
        """Show for a spans project (hiding the ``classification`` widgets), else hide."""
        self.shutdown()
        self.project = project
        spans = project is not None and project.is_spans
        self.setVisible(spans)
        for widget in classification:
            widget.setVisible(not spans)
        self.issues = []
        self.table.setRowCount(0)
        self._update_buttons()

    def shutdown(self) -> None:
        if self._job is not None and self._job.is_running():
            self._job.cancel()
            self._job.wait(30_000)

    def _update_buttons(self) -> None:
        running = self._job is not None
        self.find_button.setEnabled(self.project is not None and not running)
        self.cancel_button.setEnabled(running)
        self.progress.setVisible(running)

    def start(self) -> None:
        if self.project is None or self._job is not None:
            return
        self.summary.setText("Predicting the labelled records…")
        self.progress.setRange(0, 0)
        # A child process: the review may export the model first (torch), which must not
        # share the window's process (see docs/PLATFORM_NOTES: threads collapse).
        self._job = run_in_child(
            self, span_review_job, str(self.project.path),
            SpanReviewConfig(self.min_score.value()), on_progress=self._on_progress,
            on_done=self._on_done, on_failed=self._on_failed,
            on_cancelled=self._on_cancelled, name="span-review")
        self._update_buttons()

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()

    def _on_progress(self, event: Any) -> None:
        total = int(getattr(event, "total", 0) or 0)
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(int(getattr(event, "done", 0) or 0))
        if getattr(event, "message", ""):
            self.summary.setText(str(event.message))

    def _end(self) -> None:
        self._job = None
        self._update_buttons()

    def _on_done(self, issues: list[SpanIssue]) -> None:
        self._end()
        self.show_issues(issues)
        self.review_finished.emit(len(issues))

    def _on_failed(self, exc: BaseException) -> None:
        self._end()
        text = str(exc) if isinstance(exc, WorkbenchError) else f"{type(exc).__name__}: {exc}"
        self.summary.setText(text)
        self.status_message.emit(text)
        self.review_finished.emit(-1)

    def _on_cancelled(self) -> None:
        self._end()
        self.summary.setText("Review cancelled.")
        self.review_finished.emit(-1)

    def show_issues(self, issues: list[SpanIssue]) -> None:
        """List issues, most confident first, with a bit of the record's text."""
        self.issues = list(issues)
        texts: dict[int, str] = {}
        if self.project is not None and issues:
            ids = sorted({i.record_id for i in issues})
            texts = {r.id: r.text for r in self.project.get_records(ids)}
        self.table.setRowCount(len(issues))
        for row, issue in enumerate(issues):
            where = issue.span or issue.predicted
            text = texts.get(issue.record_id, "")
            snippet = ""
            if where is not None and text:
                snippet = (f"…{text[max(0, where.start - _CONTEXT):where.start]}"
                           f"[{text[where.start:where.end]}]{text[where.end:where.end + _CONTEXT]}…")
                snippet = " ".join(snippet.split())
            values = [str(issue.record_id), KINDS.get(issue.kind, issue.kind),
                      _show(issue.span), _show(issue.predicted), f"{issue.score:.2f}", snippet]
            for col, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setData(Qt.ItemDataRole.UserRole, issue.record_id)
                item.setToolTip(snippet)
                self.table.setItem(row, col, item)
        self.summary.setText(f"{len(issues):,} likely span error(s); double-click opens the "
                             "record in the Label panel." if issues else
                             "No likely span errors at this score.")

    def _open(self, index: Any) -> None:
        if index.isValid():
            item = self.table.item(index.row(), 0)
            self.open_records.emit([int(item.data(Qt.ItemDataRole.UserRole))])

    def rows(self) -> list[tuple[str, ...]]:
        return [tuple(self.table.item(r, c).text() for c in range(self.table.columnCount()))
                for r in range(self.table.rowCount())]
