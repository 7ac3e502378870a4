"""The main window: menus, a welcome page, the panel tabs and the status bar.

It is a shell: every panel is its own module, imported if present (a short placeholder
says what will be there otherwise), and all of them share the GUI thread's ``Project``.
"""
from __future__ import annotations

import importlib
import logging
import sqlite3
from pathlib import Path
from typing import Any

from PySide6.QtCore import QLockFile, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QTabWidget,
    QWidget,
)

from workbench.core.errors import ProjectError
from workbench.core.store.project import PROJECT_SUFFIX, Project, default_annotator
from workbench.gui.preferences import (
    PreferencesDialog,
    apply_preferences,
    record_font_size_setting,
)
from workbench.gui.widgets.placeholder import PlaceholderPanel, WelcomePage
from workbench.gui.widgets.workers import JobHandle, run_in_thread, stop_all

__all__ = ["MainWindow", "PANELS", "MAX_RECENT", "load_panel"]

log = logging.getLogger(__name__)

MAX_RECENT = 10
RECENT_KEY = "recent_projects"
PROJECT_FILTER = f"Workbench projects (*{PROJECT_SUFFIX});;All files (*)"

#: (tab title, module, class, what the tab will hold when the module is missing)
PANELS: list[tuple[str, str, str, str]] = [
    ("Label", "workbench.gui.label.label_panel", "LabelPanel",
     "Label records one after another with the keyboard, browse and search them."),
    ("Train", "workbench.gui.train.train_panel", "TrainPanel",
     "Fine-tune a classifier on your labels and compare the runs' results."),
    ("Deploy", "workbench.gui.deploy.deploy_panel", "DeployPanel",
     "Export a trained model as a small, quantized ONNX bundle that runs anywhere."),
    ("Inference", "workbench.gui.deploy.inference_panel", "InferencePanel",
     "Try a model on your own text and classify whole files."),
    ("Team", "workbench.gui.team.team_panel", "TeamPanel",
     "Share the work among annotators and measure how much they agree."),
    ("Review", "workbench.gui.review.review_panel", "ReviewPanel",
     "Review flagged records, disagreements and the model's likely mistakes."),
]

BUSY_MESSAGE = (
    "The project is busy in another Workbench window or process (it is writing a lot at "
    "once, e.g. an import). Nothing was lost; try again in a moment."
)


def _busy(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc).lower()


def load_panel(title: str, module_name: str, class_name: str, description: str) -> QWidget:
    """The panel widget, or a placeholder when its module is missing or broken."""
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return PlaceholderPanel(title, description)
        log.exception("Cannot load the %s panel", title)
        return PlaceholderPanel(title, description, f"This panel could not be loaded: {exc}")
    except Exception as exc:  # a broken panel must not take the whole app down
        log.exception("Cannot load the %s panel", title)
        return PlaceholderPanel(title, description, f"This panel could not be loaded: {exc}")
    try:
        return getattr(module, class_name)(parent=None)
    except Exception as exc:
        log.exception("Cannot create the %s panel", title)
        return PlaceholderPanel(title, description, f"This panel could not be created: {exc}")


