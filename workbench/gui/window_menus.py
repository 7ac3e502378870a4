"""The main window's File and Edit menu actions: recent projects and the dialogs."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog

from workbench.core.project_operations import IMPORTED, LABEL_SCHEMA_CHANGED
from workbench.core.store.project import PROJECT_SUFFIX, default_annotator
from workbench.gui.label.label_panel import LabelPanel
from workbench.gui.preferences import (
    PreferencesDialog,
    apply_preferences,
    record_font_size_setting,
)

if TYPE_CHECKING:
    from workbench.gui.main_window import MainWindow

__all__ = ["MAX_RECENT", "PROJECT_FILTER", "RECENT_KEY", "WindowMenuActions"]

MAX_RECENT = 10
RECENT_KEY = "recent_projects"
PROJECT_FILTER = f"Workbench projects (*{PROJECT_SUFFIX});;All files (*)"


class WindowMenuActions:
    """Recent projects and the dialogs of :class:`~workbench.gui.main_window.MainWindow`."""

    # ----------------------------------------------------------------- recent projects
    def recent_projects(self: MainWindow) -> list[str]:
        """Recently opened project paths, newest first."""
        value = self.settings.value(RECENT_KEY, [])
        if isinstance(value, str):  # QSettings returns a lone item as a string
            value = [value]
        return [str(v) for v in (value or []) if v]

    def remember_recent(self: MainWindow, path: Path) -> None:
        text = str(Path(path).resolve())
        recent = [p for p in self.recent_projects() if p != text]
        self.settings.setValue(RECENT_KEY, [text, *recent][:MAX_RECENT])
        self.settings.sync()
        self.welcome.set_recent(self.recent_projects())

    def forget_recent(self: MainWindow, path: str) -> None:
        text = str(Path(path).resolve())
        self.settings.setValue(RECENT_KEY, [p for p in self.recent_projects() if p != text])
        self.welcome.set_recent(self.recent_projects())

    def fill_recent_menu(self: MainWindow) -> None:
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

    def _recent_triggered(self: MainWindow) -> None:
        act = self.sender()
        if isinstance(act, QAction):
            self.open_project(str(act.data()))

    def _clear_recent(self: MainWindow) -> None:
        self.settings.setValue(RECENT_KEY, [])
        self.welcome.set_recent([])

    # ----------------------------------------------------------------- dialogs
    def new_project(self: MainWindow) -> None:
        from workbench.gui.project.new_project_wizard import NewProjectWizard

        wizard = NewProjectWizard(self)
        wizard.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        wizard.project_created.connect(lambda path, w=wizard: self.project_created(path, w.report))
        wizard.open()

    def open_project_dialog(self: MainWindow) -> None:
        start = self.recent_projects()[0] if self.recent_projects() else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open project", str(Path(start).parent) if start else "", PROJECT_FILTER)
        if path:
            self.open_project(path)

    def import_data(self: MainWindow) -> None:
        if self.project is None:
            return
        from workbench.gui.project.import_dialog import ImportDialog

        dialog = ImportDialog(self.project, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.imported.connect(self._imported)
        dialog.open()

    def merge_project(self: MainWindow) -> None:
        """File > Merge…: the Team panel asks for the file and merges in the background."""
        team = self.panels.get("Team")
        if self.project is None or not hasattr(team, "merge_dialog"):
            return
        self.tabs.setCurrentWidget(team)
        team.merge_dialog()

    def project_created(self: MainWindow, path: str, report: Any) -> None:
        """Open a project the wizard created and say what its import did (empty texts
        skipped included)."""
        self.open_project(path)
        if report is not None:
            self.show_status(f"Project created: {report.summary()}.")

    def _imported(self: MainWindow, report: Any) -> None:
        self.broadcast(IMPORTED)
        self.show_status(f"Import finished: {report.summary()}.")

    def export_labels(self: MainWindow) -> None:
        if self.project is None:
            return
        from workbench.gui.project.export_dialog import ExportDialog

        dialog = ExportDialog(self.project, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.exported.connect(self._exported)
        dialog.open()

    def _exported(self: MainWindow, summary: Any) -> None:
        self.show_status(summary.summary() if hasattr(summary, "summary") else "Export finished.")

    def edit_labels(self: MainWindow) -> None:
        if self.project is None:
            return
        from workbench.gui.label.label_editor import LabelEditorDialog

        dialog = LabelEditorDialog(self.project, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.labels_changed.connect(lambda: self.broadcast(LABEL_SCHEMA_CHANGED))
        dialog.open()

    def edit_preferences(self: MainWindow) -> None:
        dialog = PreferencesDialog(self.settings, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(self.preferences_changed)
        dialog.open()

    def preferences_changed(self: MainWindow) -> None:
        """Apply stored preferences: annotator name everywhere, text sizes."""
        apply_preferences(self.settings)
        self.update_annotator()
        self.apply_record_font()
        name = default_annotator()
        for panel in self.panels.values():
            panel.set_annotator(name)
        self.update_progress()

    def apply_record_font(self: MainWindow) -> None:
        panel = self.label_panel
        size = record_font_size_setting(self.settings)
        if isinstance(panel, LabelPanel) and size > 0:
            panel.set_font_size(size)
