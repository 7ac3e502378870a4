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
from PySide6.QtGui import QKeyEvent, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
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
from workbench.gui.widgets.workers import JobHandle, run_in_child, run_in_thread

if TYPE_CHECKING:
    from workbench.core.assist.review import LabelIssue
    from workbench.core.store.project import Project

__all__ = ["ReviewPanel", "CHECK_INTERVAL_MS"]

log = logging.getLogger(__name__)

#: How often the auto-retrain rule and the cold-start model's freshness are checked.
CHECK_INTERVAL_MS = 10_000
_MODES = [("auto", "Automatic (once every label has 10 examples)"), ("on", "On"), ("off", "Off")]


NO_PROJECT_HINT = "Open a project to review its labels."
IDLE_HINT = (
    "Press “Find likely label errors”: records whose label a quick cross-validated model "
    "confidently disagrees with, and near-duplicate texts with different labels, are listed "
    "here, most suspicious first."
)
NOTHING_FOUND_HINT = (
    "Nothing left to review: no likely label errors. Run the check again after more labelling."
)


def _at_left(widget: QWidget) -> QWidget:
    """``widget`` at its natural width at the left of a form row (not stretched)."""
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(widget)
    layout.addStretch(1)
    return row


class _IssueList(QListWidget):
    """The queue list; K keeps and F fixes the current item (instead of type-ahead search)."""

    keep_pressed = Signal()
    fix_pressed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._placeholder = NO_PROJECT_HINT

    def set_placeholder(self, text: str) -> None:
        """Grey text shown while the list is empty (what to do, or why it is empty)."""
        self._placeholder = text
        self.viewport().update()

    def placeholder(self) -> str:
        return self._placeholder

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        super().paintEvent(event)
        if self.count() or not self._placeholder:
            return
        painter = QPainter(self.viewport())
        painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
        rect = self.viewport().rect().adjusted(8, 8, -8, -8)
        painter.drawText(rect, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop
                                   | Qt.TextFlag.TextWordWrap), self._placeholder)
        painter.end()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        plain = event.modifiers() in (Qt.KeyboardModifier.NoModifier,
                                      Qt.KeyboardModifier.KeypadModifier)
        if plain and event.key() == Qt.Key.Key_K:
            self.keep_pressed.emit()
        elif plain and event.key() == Qt.Key.Key_F:
            self.fix_pressed.emit()
        else:
            super().keyPressEvent(event)


