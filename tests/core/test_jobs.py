"""The job contract: progress events, the throttle, and jobs run in a child process."""
from __future__ import annotations

import os
import threading
import time

import pytest
from process_jobs import CountConfig, count_job, crash_job, failing_job, pid_job

from workbench.core.errors import Cancelled, WorkbenchError
from workbench.core.jobs import JobCrashed, ProgressEvent, Throttle, run_in_process

pytestmark = pytest.mark.timeout(120)


def test_progress_event_fraction():
    assert ProgressEvent("x", 3, 4).fraction == 0.75
    assert ProgressEvent("x", 3).fraction is None


def test_throttle_keeps_the_last_event_of_each_phase():
    seen: list[ProgressEvent] = []
    throttle = Throttle(seen.append, interval=60)
    for i in range(1, 6):
        throttle(ProgressEvent("train", i, 5))
    throttle(ProgressEvent("evaluate", 5, 5, "metrics"))
    for i in range(6, 9):
        throttle(ProgressEvent("train", i, 8))
    throttle.flush()
    # first of a phase at once; the held-back last one before the next phase; flush at the end
    assert [(e.phase, e.done) for e in seen] == [
        ("train", 1), ("train", 5), ("evaluate", 5), ("train", 8),
    ]


def test_throttle_survives_a_broken_callback():
    def broken(_event):
        raise RuntimeError("display gone")

    with Throttle(broken, interval=0) as throttle:
        throttle(ProgressEvent("x", 1))


def test_a_job_runs_in_another_process_and_reports():
    events: list[ProgressEvent] = []
    assert run_in_process(count_job, "unused", CountConfig(n=5), progress=events.append, interval=0) == 5
    assert [e.done for e in events] == [1, 2, 3, 4, 5]
    assert {e.details["pid"] for e in events} != {os.getpid()}
    assert run_in_process(pid_job, "unused", None) != os.getpid()


def test_cancel_reaches_the_child():
    stop = threading.Event()
    events: list[ProgressEvent] = []

    def progress(event):
        events.append(event)
        if event.done >= 3:
            stop.set()

    with pytest.raises(Cancelled) as info:
        run_in_process(count_job, "unused", CountConfig(n=0, pause=0.02), progress=progress,
                       should_stop=stop.is_set, interval=0)
    assert info.value.result >= 3  # the partial result travels back with the exception


def test_errors_come_back_as_themselves():
    with pytest.raises(WorkbenchError, match="not good enough"):
        run_in_process(failing_job, "unused", False)
    with pytest.raises(KeyError) as info:
        run_in_process(failing_job, "unused", True)
    assert any("Traceback" in note for note in getattr(info.value, "__notes__", []))


@pytest.mark.parametrize("how", ["exit", "abort"])
def test_a_child_that_dies_is_a_clear_failure(how, tmp_path):
    events: list[ProgressEvent] = []
    started = time.monotonic()
    with pytest.raises(JobCrashed, match="stopped unexpectedly") as info:
        run_in_process(crash_job, tmp_path / "none.wbproj", CountConfig(crash=how),
                       progress=events.append, name="crash test")
    assert time.monotonic() - started < 60
    assert info.value.exitcode == (3 if how == "exit" else -6)
    assert ("exit code 3" if how == "exit" else "killed by SIGABRT") in str(info.value)
    assert "crash test" in str(info.value)
    assert [e.message for e in events] == ["about to crash"]


def test_only_module_level_functions_run_in_a_child():
    def local_job(project_path, config, *, progress, should_stop):
        return 1

    with pytest.raises(ValueError, match="module-level"):
        run_in_process(local_job, "unused", None)


def test_an_unreadable_report_is_a_clear_failure():
    from process_jobs import unpicklable_job

    from workbench.core.jobs import JobFailed

    with pytest.raises(JobFailed, match="unreadable report"):
        run_in_process(unpicklable_job, "unused", None)
