"""The Review tab: likely label errors to keep or fix, and the model-assistance settings.

"Find likely label errors" runs the review (cross-validated confident learning and
near-duplicates, :mod:`workbench.core.assist.review`) in a worker thread. Each item shows the
text, its current label, the suggested label and the reason; *Keep* remembers the label
as checked, *Fix* saves the new label. Either way the item leaves the queue.

The panel also keeps the suggestions fresh in the background: every few seconds it
checks the auto-retrain rule (:mod:`workbench.core.assist.autoretrain`, counting only labels
added since the project was opened, so opening a project never starts a training run by
itself) and, while no trained model suggests, whether the cold-start model is out of date;
the cold-start refit runs in a worker thread, an auto-retrain (torch training and export)
in a child process; both report through ``status_message``.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from workbench.core.assist.jobs import (
    ColdStartConfig,
    RetrainConfig,
    ReviewConfig,
    coldstart_job,
    retrain_job,
    review_job,
)
from workbench.core.errors import WorkbenchError
from workbench.core.project_operations import PREDICTIONS_STORED
from workbench.core.store import operations
from workbench.core.store.changes import Changes
from workbench.gui.review.assistance import AssistancePolicy
from workbench.gui.review.issue_list import (
    IDLE_HINT,
    NO_PROJECT_HINT,
    NOTHING_FOUND_HINT,
    IssueList,
)
from workbench.gui.review.span_review import SpanReviewView
from workbench.gui.widgets.panel import ChangesListener
from workbench.gui.widgets.workers import JobHandle, run_in_child, run_in_thread

if TYPE_CHECKING:
    from workbench.core.assist.review import LabelIssue
    from workbench.core.store.project import Project

__all__ = ["ReviewPanel", "CHECK_INTERVAL_MS"]

log = logging.getLogger(__name__)

#: How often the auto-retrain rule and the cold-start model's freshness are checked.
CHECK_INTERVAL_MS = 10_000


class ReviewPanel(ChangesListener, AssistancePolicy, QWidget):
    """Review queue of likely label errors, plus auto-retrain settings and status."""

    status_message = Signal(str)
    open_records = Signal(list)
    #: The review finished with this many items (also after a cancel: -1).
    review_finished = Signal(int)
    #: The project changed here (a fix, new predictions): a Changes value.
    changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project: Project | None = None
        self.issues: list[LabelIssue] = []
        self._review_job: JobHandle | None = None
        self._assist_job: JobHandle | None = None
        self.assist_kind = ""
        self.labelled_at_open = 0
        self._build()
        # Not a poll: new labels start it, and the check runs once they pause.
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(CHECK_INTERVAL_MS)
        self._timer.timeout.connect(self.check_assistance)
        self._update_buttons()

    # ----------------------------------------------------------------- building
    def _build(self) -> None:
        layout = QVBoxLayout(self)

        top = QHBoxLayout()
        self.find_button = QPushButton("Find likely label errors")
        self.find_button.setToolTip(
            "Cross-validate a quick model over the labelled records and list the ones whose "
            "label it confidently disagrees with, and near-duplicate texts with different labels."
        )
        self.find_button.clicked.connect(self.start_review)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_review)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.progress.setFixedWidth(200)
        self.summary = QLabel("Open a project, then look for likely label errors.")
        self.summary.setWordWrap(True)
        top.addWidget(self.find_button)
        top.addWidget(self.cancel_button)
        top.addWidget(self.progress)
        top.addSpacing(8)
        top.addWidget(self.summary, 1)
        layout.addLayout(top)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        self.list = IssueList()
        self.list.keep_pressed.connect(self.keep_current)
        self.list.fix_pressed.connect(self._fix_with_suggestion)
        self.list.currentRowChanged.connect(self._show_current)
        self.list.itemDoubleClicked.connect(self._open_current)
        splitter.addWidget(self.list)
        self.list.setMinimumWidth(380)  # entries are sentences: wide enough to read, and wrapped
        self.list.setWordWrap(True)

        detail = QWidget()
        form = QFormLayout(detail)
        self.text_view = QPlainTextEdit()
        self.text_view.setReadOnly(True)
        self.text_view.setPlaceholderText(
            "Select a record in the list to read its text here, with its current label, "
            "the suggested one and why it was flagged. K keeps the label, F uses the suggestion."
        )
        self.current_label = QLabel("–")
        self.suggested_label = QLabel("–")
        self.reason = QLabel("")
        self.reason.setWordWrap(True)
        self.reason.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow("Text", self.text_view)
        form.addRow("Current label", self.current_label)
        form.addRow("Suggested label", self.suggested_label)
        form.addRow("Why", self.reason)
        buttons = QHBoxLayout()
        self.keep_button = QPushButton("Keep label (K)")
        self.keep_button.setToolTip("The current label is right: remove the item from the queue.")
        self.keep_button.clicked.connect(self.keep_current)
        self.fix_button = QPushButton("Use suggestion (F)")
        self.fix_button.setToolTip("Save the suggested label for this record.")
        self.fix_button.clicked.connect(self._fix_with_suggestion)
        self.other_label = QComboBox()
        self.other_label.setToolTip("Or choose another label")
        self.set_button = QPushButton("Set label")
        self.set_button.clicked.connect(self._fix_with_chosen)
        self.show_button = QPushButton("Show in Label panel")
        self.show_button.clicked.connect(self._open_current)
        for w in (self.keep_button, self.fix_button, self.other_label, self.set_button):
            buttons.addWidget(w)
        buttons.addStretch(1)
        buttons.addWidget(self.show_button)
        form.addRow(buttons)
        splitter.addWidget(detail)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        layout.addWidget(splitter, 1)
        self.review_splitter, self.span_review = splitter, SpanReviewView()  # spans projects
        self.span_review.status_message.connect(self.status_message)
        self.span_review.open_records.connect(self.open_records)
        layout.addWidget(self.span_review, 1)

        layout.addWidget(self.build_assistance())

    # ----------------------------------------------------------------- panel contract
    def set_project(self, project: Project | None) -> None:
        """Show a project (``None``: none open); running jobs are stopped."""
        self.shutdown()
        self.project = project
        self._pending_changes = None
        self.issues = []
        self.list.clear()
        self._show_current(-1)
        self.other_label.clear()
        if project is None:
            self.summary.setText("Open a project, then look for likely label errors.")
            self.list.set_placeholder(NO_PROJECT_HINT)
            self._timer.stop()
        else:
            self.other_label.addItems(project.label_names())
            self.summary.setText(
                "Look for labels that are probably wrong: a quick model is cross-validated "
                "over your labelled records."
            )
            self.list.set_placeholder(IDLE_HINT)
            self.load_policy()
            self.labelled_at_open = self.labelled_total()
            self._timer.start()
        self.update_assist_status()
        self._update_buttons()
        self.span_review.set_project(project, (self.find_button, self.cancel_button,
                                               self.summary, self.review_splitter))

    def _refresh_now(self, changes: Changes) -> None:
        """New labels elsewhere schedule the auto-retrain check (it runs while hidden)."""
        if self.project is not None and changes.annotations and not self._timer.isActive():
            self._timer.start()

    def _refresh_shown(self, changes: Changes) -> None:
        """Labels or the schema changed elsewhere: update the label choices and status."""
        if self.project is None:
            return
        current = self.other_label.currentText()
        self.other_label.clear()
        self.other_label.addItems(self.project.label_names())
        if current:
            self.other_label.setCurrentText(current)
        self.update_assist_status()

    def shutdown(self) -> None:
        """Stop and wait for the background jobs (and the periodic check)."""
        self._timer.stop()
        self.span_review.shutdown()
        for job in (self._review_job, self._assist_job):
            if job is not None and job.is_running():
                job.silence()
                job.cancel()
                job.wait(30_000)
        self._review_job = None
        self._assist_job = None
        self.progress.setVisible(False)

    # ----------------------------------------------------------------- review queue
    def start_review(self) -> None:
        """Run the label-error review in a worker thread."""
        if self.project is None or self.review_running():
            return
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.summary.setText("Checking the labelled records…")
        self.list.set_placeholder("Checking the labelled records…")
        self._review_job = run_in_thread(
            self, review_job, str(self.project.path), ReviewConfig(),
            on_progress=self._review_progress, on_done=self._review_done,
            on_failed=self._review_failed, on_cancelled=self._review_cancelled,
            on_finished=self._update_buttons, name="review",
        )
        self._update_buttons()

    def cancel_review(self) -> None:
        if self._review_job is not None:
            self._review_job.cancel()

    def review_running(self) -> bool:
        return self._review_job is not None and self._review_job.is_running()

    def _review_progress(self, event: Any) -> None:
        if event.total:
            self.progress.setRange(0, event.total)
            self.progress.setValue(event.done)
        self.summary.setText(event.message)

    def _review_done(self, issues: list[LabelIssue]) -> None:
        self.progress.setVisible(False)
        self.issues = list(issues)
        self.list.clear()
        for issue in self.issues:
            self.list.addItem(self._item(issue))
        if self.issues:
            self.list.setCurrentRow(0)
            self.list.setFocus()
        else:
            self._show_current(-1)
        self._update_summary()
        self.status_message.emit(f"Review: {len(self.issues)} likely label errors found.")
        self.review_finished.emit(len(self.issues))

    def _review_failed(self, exc: BaseException) -> None:
        self.progress.setVisible(False)
        self.summary.setText(f"The review failed: {exc}")
        self.list.set_placeholder(IDLE_HINT)
        self.status_message.emit(f"Review failed: {exc}")
        self.review_finished.emit(-1)

    def _review_cancelled(self) -> None:
        self.progress.setVisible(False)
        self.summary.setText("Review cancelled.")
        self.list.set_placeholder(IDLE_HINT)
        self.review_finished.emit(-1)

    @staticmethod
    def _item(issue: LabelIssue) -> QListWidgetItem:
        text = " ".join(issue.text.split())
        if len(text) > 70:
            text = text[:69] + "…"
        item = QListWidgetItem(f"{issue.label} → {issue.suggested_label}   {text}")
        item.setToolTip(issue.reason)
        item.setData(Qt.ItemDataRole.UserRole, issue.id)
        return item

    def _update_summary(self) -> None:
        from workbench.core.assist.review_features import features_words

        n = len(self.issues)
        self.list.set_placeholder(NOTHING_FOUND_HINT)
        self.summary.setText(
            "No likely label errors found." if n == 0
            else f"{n} record{'s' if n != 1 else ''} to review, most suspicious first"
                 + (f" (judged on {features_words(self.issues[0].features)})."
                    if self.issues[0].features else ".")
        )
        self._update_buttons()

    def current_issue(self) -> LabelIssue | None:
        row = self.list.currentRow()
        return self.issues[row] if 0 <= row < len(self.issues) else None

    def _show_current(self, _row: int) -> None:
        issue = self.current_issue()
        if issue is None:
            self.text_view.setPlainText("")
            self.current_label.setText("–")
            self.suggested_label.setText("–")
            self.reason.setText("")
        else:
            self.text_view.setPlainText(issue.text)
            ext = f" (id {issue.external_id})" if issue.external_id else ""
            self.current_label.setText(f"{issue.label}   — record {issue.id}{ext}")
            self.suggested_label.setText(issue.suggested_label)
            self.reason.setText(issue.reason)
            if issue.suggested_labels and issue.suggested_labels[0] in self._label_names():
                self.other_label.setCurrentText(issue.suggested_labels[0])
        self._update_buttons()

    def _label_names(self) -> list[str]:
        return self.project.label_names() if self.project is not None else []

    def _remove_current(self) -> None:
        row = self.list.currentRow()
        if row < 0:
            return
        del self.issues[row]
        self.list.takeItem(row)
        if self.issues:
            self.list.setCurrentRow(min(row, len(self.issues) - 1))
        self._show_current(self.list.currentRow())
        self._update_summary()

    def keep_current(self) -> None:
        """The current label is right: remember it and drop the item."""
        issue = self.current_issue()
        if issue is None or self.project is None:
            return
        from workbench.core.assist.review import keep_label

        keep_label(self.project, issue.id, issue.labels)
        self.status_message.emit(f"Kept {issue.label!r} for record {issue.id}.")
        self._remove_current()

    def fix_current(self, labels: list[str] | tuple[str, ...] | None = None) -> None:
        """Save ``labels`` (default: the suggestion) for the current record and drop it."""
        issue = self.current_issue()
        if issue is None or self.project is None:
            return
        from workbench.core.assist.review import REVIEW_PROVENANCE

        labels = list(labels if labels is not None else issue.suggested_labels)
        try:
            changes = operations.annotate(self.project, issue.id, labels,
                                          provenance=REVIEW_PROVENANCE)
        except WorkbenchError as exc:
            self.status_message.emit(str(exc))
            return
        self.status_message.emit(f"Record {issue.id} is now labelled {', '.join(labels)!r}.")
        self._remove_current()
        self._refresh_now(changes)  # the auto-retrain check counts this label too
        self.changed.emit(changes)

    def _fix_with_suggestion(self) -> None:
        self.fix_current()

    def _fix_with_chosen(self) -> None:
        name = self.other_label.currentText()
        if name:
            self.fix_current([name])

    def _open_current(self, *_args: Any) -> None:
        issue = self.current_issue()
        if issue is not None:
            self.open_records.emit([issue.id])

    def _update_buttons(self, *_args: Any) -> None:
        has_project = self.project is not None
        running = self.review_running()
        has_item = self.current_issue() is not None
        self.find_button.setEnabled(has_project and not running)
        self.cancel_button.setEnabled(running)
        for w in (self.keep_button, self.fix_button, self.set_button, self.show_button,
                  self.other_label):
            w.setEnabled(has_item)
        assisting = self._assist_job is not None and self._assist_job.is_running()
        self.retrain_button.setEnabled(has_project and not assisting)
        self.mode.setEnabled(has_project)
        self.every.setEnabled(has_project)

    # ----------------------------------------------------------------- assistance
    def assist_running(self) -> bool:
        return self._assist_job is not None and self._assist_job.is_running()

    def check_assistance(self) -> str:
        """Start an auto-retrain or a cold-start refresh if one is due; returns which
        ("retrain", "coldstart" or "")."""
        if self.project is None or self.assist_running():
            return ""
        from workbench.core.assist.autoretrain import load_policy
        from workbench.core.assist.suggestions import (
            COLDSTART_KIND,
            coldstart_is_stale,
            prediction_run_id,
        )
        from workbench.core.training.runs import run_kind

        try:
            if load_policy(self.project).should_retrain(self.session_state()):
                self.start_retrain()
                return "retrain"
            current = prediction_run_id(self.project)
            kind = None
            if current is not None:
                kind = run_kind(self.project, current)
            if (current is None or kind == COLDSTART_KIND) and coldstart_is_stale(self.project):
                self._start_assist("coldstart", coldstart_job, ColdStartConfig())
                return "coldstart"
        except Exception:  # a background helper must never disturb labelling
            log.exception("Checking the model assistance failed")
        finally:
            self.update_assist_status()
        return ""

    def start_retrain(self) -> None:
        """Train, export and refresh the suggestions in a child process."""
        if self.project is None or self.assist_running():
            return
        self.status_message.emit("Auto-retrain: training a new model on the labels so far…")
        self._start_assist("retrain", retrain_job, RetrainConfig())

    def _start_assist(self, kind: str, fn: Any, config: Any) -> None:
        self.assist_kind = kind
        # Retraining is CPU-bound torch work: a child process keeps labelling smooth.
        run = run_in_child if kind == "retrain" else run_in_thread
        self._assist_job = run(
            self, fn, str(self.project.path), config,
            on_progress=self._assist_progress, on_done=self._assist_done,
            on_failed=self._assist_failed, on_cancelled=self._assist_cancelled,
            on_finished=self._update_buttons, throttle_ms=250, name=kind,
        )
        self._update_buttons()
        self.update_assist_status()

    def _assist_progress(self, event: Any) -> None:
        if event.message:
            self.status_message.emit(event.message)
            if self.assist_kind == "retrain":
                self.retrain_status.setText(event.message)

    def _assist_done(self, result: Any) -> None:
        message = getattr(result, "message", None)
        if message:
            self.status_message.emit(message)
        self.changed.emit(PREDICTIONS_STORED)
        self.update_assist_status()

    def _assist_failed(self, exc: BaseException) -> None:
        what = "Auto-retrain" if self.assist_kind == "retrain" else "Cold-start suggestions"
        text = str(exc)
        self.status_message.emit(text if text.startswith(what) else f"{what} failed: {text}")
        self.update_assist_status()

    def _assist_cancelled(self) -> None:
        self.status_message.emit("Auto-retrain cancelled.")
        self.update_assist_status()