class ReviewPanel(QWidget):
    """Review queue of likely label errors, plus auto-retrain settings and status."""

    status_message = Signal(str)
    open_records = Signal(list)
    #: The review finished with this many items (also after a cancel: -1).
    review_finished = Signal(int)
    #: Labels were changed here (a fix): other views should refresh.
    labels_changed = Signal()
    #: New predictions are stored: suggestions shown elsewhere should be re-read.
    suggestions_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project: Project | None = None
        self.issues: list[LabelIssue] = []
        self._review_job: JobHandle | None = None
        self._assist_job: JobHandle | None = None
        self._assist_kind = ""
        self._labelled_at_open = 0
        self._build()
        self._timer = QTimer(self)
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
        self.list = _IssueList()
        self.list.keep_pressed.connect(self.keep_current)
        self.list.fix_pressed.connect(self._fix_with_suggestion)
        self.list.currentRowChanged.connect(self._show_current)
        self.list.itemDoubleClicked.connect(self._open_current)
        splitter.addWidget(self.list)

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
        splitter.setStretchFactor(1, 2)
        layout.addWidget(splitter, 1)

        box = QGroupBox("Model assistance")
        assist = QFormLayout(box)
        self.suggester = QLabel("–")
        self.suggester.setWordWrap(True)
        self.mode = QComboBox()
        for key, text in _MODES:
            self.mode.addItem(text, key)
        self.mode.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.mode.currentIndexChanged.connect(self._policy_edited)
        self.every = QSpinBox()
        self.every.setRange(5, 100_000)
        self.every.setValue(50)
        self.every.setSuffix(" new labels")
        self.every.setMinimumWidth(160)
        self.every.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.every.valueChanged.connect(self._policy_edited)
        self.retrain_status = QLabel("–")
        self.retrain_status.setWordWrap(True)
        self.retrain_button = QPushButton("Retrain now")
        self.retrain_button.setToolTip(
            "Train a new model with the last run's settings, export it and refresh the suggestions."
        )
        self.retrain_button.clicked.connect(self.start_retrain)
        row = QHBoxLayout()
        row.addWidget(self.retrain_status, 1)
        row.addWidget(self.retrain_button)
        assist.addRow("Suggestions from", self.suggester)
        assist.addRow("Auto-retrain", _at_left(self.mode))
        assist.addRow("Retrain after", _at_left(self.every))
        for field in (self.mode, self.every):
            label = assist.labelForField(field.parentWidget())
            if isinstance(label, QLabel):
                label.setBuddy(field)
        assist.addRow(row)
        layout.addWidget(box)

    # ----------------------------------------------------------------- panel contract
    def set_project(self, project: Project | None) -> None:
        """Show a project (``None``: none open); running jobs are stopped."""
        self.shutdown()
        self.project = project
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
            self._load_policy()
            self._labelled_at_open = self._labelled_total()
            self._timer.start()
        self._update_assist_status()
        self._update_buttons()

    def refresh(self) -> None:
        """Labels or the schema changed elsewhere: update the label choices and status."""
        if self.project is None:
            return
        current = self.other_label.currentText()
        self.other_label.clear()
        self.other_label.addItems(self.project.label_names())
        if current:
            self.other_label.setCurrentText(current)
        self._update_assist_status()

    def shutdown(self) -> None:
        """Stop and wait for the background jobs (and the periodic check)."""
        self._timer.stop()
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
        n = len(self.issues)
        self.list.set_placeholder(NOTHING_FOUND_HINT)
        self.summary.setText(
            "No likely label errors found." if n == 0
            else f"{n} record{'s' if n != 1 else ''} to review, most suspicious first."
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
            self.project.annotate(issue.id, labels, provenance=REVIEW_PROVENANCE)
        except WorkbenchError as exc:
            self.status_message.emit(str(exc))
            return
        self.status_message.emit(f"Record {issue.id} is now labelled {', '.join(labels)!r}.")
        self._remove_current()
        self.labels_changed.emit()

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
    def _load_policy(self) -> None:
        from workbench.core.assist.autoretrain import load_policy

        policy = load_policy(self.project)
        for w in (self.mode, self.every):
            w.blockSignals(True)
        self.mode.setCurrentIndex(max(0, self.mode.findData(policy.mode)))
        self.every.setValue(policy.every)
        for w in (self.mode, self.every):
            w.blockSignals(False)

    def _policy_edited(self, *_args: Any) -> None:
        if self.project is None:
            return
        from workbench.core.assist.autoretrain import AutoRetrainPolicy, save_policy

        save_policy(self.project, AutoRetrainPolicy(mode=self.mode.currentData(),
                                                    every=self.every.value()))
        self._update_assist_status()

    def _update_assist_status(self) -> None:
        if self.project is None:
            self.suggester.setText("–")
            self.retrain_status.setText("–")
            return
        from workbench.core.assist.autoretrain import load_policy, retrain_state
        from workbench.core.assist.suggestions import current_suggester

        self.suggester.setText(current_suggester(self.project))
        running = self._assist_kind == "retrain" and self.assist_running()
        state = self._session_state()
        if running:
            state = retrain_state(self.project, running=True)
        self.retrain_status.setText(load_policy(self.project).describe(state))

    def _labelled_total(self) -> int:
        return self.project.db.execute(
            "SELECT count(DISTINCT record_id) FROM annotations WHERE status = 'labelled'"
        ).fetchone()[0]

    def _session_state(self) -> Any:
        """The auto-retrain state, counting only labels added since the project was opened:
        opening a project full of labels never starts a training run by itself."""
        import dataclasses

        from workbench.core.assist.autoretrain import retrain_state

        state = retrain_state(self.project)
        session = max(0, self._labelled_total() - self._labelled_at_open)
        return dataclasses.replace(state, new_labels=min(state.new_labels, session))

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

        try:
            if load_policy(self.project).should_retrain(self._session_state()):
                self.start_retrain()
                return "retrain"
            current = prediction_run_id(self.project)
            kind = None
            if current is not None:
                row = self.project.db.execute(
                    "SELECT kind FROM runs WHERE id = ?", [current]
                ).fetchone()
                kind = row[0] if row else None
            if (current is None or kind == COLDSTART_KIND) and coldstart_is_stale(self.project):
                self._start_assist("coldstart", coldstart_job, ColdStartConfig())
                return "coldstart"
        except Exception:  # a background helper must never disturb labelling
            log.exception("Checking the model assistance failed")
        finally:
            self._update_assist_status()
        return ""

    def start_retrain(self) -> None:
        """Train, export and refresh the suggestions in a child process."""
        if self.project is None or self.assist_running():
            return
        self.status_message.emit("Auto-retrain: training a new model on the labels so far…")
        self._start_assist("retrain", retrain_job, RetrainConfig())

    def _start_assist(self, kind: str, fn: Any, config: Any) -> None:
        self._assist_kind = kind
        # Retraining is CPU-bound torch work: a child process keeps labelling smooth.
        run = run_in_child if kind == "retrain" else run_in_thread
        self._assist_job = run(
            self, fn, str(self.project.path), config,
            on_progress=self._assist_progress, on_done=self._assist_done,
            on_failed=self._assist_failed, on_cancelled=self._assist_cancelled,
            on_finished=self._update_buttons, throttle_ms=250, name=kind,
        )
        self._update_buttons()
        self._update_assist_status()

    def _assist_progress(self, event: Any) -> None:
        if event.message:
            self.status_message.emit(event.message)
            if self._assist_kind == "retrain":
                self.retrain_status.setText(event.message)

    def _assist_done(self, result: Any) -> None:
        message = getattr(result, "message", None)
        if message:
            self.status_message.emit(message)
        self.suggestions_changed.emit()
        self._update_assist_status()

    def _assist_failed(self, exc: BaseException) -> None:
        what = "Auto-retrain" if self._assist_kind == "retrain" else "Cold-start suggestions"
        text = str(exc)
        self.status_message.emit(text if text.startswith(what) else f"{what} failed: {text}")
        self._update_assist_status()

    def _assist_cancelled(self) -> None:
        self.status_message.emit("Auto-retrain cancelled.")
        self._update_assist_status()