class MainWindow(QMainWindow):
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
        for title, module, cls, description in PANELS:
            panel = load_panel(title, module, cls, description)
            self.panels[title] = panel
            self.tabs.addTab(panel, title)
            self._connect_panel(panel)
        self._stale: set[str] = set()
        self.tabs.currentChanged.connect(self._tab_changed)
        self.stack.addWidget(self.welcome)
        self.stack.addWidget(self.tabs)
        self.setCentralWidget(self.stack)

        self._build_menus()
        self._build_status_bar()
        self._progress_timer = QTimer(self)
        self._progress_timer.setSingleShot(True)
        self._progress_timer.setInterval(800)
        self._progress_timer.timeout.connect(self.update_progress)
        self._restore_window()
        self._apply_record_font()
        self._update_actions()
        self.welcome.set_recent(self.recent_projects())

    # ----------------------------------------------------------------- building
    @property
    def label_panel(self) -> QWidget:
        return self.panels["Label"]

    def _connect_panel(self, panel: QWidget) -> None:
        status = getattr(panel, "status_message", None)
        if status is not None:
            status.connect(self.show_status)
        opener = getattr(panel, "open_records", None)
        if opener is not None:
            opener.connect(self.show_records)
        progress = getattr(panel, "progress_changed", None)
        if progress is not None:
            progress.connect(self._panel_progress)
        relabelled = getattr(panel, "labels_changed", None)
        if relabelled is not None and panel is not self.panels.get("Label"):
            # Annotations saved elsewhere (e.g. a review fix): the Label panel re-reads them.
            relabelled.connect(self._annotations_changed_elsewhere)
        suggested = getattr(panel, "suggestions_changed", None)
        if suggested is not None:
            suggested.connect(self._suggestions_changed)
        changed = getattr(panel, "data_changed", None)
        if changed is not None:
            changed.connect(self.refresh_panels)
        stack = getattr(panel, "undo_stack", None)
        if stack is not None:
            stack.indexChanged.connect(self._schedule_progress)
            stack.indexChanged.connect(self._annotations_changed)

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
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
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
        stack = getattr(self.label_panel, "undo_stack", None)
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
        self._update_annotator()

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

    def recent_projects(self) -> list[str]:
        """Recently opened project paths, newest first."""
        value = self.settings.value(RECENT_KEY, [])
        if isinstance(value, str):  # QSettings returns a lone item as a string
            value = [value]
        return [str(v) for v in (value or []) if v]

    def _remember(self, path: Path) -> None:
        text = str(Path(path).resolve())
        recent = [p for p in self.recent_projects() if p != text]
        self.settings.setValue(RECENT_KEY, [text, *recent][:MAX_RECENT])
        self.settings.sync()
        self.welcome.set_recent(self.recent_projects())

    def _forget(self, path: str) -> None:
        text = str(Path(path).resolve())
        self.settings.setValue(RECENT_KEY, [p for p in self.recent_projects() if p != text])
        self.welcome.set_recent(self.recent_projects())

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.recent_projects()
        if not recent:
            empty = self.recent_menu.addAction("No recent projects")
            empty.setEnabled(False)
            return
        for i, path in enumerate(recent, start=1):
            act = self.recent_menu.addAction(f"&{i % 10}  {Path(path).name}")
            act.setToolTip(path)
            act.setData(path)
            act.triggered.connect(self._recent_triggered)
        self.recent_menu.addSeparator()
        self.recent_menu.addAction("Clear list", self._clear_recent)

    def _recent_triggered(self) -> None:
        act = self.sender()
        if isinstance(act, QAction):
            self.open_project(str(act.data()))

    def _clear_recent(self) -> None:
        self.settings.setValue(RECENT_KEY, [])
        self.welcome.set_recent([])

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
                self._forget(str(path))
            self.show_error("Cannot open project", str(exc))
            return False
        except sqlite3.DatabaseError as exc:
            self.show_error("Cannot open project", BUSY_MESSAGE if _busy(exc) else f"{path}: {exc}")
            return False
        self.close_project()
        self.project = project
        self._stale.clear()
        self._take_lock(path)
        failed = []
        for title, panel in self.panels.items():
            try:
                panel.set_project(project)
            except Exception as exc:  # one panel's failure must not stop the others
                log.exception("The %s panel could not show %s", title, path)
                failed.append(f"{title}: {BUSY_MESSAGE if _busy(exc) else exc}")
        self._remember(path)
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
        target = getattr(getattr(panel, "record_text", None), "editor", None)
        (target if isinstance(target, QWidget) else panel).setFocus(Qt.FocusReason.OtherFocusReason)

    def show_records(self, ids: list) -> None:
        """Show records in the Label panel (a panel asked for them)."""
        panel = self.label_panel
        if hasattr(panel, "show_records"):
            self.tabs.setCurrentWidget(panel)
            panel.show_records(list(ids))

    def refresh_panels(self) -> None:
        """Data or labels changed: refresh the panel on show now, the others when shown."""
        if self.project is not None:
            # An import runs on its own connection; labels it added are not cached here.
            self.project.reload_labels()
        self._stale = set(self.panels)
        self._refresh_if_stale(self.tabs.tabText(self.tabs.currentIndex()))
        self._update_title()
        self.update_progress()

    def _annotations_changed_elsewhere(self, *_args: object) -> None:
        self._stale = set(self.panels) - {self.tabs.tabText(self.tabs.currentIndex())}
        self._schedule_progress()

    def _suggestions_changed(self, *_args: object) -> None:
        label = self.panels.get("Label")
        reload = getattr(label, "reload_suggestion", None)
        if reload is not None:
            reload()

    def _annotations_changed(self, *_args: object) -> None:
        """Labels were saved or undone: the other panels refresh when next shown."""
        self._stale = {title for title in self.panels if title != "Label"}

    def _tab_changed(self, index: int) -> None:
        self._refresh_if_stale(self.tabs.tabText(index))

    def _refresh_if_stale(self, title: str) -> None:
        if title not in self._stale or self.project is None:
            return
        self._stale.discard(title)
        refresh = getattr(self.panels.get(title), "refresh", None)
        if refresh is not None:
            try:
                refresh()
            except Exception:
                log.exception("The %s panel failed to refresh", title)

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
    def _update_annotator(self) -> None:
        self.annotator_label.setText(f"Annotator: {default_annotator()}")

    def _panel_progress(self, labelled: int, total: int) -> None:
        self._progress_timer.stop()
        self._set_progress(labelled, total)

    def _set_progress(self, labelled: int, total: int) -> None:
        self.progress_label.setText(f"labelled {labelled:,} of {total:,}")

    def _schedule_progress(self, *_args: object) -> None:
        if getattr(self.label_panel, "progress_changed", None) is None:
            self._progress_timer.start()

    def update_progress(self) -> None:
        """Recount this annotator's labelled records (when the panel does not report it)."""
        if self.project is None:
            self.progress_label.setText("")
            return
        try:
            total = self.project.record_count()
            labelled = self.project.db.execute(
                "SELECT count(*) FROM annotations WHERE annotator = ? AND status = 'labelled'",
                [default_annotator()],
            ).fetchone()[0]
        except sqlite3.DatabaseError as exc:
            log.warning("Cannot count progress: %s", exc)
            return
        self._set_progress(labelled, total)

    # ----------------------------------------------------------------- undo
    def _undo(self) -> None:
        stack = getattr(self.label_panel, "undo_stack", None)
        if stack is not None:
            stack.undo()

    def _redo(self) -> None:
        stack = getattr(self.label_panel, "undo_stack", None)
        if stack is not None:
            stack.redo()

    def _undo_text_changed(self, *_args: object) -> None:
        stack = getattr(self.label_panel, "undo_stack", None)
        if stack is None:
            self.act_undo.setEnabled(False)
            self.act_redo.setEnabled(False)
            return
        undo, redo = stack.undoText(), stack.redoText()
        self.act_undo.setText(f"Undo {undo}\tCtrl+Z" if undo else "Undo\tCtrl+Z")
        self.act_redo.setText(f"Redo {redo}\tCtrl+Shift+Z" if redo else "Redo\tCtrl+Shift+Z")
        self.act_undo.setEnabled(stack.canUndo())
        self.act_redo.setEnabled(stack.canRedo())

    # ----------------------------------------------------------------- dialogs
    def new_project(self) -> None:
        from workbench.gui.project.new_project_wizard import NewProjectWizard

        wizard = NewProjectWizard(self)
        wizard.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        wizard.project_created.connect(self.open_project)
        wizard.open()

    def open_project_dialog(self) -> None:
        start = self.recent_projects()[0] if self.recent_projects() else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open project", str(Path(start).parent) if start else "", PROJECT_FILTER)
        if path:
            self.open_project(path)

    def import_data(self) -> None:
        if self.project is None:
            return
        from workbench.gui.project.import_dialog import ImportDialog

        dialog = ImportDialog(self.project, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.imported.connect(self._imported)
        dialog.open()

    def merge_project(self) -> None:
        """File > Merge…: the Team panel asks for the file and merges in the background."""
        team = self.panels.get("Team")
        if self.project is None or not hasattr(team, "merge_dialog"):
            return
        self.tabs.setCurrentWidget(team)
        team.merge_dialog()

    def _imported(self, report: Any) -> None:
        self.refresh_panels()
        self.show_status(f"Import finished: {report.summary()}.")

    def export_labels(self) -> None:
        if self.project is None:
            return
        from workbench.gui.project.export_dialog import ExportDialog

        dialog = ExportDialog(self.project, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.exported.connect(self._exported)
        dialog.open()

    def _exported(self, summary: Any) -> None:
        self.show_status(summary.summary() if hasattr(summary, "summary") else "Export finished.")

    def edit_labels(self) -> None:
        if self.project is None:
            return
        from workbench.gui.label.label_editor import LabelEditorDialog

        dialog = LabelEditorDialog(self.project, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.labels_changed.connect(self.refresh_panels)
        dialog.open()

    def edit_preferences(self) -> None:
        dialog = PreferencesDialog(self.settings, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(self.preferences_changed)
        dialog.open()

    def preferences_changed(self) -> None:
        """Apply stored preferences: annotator name everywhere, text sizes."""
        apply_preferences(self.settings)
        self._update_annotator()
        self._apply_record_font()
        name = default_annotator()
        for panel in self.panels.values():
            setter = getattr(panel, "set_annotator", None)
            if setter is not None:
                setter(name)
        self.update_progress()

    def _apply_record_font(self) -> None:
        setter = getattr(self.label_panel, "set_font_size", None)
        size = record_font_size_setting(self.settings)
        if setter is not None and size > 0:
            setter(size)

    # ----------------------------------------------------------------- demo
    def open_demo_project(self) -> None:
        """Open the demo project, creating it first (in the background) if needed."""
        from workbench.core.data.demo import DemoConfig, create_demo_job
        from workbench.gui.app import demo_project_path

        path = demo_project_path()
        if path.exists():
            self.open_project(path)
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
        self.open_project(path)

    def _demo_failed(self, exc: BaseException) -> None:
        self._demo_job = None
        self.show_error("Cannot create the demo project", str(exc))

    # ----------------------------------------------------------------- shutdown
    def shutdown(self) -> None:
        """Stop every panel's work and every background job, then close the project."""
        for title, panel in self.panels.items():
            stop = getattr(panel, "shutdown", None)
            if stop is None:
                continue
            try:
                stop()
            except Exception:
                log.exception("The %s panel failed to shut down", title)
        if not stop_all(15_000):
            log.warning("Some background jobs did not stop in time")
        self.close_project()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self.save_settings()
        self.shutdown()
        super().closeEvent(event)

