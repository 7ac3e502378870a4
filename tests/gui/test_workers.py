"""Background jobs: progress, result, cancel and failure reach the GUI thread."""
from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QObject, QThread

from workbench.core.errors import Cancelled, WorkbenchError
from workbench.gui.widgets.workers import active_jobs, run_in_thread, stop_all

pytestmark = pytest.mark.timeout(60)


class Recorder(QObject):
    """Collects callbacks and remembers which thread each ran in."""

    def __init__(self) -> None:
        super().__init__()
        self.progress: list[object] = []
        self.threads: set[object] = set()
        self.results: list[object] = []
        self.errors: list[BaseException] = []
        self.cancelled = 0

    def on_progress(self, event: object) -> None:
        self.threads.add(QThread.currentThread())
        self.progress.append(event)

    def on_done(self, result: object) -> None:
        self.threads.add(QThread.currentThread())
        self.results.append(result)

    def on_failed(self, exc: BaseException) -> None:
        self.errors.append(exc)

    def on_cancelled(self) -> None:
        self.cancelled += 1


def count_to(n, *, progress, should_stop, scale=1):
    worker_thread = threading.get_ident()
    for i in range(1, n + 1):
        if should_stop():
            raise Cancelled("stopped")
        progress(i)
    return n * scale, worker_thread


def test_result_and_progress_arrive_in_gui_thread(qtbot):
    rec = Recorder()
    handle = run_in_thread(
        None, count_to, 5, scale=10, on_progress=rec.on_progress, on_done=rec.on_done,
        throttle_ms=0,
    )
    with qtbot.waitSignal(handle.finished, timeout=10_000):
        pass
    value, worker_ident = rec.results[0]
    assert value == 50
    assert worker_ident != threading.get_ident()  # really ran in another thread
    assert rec.progress == [1, 2, 3, 4, 5]
    assert rec.threads == {QThread.currentThread()}
    assert handle.outcome == "done" and not handle.is_running()
    assert handle not in active_jobs()


def test_progress_is_throttled_but_last_event_delivered(qtbot):
    rec = Recorder()
    handle = run_in_thread(None, count_to, 5000, on_progress=rec.on_progress, throttle_ms=10_000)
    with qtbot.waitSignal(handle.finished, timeout=10_000):
        pass
    assert rec.progress[0] == 1
    assert rec.progress[-1] == 5000
    assert len(rec.progress) < 5000


def wait_for_cancel(*, progress, should_stop, started):
    started.set()
    while not should_stop():
        threading.Event().wait(0.005)
    raise Cancelled("cancelled by the user")


def test_cancel_sets_should_stop_and_reports_cancelled(qtbot):
    rec = Recorder()
    started = threading.Event()
    handle = run_in_thread(
        None, wait_for_cancel, started=started, on_done=rec.on_done,
        on_cancelled=rec.on_cancelled, on_failed=rec.on_failed,
    )
    assert started.wait(10)
    assert handle.is_running()
    with qtbot.waitSignal(handle.cancelled, timeout=10_000):
        handle.cancel()
    qtbot.waitUntil(lambda: handle not in active_jobs(), timeout=10_000)
    assert rec.cancelled == 1 and rec.results == [] and rec.errors == []
    assert handle.outcome == "cancelled"


def broken(*, progress, should_stop, kind):
    progress("about to fail")
    if kind == "user":
        raise WorkbenchError("The file has no text column.")
    raise ZeroDivisionError("bug")


@pytest.mark.parametrize("kind", ["user", "bug"])
def test_failure_is_reported_with_the_exception(qtbot, kind):
    rec = Recorder()
    handle = run_in_thread(None, broken, kind=kind, on_failed=rec.on_failed, on_done=rec.on_done)
    with qtbot.waitSignal(handle.failed, timeout=10_000) as blocker:
        pass
    exc = blocker.args[0]
    assert isinstance(exc, WorkbenchError if kind == "user" else ZeroDivisionError)
    assert rec.errors == [exc] and rec.results == []
    assert "Traceback" in handle.traceback_text
    assert handle.wait(10_000)


def test_wait_blocks_until_the_thread_ends_and_stop_all(qtbot):
    started = threading.Event()
    handle = run_in_thread(None, wait_for_cancel, started=started)
    assert started.wait(10)
    assert stop_all(10_000)
    assert handle.stop_event.is_set()
    assert handle.wait(0)


def test_destroying_the_owner_cancels_and_silences(qtbot):
    owner = QObject()
    rec = Recorder()
    started = threading.Event()
    handle = run_in_thread(
        owner, wait_for_cancel, started=started, on_cancelled=rec.on_cancelled
    )
    assert started.wait(10)
    owner.deleteLater()
    qtbot.waitUntil(lambda: handle.stop_event.is_set(), timeout=10_000)
    assert handle.wait(10_000)
    qtbot.waitUntil(lambda: handle not in active_jobs(), timeout=10_000)
    assert rec.cancelled == 0  # silenced: the owner is gone


# --------------------------------------------------------------------------- child processes
def test_a_job_in_a_child_process_reports_to_the_gui_thread_and_cancels(qtbot):
    import os

    from process_jobs import CountConfig, count_job

    from workbench.gui.widgets.workers import run_in_child

    rec = Recorder()
    handle = run_in_child(
        None, count_job, "unused", CountConfig(n=0, pause=0.01), throttle_ms=0,
        on_progress=rec.on_progress, on_done=rec.on_done, on_cancelled=rec.on_cancelled,
    )
    qtbot.waitUntil(lambda: len(rec.progress) >= 3, timeout=20_000)
    assert rec.threads == {QThread.currentThread()}  # relayed into the GUI thread
    assert rec.progress[0].details["pid"] != os.getpid()  # the job ran in another process
    with qtbot.waitSignal(handle.finished, timeout=20_000):
        handle.cancel()
    assert rec.cancelled == 1 and not rec.results
    assert handle.outcome == "cancelled"
    assert isinstance(handle.error, Cancelled) and handle.error.result >= 3


@pytest.mark.parametrize("how", ["exit", "abort"])
def test_a_crashing_child_is_a_clear_failure_and_the_gui_lives_on(qtbot, how):
    from process_jobs import CountConfig, count_job, crash_job
    from PySide6.QtWidgets import QLabel

    from workbench.core.jobs import JobCrashed
    from workbench.gui.widgets.workers import run_in_child

    label = QLabel("alive")
    qtbot.addWidget(label)
    label.show()
    rec = Recorder()
    handle = run_in_child(label, crash_job, "unused", CountConfig(crash=how),
                          on_progress=rec.on_progress, on_failed=rec.on_failed)
    with qtbot.waitSignal(handle.finished, timeout=30_000):
        pass
    assert handle.outcome == "failed"
    [error] = rec.errors
    assert isinstance(error, JobCrashed) and "stopped unexpectedly" in str(error)
    assert [e.message for e in rec.progress] == ["about to crash"]
    # The window is still here and the next job runs normally.
    label.setText("still alive")
    assert label.isVisible() and label.text() == "still alive"
    again = run_in_child(label, count_job, "unused", CountConfig(n=3), on_done=rec.on_done)
    with qtbot.waitSignal(again.finished, timeout=20_000):
        pass
    assert rec.results == [3]
