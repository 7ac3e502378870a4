"""Robustness: SIGKILL while labelling spans in the real window loses no confirmed span."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from workbench.core.data.importer import add_texts
from workbench.core.store.project import Project
from workbench.core.store.spans import Span

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

# Opens the real main window offscreen on a spans project and labels each record by key
# presses: Ctrl+Shift+Right selects the first word, a label key marks it, Ctrl+Right twice
# and Ctrl+Shift+Right select the third word, another key marks it, Enter moves on. After
# each span the project is not consulted: the line printed says what the view confirmed
# (the span shown in the editor once the key press returned).
LABELLER = textwrap.dedent(
    """
    import json, os, sys
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QSettings, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication
    from workbench.gui.main_window import MainWindow

    path, settings_path = sys.argv[1], sys.argv[2]
    app = QApplication([])
    window = MainWindow(QSettings(settings_path, QSettings.Format.IniFormat))
    window.show_error = lambda title, text: print("error", text, flush=True)
    window.show()
    window.activateWindow()
    QTest.qWaitForWindowActive(window)
    assert window.open_project(path)
    panel = window.panels["Label"]
    panel.annotator = "killed"
    panel.set_project(panel.project)
    CTRL = Qt.KeyboardModifier.ControlModifier
    SHIFT = Qt.KeyboardModifier.ShiftModifier
    while panel.current is not None:
        editor = panel.record_text.editor
        editor.setFocus()
        rid = panel.current.id
        editor.set_caret(0)
        QTest.keyClick(editor, Qt.Key.Key_Right, CTRL | SHIFT)
        QTest.keyClick(editor, Qt.Key.Key_1)
        QTest.keyClick(editor, Qt.Key.Key_Right, CTRL)
        QTest.keyClick(editor, Qt.Key.Key_Right, CTRL)
        QTest.keyClick(editor, Qt.Key.Key_Right, CTRL | SHIFT)
        QTest.keyClick(editor, Qt.Key.Key_2)
        shown = [[s.start, s.end, s.label] for s in editor.spans]
        print("spans", rid, json.dumps(shown), flush=True)
        QTest.keyClick(editor, Qt.Key.Key_Return)
        if panel.current is None or panel.current.id != rid:
            print("done", rid, flush=True)
    print("finished", flush=True)
    """
)


def test_sigkill_during_span_labelling_loses_no_confirmed_span(tmp_path):
    path = tmp_path / "kill.wbproj"
    project = Project.create(path, ["drug", "dose", "condition"], task="spans")
    add_texts(project, [f"Aspirin {i} mg daily for pain number {i}" for i in range(3000)])
    project.close()
    script = tmp_path / "labeller.py"
    script.write_text(LABELLER)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.Popen(
        [sys.executable, str(script), str(path), str(tmp_path / "settings.ini")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    shown: dict[int, list[Span]] = {}
    done: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while len(done) < 60 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            kind, _, rest = line.rstrip("\n").partition(" ")
            if kind == "spans":
                rid, _, spans = rest.partition(" ")
                shown[int(rid)] = [Span(*s) for s in json.loads(spans)]
            elif kind == "done":
                done.append(int(rest))
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    err = proc.stderr.read()
    assert proc.returncode == -signal.SIGKILL, err[-3000:]
    assert len(done) >= 60, f"only {len(done)} records done before the deadline: {err[-3000:]}"
    with Project.open(path) as project:
        assert project.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        for rid, spans in shown.items():  # every span the view showed, done or not
            ann = project.get_annotation(rid, "killed")
            assert ann is not None, rid
            assert sorted(ann.spans) == sorted(spans), rid
            text = project.get_record(rid).text
            assert [text[s.start:s.end] for s in sorted(spans)] == ["Aspirin", "mg"], rid
        for rid in done:
            assert project.get_annotation(rid, "killed").status == "labelled"
