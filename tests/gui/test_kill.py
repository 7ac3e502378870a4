"""Robustness: SIGKILL while labelling loses nothing shown as saved; two processes share a project."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from workbench.core.data.importer import import_rows
from workbench.core.store.project import Project

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

# Opens the real LabelPanel offscreen and labels records by key presses, printing
# "saved <id>" once each save is confirmed (committed, and the next record shown).
LABELLER = textwrap.dedent(
    """
    import os, sys
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication
    from workbench.core.store.project import Project
    from workbench.gui.label.label_panel import LabelPanel

    path, annotator, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
    app = QApplication([])
    project = Project.open(path)
    panel = LabelPanel()
    panel.annotator = annotator
    panel.show()
    panel.activateWindow()
    QTest.qWaitForWindowActive(panel)
    panel.set_project(project)
    keys = [Qt.Key.Key_1, Qt.Key.Key_2, Qt.Key.Key_3, Qt.Key.Key_S]
    done = 0
    while panel.current is not None and done < limit:
        record_id = panel.current.id
        before = panel.undo_stack.count()
        QTest.keyClick(panel.record_text.editor, keys[done % len(keys)])
        if panel.undo_stack.count() == before + 1 and panel.current is not None \\
                and panel.current.id != record_id:
            print(f"saved {record_id}", flush=True)
        elif panel.current is None:
            print(f"saved {record_id}", flush=True)
        else:
            print(f"not saved {record_id}", flush=True)
        done += 1
    print("finished", flush=True)
    """
)

def _project(path, n):
    project = Project.create(path, ["billing", "delivery", "account"])
    import_rows(project, [{"text": f"message {i} about an order"} for i in range(n)], text_col="text")
    project.close()


def _env():
    env = dict(os.environ)
    env["QT_QPA_PLATFORM"] = "offscreen"
    return env


def test_sigkill_loses_no_confirmed_annotation(tmp_path):
    path = tmp_path / "kill.wbproj"
    _project(path, 2000)
    script = tmp_path / "labeller.py"
    script.write_text(LABELLER)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(path), "killed", "100000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
    )
    saved: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while len(saved) < 150 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith("saved "):
                saved.append(int(line.split()[1]))
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    err = proc.stderr.read()
    assert proc.returncode == -signal.SIGKILL, err[-3000:]
    assert len(saved) >= 150, f"only {len(saved)} saves before the deadline: {err[-3000:]}"
    with Project.open(path) as project:
        assert project.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        missing = [rid for rid in saved if project.get_annotation(rid, "killed") is None]
        assert missing == []
        statuses = {project.get_annotation(rid, "killed").status for rid in saved}
        assert statuses == {"labelled", "skipped"}


def test_two_processes_label_the_same_project(tmp_path):
    """Two labelling processes write at once: both work, neither sees "database is locked"."""
    path = tmp_path / "shared.wbproj"
    _project(path, 300)
    labeller = tmp_path / "labeller.py"
    labeller.write_text(LABELLER)
    procs = [
        subprocess.Popen([sys.executable, str(labeller), str(path), name, "250"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
        for name in ("alice", "bob")
    ]
    outputs = [p.communicate(timeout=240) for p in procs]
    saved = {}
    for name, proc, (out, err) in zip(("alice", "bob"), procs, outputs, strict=True):
        assert proc.returncode == 0, f"{name} exited {proc.returncode}: {err[-3000:]}"
        assert "database is locked" not in err
        assert "not saved" not in out, out[-2000:]
        saved[name] = [int(line.split()[1]) for line in out.splitlines()
                       if line.startswith("saved ")]
        assert len(saved[name]) == 250
    with Project.open(path) as project:
        assert project.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        for name, ids in saved.items():
            assert all(project.get_annotation(rid, name) is not None for rid in ids)
        assert project.stats()["by_annotator"] == {"alice": 250, "bob": 250}
