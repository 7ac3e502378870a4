"""The main window: menus, a welcome page, the panel tabs and the status bar.

It is a shell: every panel is its own module, imported if present (a short placeholder
says what will be there otherwise), and all of them share the GUI thread's ``Project``.
Every panel follows one protocol (:mod:`workbench.gui.widgets.panel`): the window calls
``set_project`` on all of them, connects their ``status_message``, ``open_records`` and
``changed`` signals alike, and hands the :class:`Changes` of every operation to every other
panel's ``refresh(changes)``.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QLockFile, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QUndoStack
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QTabWidget,
    QWidget,
)

from workbench.core.errors import DATABASE_ERRORS, ProjectError, is_busy_error
from workbench.core.store.changes import Changes
from workbench.core.store.project import Project, default_annotator
from workbench.core.store.record_queries import labelled_count
from workbench.gui.deploy.deploy_panel import DeployPanel
from workbench.gui.deploy.inference_panel import InferencePanel
from workbench.gui.label.label_panel import LabelPanel
from workbench.gui.prep.data_panel import DataPanel
from workbench.gui.review.review_panel import ReviewPanel
from workbench.gui.team.team_panel import TeamPanel
from workbench.gui.train.train_panel import TrainPanel
from workbench.gui.widgets.placeholder import PlaceholderPanel, WelcomePage
from workbench.gui.widgets.workers import JobHandle, run_in_thread, stop_all
from workbench.gui.window_menus import MAX_RECENT, WindowMenuActions

__all__ = ["MainWindow", "PANELS", "MAX_RECENT", "load_panel"]

log = logging.getLogger(__name__)


#: (tab title, panel class, what the tab holds when the panel cannot be created)
PANELS: list[tuple[str, type[QWidget], str]] = [
    ("Label", LabelPanel,
     "Label records one after another with the keyboard, browse and search them."),
    ("Train", TrainPanel,
     "Fine-tune a classifier on your labels and compare the runs' results."),
    ("Deploy", DeployPanel,
     "Export a trained model as a small, quantized ONNX bundle that runs anywhere."),
    ("Inference", InferencePanel,
     "Try a model on your own text and classify whole files."),
    ("Team", TeamPanel,
     "Share the work among annotators and measure how much they agree."),
    ("Review", ReviewPanel,
     "Review flagged records, disagreements and the model's likely mistakes."),
    ("Data", DataPanel,
     "Prepare the data: normalise, mask personal data, near-duplicates, filters, augment."),
]

BUSY_MESSAGE = (
    "The project is busy in another Workbench window or process (it is writing a lot at "
    "once, e.g. an import). Nothing was lost; try again in a moment."
)


def _busy(exc: BaseException) -> bool:
    return is_busy_error(exc)


def load_panel(title: str, panel_class: type[QWidget], description: str) -> QWidget:
    """The panel widget, or a placeholder saying why it could not be created."""
    try:
        return panel_class(parent=None)
    except Exception as exc:  # a broken panel must not take the whole app down
        log.exception("Cannot create the %s panel", title)
        return PlaceholderPanel(title, description, f"This panel could not be created: {exc}")


class MainWindow(WindowMenuActions, QMainWindow):
    """The application window. ``open_project(path)`` shows a project in every panel."""

    project_opened = Signal(str)
    project_closed = Signal()

    def __init__(self, settings: QSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings if settings is not None else QSettings()
        self.project: Project | None = None
        self.last_error: str = ""
        self._lock: QLockFile | None = None
        self._demo_job: JobHandle | None = None
        self.setWindowTitle("Workbench")
        self.setMinimumSize(760, 520)

        self.stack = QStackedWidget()
        self.welcome = WelcomePage()
        self.welcome.new_requested.connect(self.new_project)
        self.welcome.open_requested.connect(self.open_project_dialog)
        self.welcome.demo_requested.connect(self.open_demo_project)
        self.welcome.recent_chosen.connect(self.open_project)
        self.tabs = QTabWidget()
        self.tabs.setUsesScrollButtons(False)
        self.tabs.setElideMode(Qt.TextElideMode.ElideNone)
        self.panels: dict[str, QWidget] = {}
        for title, panel_class, description in PANELS:
            panel = load_panel(title, panel_class, description)
            self.panels[title] = panel
            self.tabs.addTab(panel, title)
            self._connect_panel(panel)
        self.stack.addWidget(self.welcome)
        self.stack.addWidget(self.tabs)
        self.setCentralWidget(self.stack)

        self._build_menus()
        self._build_status_bar()
        self._labelled = self._total = 0
        self._restore_window()
        self.apply_record_font()
        self._update_actions()
        self.welcome.set_recent(self.recent_projects())

    # ----------------------------------------------------------------- building
    @property
    def label_panel(self) -> QWidget:
        return self.panels["Label"]

    def _connect_panel(self, panel: QWidget) -> None:
        """Connect a panel's protocol signals (every panel has the same three)."""
        panel.status_message.connect(self.show_status)
        panel.open_records.connect(self.show_records)
        panel.changed.connect(lambda changes, origin=panel: self.broadcast(changes, origin))

    def _action(self, text: str, slot: Any, shortcut: Any = None, tip: str = "") -> QAction:
        act = QAction(text, self)
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        if tip:
            act.setStatusTip(tip)
        act.triggered.connect(slot)
        return act

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self.act_new = self._action("&New project…", self.new_project, QKeySequence.StandardKey.New,
                                    "Create a project from a data file")
        self.act_open = self._action("&Open…", self.open_project_dialog, QKeySequence.StandardKey.Open)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self.fill_recent_menu)
        self.act_import = self._action("&Import data…", self.import_data, "Ctrl+I",
                                       "Add records from another file to this project")
        self.act_export = self._action("&Export…", self.export_labels, "Ctrl+E",
                                       "Write the labels to CSV, JSON Lines or Parquet")
        self.act_merge = self._action("&Merge teammate's project…", self.merge_project, None,
                                      "Bring in the annotations of a teammate's copy")
        self.act_demo = self._action("Open &demo project", self.open_demo_project, None,
                                     "A ready-made project of customer-support messages")
        self.act_close = self._action("&Close project", self.close_project)
        self.act_quit = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        file_menu.insertAction(self.recent_menu.menuAction(), self.act_new)
        file_menu.insertAction(self.recent_menu.menuAction(), self.act_open)
        file_menu.addSeparator()
        for act in (self.act_import, self.act_export, self.act_merge):
            file_menu.addAction(act)
        file_menu.addSeparator()
        file_menu.addAction(self.act_demo)
        file_menu.addAction(self.act_close)
        file_menu.addSeparator()
        file_menu.addAction(self.act_quit)

        edit_menu = bar.addMenu("&Edit")
        # The label panel binds Ctrl+Z itself while it has focus; binding the same key
        # here too would make it ambiguous, so the menu shows the key without taking it.
        self.act_undo = self._action("Undo\tCtrl+Z", self._undo)
        self.act_redo = self._action("Redo\tCtrl+Shift+Z", self._redo)
        stack = self._undo_stack()
        if stack is not None:
            stack.undoTextChanged.connect(self._undo_text_changed)
            stack.redoTextChanged.connect(self._undo_text_changed)
            stack.canUndoChanged.connect(self._undo_text_changed)
            stack.canRedoChanged.connect(self._undo_text_changed)
        edit_menu.addAction(self.act_undo)
        edit_menu.addAction(self.act_redo)
        edit_menu.addSeparator()
        self.act_labels = self._action("&Labels…", self.edit_labels, "Ctrl+L",
                                       "Add, rename, recolour and reorder labels; keys and guidelines")
        self.act_prefs = self._action("&Preferences…", self.edit_preferences,
                                      QKeySequence.StandardKey.Preferences)
        edit_menu.addAction(self.act_labels)
        edit_menu.addAction(self.act_prefs)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.annotator_label = QLabel()
        self.annotator_label.setObjectName("statusAnnotator")
        self.annotator_label.setToolTip("Your annotations are saved under this name (Edit ▸ Preferences)")
        self.progress_label = QLabel()
        self.progress_label.setObjectName("statusProgress")
        bar.addPermanentWidget(self.progress_label)
        bar.addPermanentWidget(self.annotator_label)
        self.update_annotator()

    # ----------------------------------------------------------------- settings
    def _restore_window(self) -> None:
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1200, 800)
        state = self.settings.value("window/state")
        if state is not None:
            self.restoreState(state)

    def save_settings(self) -> None:
        """Store the window geometry and state (recent files are stored as they change)."""
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.setValue("window/tab", self.tabs.currentIndex())
        self.settings.sync()

    # ----------------------------------------------------------------- messages
    def show_error(self, title: str, text: str) -> None:
        """Tell the user something went wrong (tests replace this to avoid a modal box)."""
        self.last_error = text
        QMessageBox.critical(self, title, text)

    def show_status(self, text: str) -> None:
        self.statusBar().showMessage(text, 8000)

    # ----------------------------------------------------------------- project
    def open_project(self, path: str | Path) -> bool:
        """Open a project file in every panel; on a problem show it and keep the current one."""
        path = Path(path).expanduser()
        try:
            project = Project.open(path)
        except ProjectError as exc:
            if not path.exists():
                self.forget_recent(str(path))
            self.show_error("Cannot open project", str(exc))
            return False
        except DATABASE_ERRORS as exc:
            self.show_error("Cannot open project", BUSY_MESSAGE if _busy(exc) else f"{path}: {exc}")
            return False
        self.close_project()
        self.project = project
        self._take_lock(path)
        failed = []
        for title, panel in self.panels.items():
            try:
                panel.set_project(project)
            except Exception as exc:  # one panel's failure must not stop the others
                log.exception("The %s panel could not show %s", title, path)
                failed.append(f"{title}: {BUSY_MESSAGE if _busy(exc) else exc}")
        self.remember_recent(path)
        self.stack.setCurrentWidget(self.tabs)
        self.tabs.setCurrentWidget(self.label_panel)
        self._update_title()
        self._update_actions()
        self.update_progress()
        self.focus_label_view()
        if failed:
            self.show_error("Some panels could not show the project", "\n".join(failed))
        self.project_opened.emit(str(path))
        return True

    def _take_lock(self, path: Path) -> None:
        """Note (not forbid) a second window on the same project: SQLite keeps both safe."""
        lock = QLockFile(str(path) + ".lock")
        lock.setStaleLockTime(0)
        if lock.tryLock(0):
            self._lock = lock
            return
        self.show_status(
            "This project is also open in another Workbench window. Both save safely; "
            "labels from the other window appear after a refresh."
        )

    def close_project(self) -> None:
        """Detach the project from every panel and close it."""
        if self.project is None:
            return
        for panel in self.panels.values():
            try:
                panel.set_project(None)
            except Exception:
                log.exception("A panel failed to let go of the project")
        self.project.close()
        self.project = None
        if self._lock is not None:
            self._lock.unlock()
            self._lock = None
        self.stack.setCurrentWidget(self.welcome)
        self._update_title()
        self._update_actions()
        self.update_progress()
        self.project_closed.emit()

    def focus_label_view(self) -> None:
        """Put the keyboard focus on the record view, so the first key press labels."""
        panel = self.label_panel
        target = panel.record_text.editor if isinstance(panel, LabelPanel) else panel
        target.setFocus(Qt.FocusReason.OtherFocusReason)

    def show_records(self, ids: list) -> None:
        """Show records in the Label panel (a panel asked for them)."""
        panel = self.label_panel
        if hasattr(panel, "show_records"):
            self.tabs.setCurrentWidget(panel)
            panel.show_records(list(ids))

    def refresh_panels(self) -> None:
        """Anything may have changed (e.g. another window wrote): refresh every panel."""
        self.broadcast(Changes.everything())

    def broadcast(self, changes: Changes, origin: QWidget | None = None) -> None:
        """Hand an operation's changes to every panel but the one that made them; each
        panel refreshes at once if shown, else when next shown."""
        if self.project is None or not changes:
            return
        if changes.label_schema or changes.records:
            # An import or a merge runs on its own connection: labels it added are not
            # cached here.
            self.project.reload_labels()
        for title, panel in self.panels.items():
            if panel is origin:
                continue
            try:
                panel.refresh(changes)
            except Exception:  # one panel's failure must not stop the others
                log.exception("The %s panel failed to refresh", title)
        if changes.records or changes.settings:
            self._update_title()
        if changes.records or changes.record_ids is None or changes.label_schema:
            self.update_progress()
        elif changes.steps:
            me = default_annotator()
            for step in changes.steps:
                if step.annotator == me:
                    was = step.before is not None and step.before.status == "labelled"
                    now = step.after is not None and step.after.status == "labelled"
                    self._labelled += int(now) - int(was)
            self._set_progress(self._labelled, self._total)

    def _update_title(self) -> None:
        if self.project is None:
            self.setWindowTitle("Workbench")
        else:
            self.setWindowTitle(f"{self.project.name} — Workbench")
            self.setWindowFilePath(str(self.project.path))

    def _update_actions(self) -> None:
        has = self.project is not None
        for act in (self.act_import, self.act_export, self.act_merge, self.act_labels, self.act_close):
            act.setEnabled(has)
        self._undo_text_changed()

    # ----------------------------------------------------------------- status bar
    def update_annotator(self) -> None:
        self.annotator_label.setText(f"Annotator: {default_annotator()}")

    def _set_progress(self, labelled: int, total: int) -> None:
        self._labelled, self._total = labelled, total
        self.progress_label.setText(f"labelled {labelled:,} of {total:,}")

    def update_progress(self) -> None:
        """Recount this annotator's labelled records (when the panel does not report it)."""
        if self.project is None:
            self.progress_label.setText("")
            return
        try:
            total = self.project.record_count()
            labelled = labelled_count(self.project, default_annotator())
        except DATABASE_ERRORS as exc:
            log.warning("Cannot count progress: %s", exc)
            return
        self._set_progress(labelled, total)

    # ----------------------------------------------------------------- undo
    def _undo_stack(self) -> QUndoStack | None:
        """The Label panel's undo stack (None when the panel could not be created)."""
        panel = self.label_panel
        return panel.undo_stack if isinstance(panel, LabelPanel) else None

    def _undo(self) -> None:
        stack = self._undo_stack()
        if stack is not None:
            stack.undo()

    def _redo(self) -> None:
        stack = self._undo_stack()
        if stack is not None:
            stack.redo()

    def _undo_text_changed(self, *_args: object) -> None:
        stack = self._undo_stack()
        if stack is None:
            self.act_undo.setEnabled(False)
            self.act_redo.setEnabled(False)
            return
        undo, redo = stack.undoText(), stack.redoText()
        self.act_undo.setText(f"Undo {undo}\tCtrl+Z" if undo else "Undo\tCtrl+Z")
        self.act_redo.setText(f"Redo {redo}\tCtrl+Shift+Z" if redo else "Redo\tCtrl+Shift+Z")
        self.act_undo.setEnabled(stack.canUndo())
        self.act_redo.setEnabled(stack.canRedo())

    # ----------------------------------------------------------------- demo
    def open_demo_project(self) -> None:
        """Open the demo project, creating it first (in the background) if needed."""
        from workbench.core.data.demo import DemoConfig, create_demo_job
        from workbench.gui.project.demo import demo_project_path

        path = demo_project_path()
        if path.exists():
            self._demo_created(path)
            return
        if self._demo_job is not None and self._demo_job.is_running():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        self.show_status("Creating the demo project…")
        self._demo_job = run_in_thread(
            self, create_demo_job, path, DemoConfig(),
            on_done=self._demo_created, on_failed=self._demo_failed, name="demo",
        )

    def _demo_created(self, path: Any) -> None:
        self._demo_job = None
        if self.open_project(path):
            # Replaces "Creating the demo project…" and names the (hidden) folder.
            self.show_status(f"Demo project ready. It and its models live in {Path(path).parent}")

    def _demo_failed(self, exc: BaseException) -> None:
        self._demo_job = None
        self.show_error("Cannot create the demo project", str(exc))

    # ----------------------------------------------------------------- shutdown
    def shutdown(self) -> None:
        """Stop every panel's work and every background job, then close the project."""
        for title, panel in self.panels.items():
            try:
                panel.shutdown()
            except Exception:
                log.exception("The %s panel failed to shut down", title)
        if not stop_all(15_000):
            log.warning("Some background jobs did not stop in time")
        self.close_project()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self.save_settings()
        self.shutdown()
        super().closeEvent(event)

