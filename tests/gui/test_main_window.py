"""The main window opens projects, renders, remembers recent files and survives bad input."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from PySide6.QtCore import QSettings

from workbench.core.data.demo import DEMO_LABELS, DemoConfig, create_demo_job
from workbench.gui.main_window import PANELS, MainWindow
from workbench.gui.preferences import PreferencesDialog
from workbench.gui.widgets.placeholder import PlaceholderPanel

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


def make_window(qtbot, settings):
    window = MainWindow(settings)
    window.errors = []
    window.show_error = lambda title, text: window.errors.append(text)
    qtbot.addWidget(window)
    return window


@pytest.fixture
def window(qtbot, settings):
    win = make_window(qtbot, settings)
    yield win
    win.close()


@pytest.fixture
def project_file(small_project):
    path = small_project.path
    small_project.close()
    return path


def test_tabs_in_contract_order_and_welcome_page_first(window):
    titles = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert titles == [p[0] for p in PANELS] == ["Label", "Train", "Deploy", "Inference", "Team", "Review", "Data"]
    assert window.stack.currentWidget() is window.welcome
    assert window.windowTitle() == "Workbench"
    assert not window.act_import.isEnabled() and not window.act_labels.isEnabled()
    for panel in window.panels.values():
        if isinstance(panel, PlaceholderPanel):
            assert "coming soon" in panel.findChildren(type(window.annotator_label))[0].text()


def _distinct_colours(image, step=17):
    colours = set()
    for x in range(0, image.width(), step):
        for y in range(0, image.height(), step):
            colours.add(image.pixel(x, y))
    return colours


def test_opens_project_into_label_panel_and_renders(window, project_file, tmp_path):
    window.resize(1200, 800)
    window.show()
    assert window.open_project(project_file)
    assert window.errors == []
    assert window.stack.currentWidget() is window.tabs
    assert window.tabs.currentWidget() is window.label_panel
    assert window.windowTitle() == "small — Workbench"
    assert window.annotator_label.text() == "Annotator: tester"
    assert window.progress_label.text() == "labelled 0 of 5"
    assert window.act_import.isEnabled() and window.act_export.isEnabled()
    for i in range(window.tabs.count()):
        window.tabs.setCurrentIndex(i)
        image = window.grab().toImage()
        out = tmp_path / f"tab-{i}.png"
        assert image.save(str(out))
        assert out.stat().st_size > 1000
        assert len(_distinct_colours(image)) > 5, f"tab {window.tabs.tabText(i)} looks blank"


def test_recent_files_persist_and_reopen(qtbot, settings, project_file, tmp_path):
    first = make_window(qtbot, settings)
    assert first.open_project(project_file)
    first.close()
    second = make_window(qtbot, QSettings(settings.fileName(), QSettings.Format.IniFormat))
    assert second.recent_projects() == [str(project_file.resolve())]
    assert second.welcome.recent_list.count() == 1
    second.recent_menu.aboutToShow.emit()
    actions = [a for a in second.recent_menu.actions() if a.data()]
    assert [a.data() for a in actions] == [str(project_file.resolve())]
    actions[0].trigger()
    assert second.project is not None and second.project.path == project_file
    second.close()


def test_corrupt_and_missing_files_show_an_error(window, project_file, tmp_path):
    assert window.open_project(project_file)
    bad = tmp_path / "broken.wbproj"
    bad.write_bytes(b"this is not a database at all" * 100)
    assert not window.open_project(bad)
    assert "not a Workbench project" in window.errors[-1]
    assert window.project is not None and window.project.path == project_file  # kept
    damaged = tmp_path / "damaged.wbproj"
    damaged.write_bytes(project_file.read_bytes()[:200])
    assert not window.open_project(damaged)
    assert len(window.errors) == 2
    missing = tmp_path / "gone.wbproj"
    window.remember_recent(missing)
    assert not window.open_project(missing)
    assert "does not exist" in window.errors[-1]
    assert str(missing.resolve()) not in window.recent_projects()


def test_second_window_on_same_project_works(qtbot, settings, project_file):
    one = make_window(qtbot, settings)
    two = make_window(qtbot, settings)
    assert one.open_project(project_file)
    assert two.open_project(project_file)
    assert "also open in another Workbench window" in two.statusBar().currentMessage()
    one.project.annotate(1, ["billing"])
    two.project.annotate(2, ["delivery"])
    two.refresh_panels()
    assert two.progress_label.text() == "labelled 2 of 5"
    one.close()
    two.close()


def test_close_project_returns_to_welcome(window, project_file):
    assert window.open_project(project_file)
    window.act_close.trigger()
    assert window.project is None
    assert window.stack.currentWidget() is window.welcome
    assert window.windowTitle() == "Workbench"


def test_demo_project_is_created_and_opened(qtbot, window):
    with qtbot.waitSignal(window.project_opened, timeout=30_000) as blocker:
        window.welcome.demo_button.click()
    path = blocker.args[0]
    assert window.project is not None
    assert window.project.name == "Support messages (demo)"
    labels = window.project.labels()
    assert [(lab.name, lab.guideline) for lab in labels] == DEMO_LABELS
    stats = window.project.stats()
    assert stats["records"] >= 300
    assert 0 < stats["labelled"] < stats["records"]
    # A second time it opens the same file instead of creating another.
    window.close_project()
    with qtbot.waitSignal(window.project_opened, timeout=10_000) as again:
        window.act_demo.trigger()
    assert again.args[0] == path


def test_demo_creation_cancel_leaves_nothing(tmp_path):
    target = tmp_path / "demo.wbproj"
    from workbench.core.errors import Cancelled

    calls = iter([False, True, True])
    with pytest.raises(Cancelled):
        create_demo_job(target, DemoConfig(), should_stop=lambda: next(calls, True))
    assert list(tmp_path.iterdir()) == []


def test_edit_menu_undo_follows_label_panel(window, project_file):
    panel = window.label_panel
    if not hasattr(panel, "press_label"):
        pytest.skip("the Label panel is not available")
    assert window.open_project(project_file)
    assert not window.act_undo.isEnabled()
    panel.press_label("billing")
    assert window.project.get_annotation(1).labels == ("billing",)
    assert window.act_undo.isEnabled()
    assert window.act_undo.text().startswith("Undo ")
    window.act_undo.trigger()
    assert window.project.get_annotation(1) is None
    assert window.act_redo.isEnabled()
    window.act_redo.trigger()
    assert window.project.get_annotation(1).labels == ("billing",)


def test_preferences_change_annotator(qtbot, window, project_file, monkeypatch):
    monkeypatch.setenv("WORKBENCH_ANNOTATOR", "tester")
    assert window.open_project(project_file)
    dialog = PreferencesDialog(window.settings, window)
    qtbot.addWidget(dialog)
    assert dialog.annotator_edit.placeholderText() == "tester (default)"
    dialog.annotator_edit.setText("  maria ")
    dialog.record_font_spin.setValue(18)
    dialog.accepted.connect(window.preferences_changed)
    dialog.accept()
    assert os.environ["WORKBENCH_ANNOTATOR"] == "maria"
    assert window.annotator_label.text() == "Annotator: maria"
    assert window.settings.value("preferences/annotator") == "maria"
    # Clearing the name goes back to the default.
    dialog2 = PreferencesDialog(window.settings, window)
    qtbot.addWidget(dialog2)
    assert dialog2.annotator_edit.text() == "maria"
    assert dialog2.record_font_spin.value() == 18
    dialog2.annotator_edit.setText("")
    dialog2.accept()
    window.preferences_changed()
    assert os.environ["WORKBENCH_ANNOTATOR"] == "tester"


_RUN_APP_SCRIPT = """
import json, sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from workbench.gui.app import make_application, run_app
from workbench.gui.main_window import MainWindow

