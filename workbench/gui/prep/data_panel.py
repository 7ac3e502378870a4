"""The Data tab: preview a data-preparation step, apply it, undo it.

Pick a step (normalise, mask personal data, near-duplicates, filters, augmentation,
restore the imported texts), adjust its settings (a form generated from the step's config),
*Preview* runs the step's plan in a worker thread (progress and Cancel) and shows what it
would change: counts per sub-step with before/after examples, or the near-duplicate groups
side by side with their labels. *Apply* writes exactly the previewed plan as one step;
*Undo last step* reverts the newest step (:mod:`workbench.core.prep.operations`); all three
run in a worker thread.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.core.errors import WorkbenchError
from workbench.core.prep import steps
from workbench.core.prep.augment import augmented_count
from workbench.core.prep.jobs import STEP_CONFIGS, PrepJobConfig, prep_job
from workbench.core.store.changes import Changes
from workbench.gui.widgets.config_form import ConfigForm
from workbench.gui.widgets.panel import ChangesListener
from workbench.gui.widgets.workers import JobHandle, run_in_thread

if TYPE_CHECKING:
    from workbench.core.store.project import Project

__all__ = ["DataPanel", "STEP_TITLES"]

log = logging.getLogger(__name__)

#: (step, title shown in the chooser)
STEP_TITLES = [
    ("normalise", "Normalise texts"),
    ("mask", "Mask personal data"),
    ("near_duplicates", "Near-duplicates"),
    ("filter", "Filter records"),
    ("augment", "Augment training records"),
    ("restore", "Restore the imported texts"),
]
_SHOWN = 60  # groups or examples listed in the preview


def _short(text: str, n: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


class DataPanel(ChangesListener, QWidget):
    """Data preparation steps, previewed, applied and undone."""

    status_message = Signal(str)
    open_records = Signal(list)
    changed = Signal(object)
    #: A job finished (for tests and the status bar): "preview" | "apply" | "undo".
    job_finished = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project: Project | None = None
        self.plan: Any = None
        self.plan_step = ""
        self._job: JobHandle | None = None
        self._build()
        self._update_buttons()

    # ----------------------------------------------------------------- building
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        self.step_box = QComboBox()
        for step, title in STEP_TITLES:
            self.step_box.addItem(title, step)
        self.step_box.currentIndexChanged.connect(self._step_changed)
        self.preview_button = QPushButton("Preview")
        self.preview_button.setToolTip("Show what this step would change; nothing is written.")
        self.preview_button.clicked.connect(self.start_preview)
        self.apply_button = QPushButton("Apply")
        self.apply_button.setToolTip("Write the previewed changes as one step (undoable).")
        self.apply_button.clicked.connect(self.start_apply)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.undo_button = QPushButton("Undo last step")
        self.undo_button.clicked.connect(self.undo_last)
        self.progress = QProgressBar()
        self.progress.setFixedWidth(180)
        self.progress.setVisible(False)
        for w in (QLabel("Step"), self.step_box, self.preview_button, self.apply_button,
                  self.cancel_button, self.progress):
            top.addWidget(w)
        top.addStretch(1)
        top.addWidget(self.undo_button)
        layout.addLayout(top)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        self.forms = QStackedWidget()
        self.form_of: dict[str, ConfigForm | None] = {}
        for step, _title in STEP_TITLES:
            cls = STEP_CONFIGS[step]
            if cls is type(None):
                form = None
                page: QWidget = QLabel("Every changed record gets its imported text back "
                                       "(this is a step too: it can be undone).")
                page.setWordWrap(True)
            else:
                form = ConfigForm(cls)
                form.value_changed.connect(self._settings_changed)
                page = form
            self.form_of[step] = form
            self.forms.addWidget(page)
        left_layout.addWidget(self.forms)
        left_layout.addWidget(QLabel("Steps applied (newest first)"))
        self.history = QListWidget()
        left_layout.addWidget(self.history, 1)
        splitter.addWidget(left)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        self.summary = QLabel("Open a project to prepare its data.")
        self.summary.setWordWrap(True)
        right_layout.addWidget(self.summary)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["What", "Record", "Labels", "Before / text", "After"])
        self.tree.setColumnWidth(0, 230)
        self.tree.setColumnWidth(1, 60)
        self.tree.setColumnWidth(2, 90)
        self.tree.setColumnWidth(3, 360)
        self.tree.itemDoubleClicked.connect(self._open_item)
        right_layout.addWidget(self.tree, 1)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 3)
        layout.addWidget(splitter, 1)

    # ----------------------------------------------------------------- panel contract
    def set_project(self, project: Project | None) -> None:
        self.shutdown()
        self.project = project
        self._pending_changes = None
        self._drop_plan()
        self.summary.setText("Open a project to prepare its data." if project is None else
                             "Choose a step and press Preview to see what it would change.")
        self._load_history()
        self._update_buttons()

    def _refresh_shown(self, changes: Changes) -> None:
        if changes.records:
            self._load_history()
            self._update_buttons()

    def shutdown(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self._job.wait(5000)
            self._job = None

    # ----------------------------------------------------------------- state
    @property
    def step(self) -> str:
        return str(self.step_box.currentData())

    def select_step(self, step: str) -> None:
        self.step_box.setCurrentIndex([s for s, _t in STEP_TITLES].index(step))

    def settings(self) -> Any:
        form = self.form_of[self.step]
        if form is None:
            return None
        config = form.config()
        config.validate()
        return config

    def _step_changed(self, index: int) -> None:
        self.forms.setCurrentIndex(index)
        self._drop_plan()

    def _settings_changed(self, _name: str) -> None:
        self._drop_plan()

    def _drop_plan(self) -> None:
        self.plan = None
        self.plan_step = ""
        self.tree.clear()
        self._update_buttons()

    def _busy(self) -> bool:
        return self._job is not None

    def _update_buttons(self) -> None:
        open_ = self.project is not None and not getattr(self.project, "read_only", False)
        busy = self._busy()
        self.preview_button.setEnabled(open_ and not busy)
        self.apply_button.setEnabled(open_ and not busy and self.plan is not None)
        self.cancel_button.setEnabled(busy)
        self.undo_button.setEnabled(
            open_ and not busy and self.project is not None
            and steps.last_step(self.project) is not None)
        self.step_box.setEnabled(not busy)
        self.forms.setEnabled(not busy)

    def _load_history(self) -> None:
        self.history.clear()
        if self.project is None:
            return
        for s in steps.list_steps(self.project):
            state = " (undone)" if s.undone else ""
            self.history.addItem(f"{s.created_at[:16].replace('T', ' ')}  {s.kind}{state}: "
                                 f"{s.summary}")
        aug = augmented_count(self.project)
        if aug:
            self.history.addItem(f"{aug} augmented row(s) stored (used in training only when "
                                 "'Train on augmented rows' is on)")

    # ----------------------------------------------------------------- jobs
    def start_preview(self) -> None:
        try:
            settings = self.settings()
        except WorkbenchError as exc:
            self.summary.setText(str(exc))
            return
        self._start(PrepJobConfig(self.step, settings), "preview")

    def start_apply(self) -> None:
        if self.plan is None:
            return
        form = self.form_of[self.plan_step]
        settings = form.config() if form is not None else None
        self._start(PrepJobConfig(self.plan_step, settings, plan=self.plan), "apply")

    def _start(self, config: PrepJobConfig, kind: str) -> None:
        if self.project is None or self._busy():
            return
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.summary.setText({"preview": "Previewing…", "apply": "Applying…"}.get(kind,
                                                                                "Undoing…"))
        self._job = run_in_thread(
            self, prep_job, self.project.path, config,
            on_progress=self._on_progress,
            on_done=lambda result, k=kind: self._on_done(k, result),
            on_failed=lambda exc, k=kind: self._on_failed(k, exc),
            on_cancelled=lambda k=kind: self._on_cancelled(k),
            name=f"data {kind}",
        )
        self._update_buttons()

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()

    def _on_progress(self, event: Any) -> None:
        if event.total:
            self.progress.setRange(0, event.total)
            self.progress.setValue(min(event.done, event.total))
        else:
            self.progress.setRange(0, 0)
        if event.message:
            self.summary.setText(event.message)

    def _finish(self, kind: str) -> None:
        self._job = None
        self.progress.setVisible(False)
        self._update_buttons()
        self.job_finished.emit(kind)

    def _on_done(self, kind: str, result: Any) -> None:
        if kind == "preview":
            self.plan = result.plan
            self.plan_step = self.step
            self._show_plan(result.plan)
        elif kind == "undo":
            message = result.details["message"]
            self._drop_plan()
            self.summary.setText(message)
            self.status_message.emit(message)
            self._load_history()
            self.changed.emit(result.changes)
        else:
            report = result.report
            self._drop_plan()
            self.summary.setText(f"Applied: {report.summary}. "
                                 f"{report.skipped} skipped (changed since the preview)."
                                 if report.skipped else f"Applied: {report.summary}.")
            self.status_message.emit(f"Data: {report.summary}")
            self._load_history()
            self.changed.emit(result.changes)
        self._finish(kind)

    def _on_failed(self, kind: str, exc: BaseException) -> None:
        self.summary.setText(f"Could not {kind}: {exc}")
        self._finish(kind)

    def _on_cancelled(self, kind: str) -> None:
        self.summary.setText("Cancelled; nothing was changed.")
        self._finish(kind)

    def undo_last(self) -> None:
        """Undo the newest step (in a worker: a large step takes a while to put back)."""
        self._start(PrepJobConfig("undo"), "undo")

    # ----------------------------------------------------------------- preview display
    def _show_plan(self, plan: Any) -> None:
        self.tree.clear()
        data = plan.to_dict()
        step = data["step"]
        if step in ("normalise", "mask", "restore"):
            self.summary.setText(f"{data['records_changed']:,} of {data['records_scanned']:,} "
                                 "record(s) would change. Apply writes exactly these.")
            for sub, n in sorted(data["counts"].items()):
                items = data["items"].get(sub)
                what = f"{sub}: {n:,} record(s)" + (
                    f", {items:,} value(s)" if step == "mask" else "")
                node = QTreeWidgetItem(self.tree, [what])
                for ex in data["examples"].get(sub, []):
                    item = QTreeWidgetItem(node, ["example", str(ex["id"]), "",
                                                  _short(ex["before"]), _short(ex["after"])])
                    item.setToolTip(3, ex["before"])
                    item.setToolTip(4, ex["after"])
                node.setExpanded(True)
        elif step == "near_duplicates":
            conflicts = {tuple(g) for g in data["conflicting_groups"]}
            self.summary.setText(
                f"{len(data['groups']):,} group(s) of near-duplicates "
                f"({data['records_in_groups']:,} records), {len(conflicts)} with conflicting "
                f"labels (kept and sent to the Review list); {len(data['remove']):,} record(s) "
                "would be removed.")
            removed = set(data["remove"])
            for index, group in enumerate(data["groups"][:_SHOWN]):
                tag = " – labels conflict" if tuple(group) in conflicts else ""
                node = QTreeWidgetItem(self.tree, [f"group {index + 1} ({len(group)}){tag}"])
                for rid in group:
                    labels = ", ".join(plan.labels.get(rid, [])) or "–"
                    fate = ("removed" if rid in removed else
                            "marked" if data["action"] == "mark" else "kept")
                    item = QTreeWidgetItem(node, [fate, str(rid), labels,
                                                  _short(plan.texts.get(rid, "")), ""])
                    item.setToolTip(3, plan.texts.get(rid, ""))
                node.setExpanded(index < 10)
        elif step == "filter":
            self.summary.setText(f"{data['records_caught']:,} of {data['records_scanned']:,} "
                                 f"record(s) caught; they would be {data['action']}d.")
            for reason, n in sorted(data["counts"].items()):
                node = QTreeWidgetItem(self.tree, [f"{reason}: {n:,}"])
                for ex in data["examples"].get(reason, []):
                    QTreeWidgetItem(node, ["example", str(ex["id"]), "", _short(ex["text"])])
                node.setExpanded(True)
        elif step == "augment":
            self.summary.setText(f"{data['rows']:,} augmented row(s) from {data['sources']:,} "
                                 "labelled training record(s). They are used by training only "
                                 "(never validation, test, exports or agreement).")
            for ex in data["examples"]:
                QTreeWidgetItem(self.tree, [ex["method"], str(ex["source"]), "",
                                            "", _short(ex["text"])])

    def _open_item(self, item: QTreeWidgetItem, _column: int) -> None:
        text = item.text(1)
        if text.isdigit():
            self.open_records.emit([int(text)])
