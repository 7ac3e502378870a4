"""The app and the CLI on one open project: nothing the window showed as saved is lost.

A CLI command (or a worker thread) opening the project by path used to close a second
descriptor of the file, which drops every POSIX lock of the app's process; the CLI then
believed it was the last user, checkpointed and deleted the write-ahead log, and the app
went on writing labels into a deleted file.
"""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from workbench.core.data.importer import add_texts, import_rows
from workbench.core.store.project import Project

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and /proc are POSIX")

# The real main window, offscreen. Commands on stdin: "label N" presses N label keys and
# prints "saved <id>" for each save the window confirmed; "worker" opens and closes the
# project by path on a worker thread, as background jobs do.
APP = textwrap.dedent(
    """
    import os, sys, threading
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication
    from workbench.core.store.project import Project
    from workbench.gui.main_window import MainWindow

    app = QApplication([])
    window = MainWindow()
    window.show_error = lambda title, text: print("error", text, flush=True)
    window.show()
    window.activateWindow()
    QTest.qWaitForWindowActive(window)
    assert window.open_project(sys.argv[1])
    panel = window.label_panel
    print("ready", flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if cmd[0] == "label":
            for i in range(int(cmd[1])):
                record_id = panel.current.id
                QTest.keyClick(panel.record_text.editor, (Qt.Key.Key_1, Qt.Key.Key_2)[i % 2])
                ok = panel.current is not None and panel.current.id != record_id
                print(("saved " if ok else "not saved ") + str(record_id), flush=True)
        elif cmd[0] == "worker":
            t = threading.Thread(target=lambda: Project.open(sys.argv[1]).close())
            t.start(); t.join()
        print("done", flush=True)
    """
)


def _wb(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "workbench", *map(str, args)],
        capture_output=True, text=True, timeout=120,
    )


def _deleted_fds(pid: int, path: Path) -> list[str]:
    out = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(path)) and target.endswith("(deleted)"):
            out.append(target)
    return out


@pytest.mark.timeout(240)
def test_window_labels_survive_cli_commands_workers_and_kill9(tmp_path):
    path = tmp_path / "shared.wbproj"
    with Project.create(path, ["billing", "delivery"]) as project:
        import_rows(project, [{"text": f"ticket {i} about an order"} for i in range(400)],
                    text_col="text")
    script = tmp_path / "app.py"
    script.write_text(APP)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "WORKBENCH_ANNOTATOR": "window"}
    app = subprocess.Popen([sys.executable, str(script), str(path)], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    saved: list[int] = []

    def send(command: str) -> None:
        app.stdin.write(command + "\n")
        app.stdin.flush()
        while (line := app.stdout.readline()) and line.strip() != "done":
            assert not line.startswith(("error", "not saved")), line
            if line.startswith("saved "):
                saved.append(int(line.split()[1]))

    try:
        assert app.stdout.readline().strip() == "ready", app.stderr.read()[-3000:]
        send("label 15")
        for args in (("stats", path), ("export", path, tmp_path / "out.csv"), ("runs", path)):
            result = _wb(*args)
            assert result.returncode == 0, result.stderr
            send("label 5")
        send("worker")
        assert _wb("stats", path, "--json").returncode == 0
        send("label 10")
        # The app's write-ahead log is still the file on disk, not a deleted one.
        assert _deleted_fds(app.pid, path) == []
    finally:
        os.kill(app.pid, signal.SIGKILL)
        app.wait(timeout=30)
    assert len(saved) == 40
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        on_disk = {r[0] for r in conn.execute(
            "SELECT record_id FROM annotations WHERE annotator = 'window'")}
    finally:
        conn.close()
    assert set(saved) <= on_disk, sorted(set(saved) - on_disk)


def test_opening_twice_in_one_process_keeps_the_log(tmp_path):
    """Core alone: a second Project.open of an open file, then another process's open and
    close, leaves the first connection's write-ahead log in place."""
    path = tmp_path / "p.wbproj"
    project = Project.create(path, ["a", "b"])
    try:
        add_texts(project, ["one", "two", "three"])
        Project.open(path).close()
        _wb("stats", path)
        wal = Path(f"{path}-wal")
        assert wal.exists()
        assert _deleted_fds(os.getpid(), path) == []
        project.annotate(1, ["a"], annotator="me")
    finally:
        project.close()
    with Project.open(path) as again:
        assert again.get_annotation(1, "me").labels == ("a",)
