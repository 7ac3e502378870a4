"""First-hour problems a new user met, each held by a test: empty texts reported after
New project, the demo's folder named, visible feedback from "Open bundle folder", the log
file named in the error message."""
from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings

from workbench.core.data.importer import import_rows
from workbench.core.store.project import Project
from workbench.gui.main_window import MainWindow

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def window(qtbot, tmp_path):
    win = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    win.errors = []
    win.show_error = lambda title, text: win.errors.append(text)
    qtbot.addWidget(win)
    yield win
    win.close()


def test_empty_texts_are_reported_when_the_wizard_creates_a_project(window, tmp_path):
    path = tmp_path / "new.wbproj"
    project = Project.create(path, ["a", "b"])
    report = import_rows(project, [{"text": "hello"}, {"text": "   "}, {"text": "bye"}],
                         text_col="text")
    project.close()
    assert report.empty == 1
    window.project_created(str(path), report)
    assert window.project is not None
    assert "1 empty texts skipped" in window.statusBar().currentMessage()


def test_the_demo_folder_is_named(window, tmp_path):
    path = tmp_path / "demo" / "Support demo.wbproj"
    path.parent.mkdir()
    Project.create(path, ["a", "b"]).close()
    window.show_status("Creating the demo project…")
    window._demo_created(path)  # noqa: SLF001 - the demo job's completion slot
    message = window.statusBar().currentMessage()
    assert "Creating the demo" not in message and str(path.parent) in message


def test_open_bundle_folder_without_a_file_manager_says_where(qtbot, tmp_path, monkeypatch):
    from PySide6.QtGui import QDesktopServices
    from PySide6.QtWidgets import QApplication

    from workbench.gui.deploy.deploy_panel import DeployPanel

    panel = DeployPanel()
    qtbot.addWidget(panel)
    panel.bundle_dir = tmp_path / "bundle"
    messages = []
    panel.status_message.connect(messages.append)
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: False)  # no file manager
    panel.open_bundle_folder()
    assert str(panel.bundle_dir) in panel.message_label.text()
    assert messages and str(panel.bundle_dir) in messages[-1]
    assert QApplication.clipboard().text() == str(panel.bundle_dir)
    panel.shutdown()


def test_error_message_names_the_log_file(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox, QWidget

    from workbench.gui import app

    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: shown.append(text))
    parent = QWidget()
    qtbot.addWidget(parent)
    reporter = app._ErrorReporter(parent, tmp_path / "workbench.log")  # noqa: SLF001
    try:
        raise ValueError("boom")
    except ValueError as exc:
        reporter(ValueError, exc, exc.__traceback__)
    assert shown and str(tmp_path / "workbench.log") in shown[0]