make_application()  # the timer below needs the application's event loop

seen = {}

def inspect():
    win = next(w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow))
    seen["title"] = win.windowTitle()
    seen["tab"] = win.tabs.tabText(win.tabs.currentIndex())
    focus = win.focusWidget()  # the window's focus (offscreen windows are never active)
    seen["focus_in_label"] = focus is not None and win.label_panel.isAncestorOf(focus)
    seen["icon"] = not QApplication.windowIcon().isNull()
    seen["style"] = "QTabBar" in QApplication.instance().styleSheet()
    seen["org"] = QApplication.organizationName()
    win.close()

QTimer.singleShot(300, inspect)
code = run_app([sys.argv[1]])
print("RESULT " + json.dumps(seen))
sys.exit(code)
"""


def test_run_app_opens_project_with_focus_in_label_panel(project_file):
    # A real start-up in its own process: QApplication.exec() must not run inside pytest's.
    result = subprocess.run(
        [sys.executable, "-c", _RUN_APP_SCRIPT, str(project_file)],
        capture_output=True, text=True, timeout=60, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT "))
    seen = json.loads(line[len("RESULT "):])
    assert seen == {
        "title": "small — Workbench", "tab": "Label", "focus_in_label": True,
        "icon": True, "style": True, "org": "Workbench",
    }


def test_label_editor_from_edit_menu_updates_label_panel(qtbot, window, project_file):
    from PySide6.QtWidgets import QAbstractButton

    from workbench.gui.label.label_editor import LabelEditorDialog

    assert window.open_project(project_file)
    window.act_labels.trigger()
    dialog = window.findChild(LabelEditorDialog)
    assert dialog is not None and dialog.isVisible()
    assert dialog.rename_label("billing", "payments")
    assert window.project.label_names()[0] == "payments"
    qtbot.wait(50)  # let replaced buttons be deleted
    texts = " ".join(
        b.text() for b in window.label_panel.findChildren(QAbstractButton)
        if b.isVisibleTo(window.label_panel)
    )
    if isinstance(window.label_panel, PlaceholderPanel):
        pytest.skip("the Label panel is not available")
    assert "payments" in texts and "billing" not in texts
    dialog.close()


def test_import_from_file_menu_refreshes_window(qtbot, window, project_file, support_csv):
    from workbench.gui.project.import_dialog import ImportDialog

    assert window.open_project(project_file)
    window.act_import.trigger()
    dialog = window.findChild(ImportDialog)
    assert dialog is not None and dialog.isVisible()
    assert dialog.mapper.set_file(support_csv)
    dialog.mapper.set_mapping("text", "id", None)
    with qtbot.waitSignal(dialog.imported, timeout=20_000):
        dialog.import_button.click()
    assert window.project.record_count() == 14
    assert window.progress_label.text() == "labelled 0 of 14"
    assert "9 records added" in window.statusBar().currentMessage()


def test_geometry_persists(qtbot, settings):
    first = make_window(qtbot, settings)
    first.show()
    first.resize(780, 640)  # fits the offscreen screen (800x800)
    first.close()
    second = make_window(qtbot, QSettings(settings.fileName(), QSettings.Format.IniFormat))
    assert (second.width(), second.height()) == (780, 640)
    second.close()


def test_other_panels_refresh_when_shown_after_labelling(window, project_file):
    panel = window.label_panel
    if not hasattr(panel, "press_label"):
        pytest.skip("the Label panel is not available")
    calls = []
    train = window.panels["Train"]
    train.warm_up_on_show = False
    window.show()
    assert window.open_project(project_file)
    # The hidden panel's refresh waits until it is shown.
    train._refresh_shown = lambda changes: calls.append("Train")
    panel.press_label("billing")
    assert calls == []  # nothing refreshes while the user is labelling
    window.tabs.setCurrentWidget(train)
    assert calls == ["Train"]
    window.tabs.setCurrentWidget(panel)
    window.tabs.setCurrentWidget(train)
    assert calls == ["Train"]  # nothing changed since


def test_keyboard_undo_in_label_view_is_not_ambiguous(qtbot, window, project_file):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    panel = window.label_panel
    if not hasattr(panel, "press_label"):
        pytest.skip("the Label panel is not available")
    window.show()
    assert window.open_project(project_file)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5_000)
    target = window.focusWidget()
    assert target is not None and panel.isAncestorOf(target)
    qtbot.keyClick(target, Qt.Key.Key_1)
    assert window.project.get_annotation(1).labels == ("billing",)
    qtbot.keyClick(window.focusWidget(), Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.project.get_annotation(1) is None
    qtbot.keyClick(
        window.focusWidget(), Qt.Key.Key_Z,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    assert window.project.get_annotation(1).labels == ("billing",)


def test_label_changes_refresh_the_shown_panel_now_and_others_later(window, project_file):
    window.panels["Train"].warm_up_on_show = False
    window.show()
    assert window.open_project(project_file)
    calls = []
    for title in ("Label", "Team"):
        window.panels[title]._refresh_shown = lambda changes, t=title: calls.append(t)
    window.tabs.setCurrentWidget(window.label_panel)
    window.refresh_panels()
    assert calls == ["Label"]
    window.tabs.setCurrentWidget(window.panels["Team"])
    assert calls == ["Label", "Team"]


def test_a_panel_change_reaches_the_other_panels(window, project_file):
    from workbench.core.store.changes import Changes

    assert window.open_project(project_file)
    seen = []
    for title in ("Label", "Train", "Team"):
        window.panels[title].refresh = lambda changes, t=title: seen.append((t, changes))
    changes = Changes(final_labels=True, record_ids=frozenset({1}))
    window.panels["Team"].changed.emit(changes)
    assert seen == [("Label", changes), ("Train", changes)]  # not back to the sender


def test_progress_follows_labels_undo_and_fixes_elsewhere(window, project_file):
    from workbench.core.store import operations

    assert window.open_project(project_file)
    label = window.label_panel
    start = window.progress_label.text()
    assert start.startswith("labelled 0 of ")
    label.press_label("billing")
    assert window.progress_label.text().startswith("labelled 1 of ")
    window._undo()
    assert window.progress_label.text() == start
    window._redo()
    assert window.progress_label.text().startswith("labelled 1 of ")
    # A change made by another panel reaches the Label panel's counts and the status bar.
    changes = operations.annotate(window.project, 5, ["delivery"])
    window.panels["Review"].changed.emit(changes)
    assert window.progress_label.text().startswith("labelled 2 of ")
    assert label.counts.by_label["delivery"] == 1
