"""Run a long function off the GUI thread, with progress, cancel and a clean shutdown.

Usage, with any core job (see :mod:`workbench.core.jobs`)::

    handle = run_in_thread(self, import_job, project_path, ImportConfig(path),
                           on_progress=self._on_progress, on_done=self._on_done,
                           on_failed=self._on_failed, on_cancelled=self._on_cancelled)
    ...
    handle.cancel()          # sets the threading.Event behind ``should_stop``
    handle.wait(5000)        # on shutdown: block until the thread has ended

The function is called in a worker thread as ``fn(*args, progress=..., should_stop=...,
**kwargs)``. ``progress(obj)`` may be called as often as the function likes: events are
coalesced by :class:`workbench.core.jobs.Throttle` to at most one every ``throttle_ms``
per phase (the last one of a phase is always delivered, before ``done`` too).
``should_stop()`` turns true once :meth:`JobHandle.cancel` was called.

CPU-heavy jobs (training, ONNX export) go through :func:`run_in_child`: the job runs in
a child process (:func:`workbench.core.jobs.run_in_process`) and the worker thread only
waits on its pipe and relays the events, so neither the interpreter lock nor a crash in
native code can freeze or take down the window.

Outcomes (exactly one of them, then ``finished``):

* ``done(result)``: the function returned (it may return early after a cancel; the caller
  decides what a partial result means),
* ``cancelled()``: the function raised :class:`workbench.core.errors.Cancelled` (kept
  as :attr:`JobHandle.error`; its ``result`` is what the job kept, if anything),
* ``failed(exc)``: any other exception (its traceback is logged, and kept on the handle).

Every signal is emitted by the :class:`JobHandle`, a QObject that lives in the GUI thread,
so callbacks (lambdas included) run in the GUI thread. The worker's own signals go only
to the handle's methods: in PySide6 a lambda connected to a worker-thread signal would run
in the worker thread.
"""
from __future__ import annotations

import functools
import logging
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from workbench.core.errors import Cancelled, WorkbenchError
from workbench.core.jobs import Throttle, run_in_process

__all__ = ["JobHandle", "run_in_thread", "run_in_child", "active_jobs", "stop_all"]

log = logging.getLogger(__name__)

_ACTIVE: set[JobHandle] = set()

#: CPU priority offset of job processes started by :func:`run_in_child` (Unix ``nice``).
CHILD_NICE = 10


class _Worker(QObject):
    """Runs the function in the worker thread and reports through its signals."""

    progress = Signal(object)
    done = Signal(object)
    failed = Signal(object, str)
    cancelled = Signal(object)
    finished = Signal()

    def __init__(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        stop: threading.Event,
        throttle_ms: int,
    ) -> None:
        super().__init__()
        self._fn = fn
        self._args = args
        self._kwargs = kwargs
        self._stop = stop
        self._throttle = Throttle(self.progress.emit, max(0, throttle_ms) / 1000.0)

    def _flush(self) -> None:
        self._throttle.flush()

    @Slot()
    def run(self) -> None:
        try:
            result = self._fn(
                *self._args, progress=self._throttle, should_stop=self._stop.is_set, **self._kwargs
            )
        except Cancelled as exc:
            self._flush()
            self.cancelled.emit(exc)
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the GUI
            self._flush()
            text = traceback.format_exc()
            if not isinstance(exc, WorkbenchError):
                log.error("Background job failed:\n%s", text)
            self.failed.emit(exc, text)
        else:
            self._flush()
            self.done.emit(result)
        finally:
            self.finished.emit()


class JobHandle(QObject):
    """A running background job: its signals, :meth:`cancel` and :meth:`wait`."""

    progress = Signal(object)
    done = Signal(object)
    failed = Signal(object)
    cancelled = Signal()
    finished = Signal()

    def __init__(self, name: str = "") -> None:
        super().__init__()
        self.name = name
        self.stop_event = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self.traceback_text = ""
        self.outcome: str | None = None  # "done" | "failed" | "cancelled"
        self._thread: QThread | None = None
        self._worker: _Worker | None = None
        self._running = False
        self._silenced = False

    # ----------------------------------------------------------------- control
    def cancel(self) -> None:
        """Ask the function to stop (``should_stop()`` becomes true). Returns at once."""
        self.stop_event.set()

    def is_running(self) -> bool:
        """True until the worker function has returned or raised."""
        return self._running

    def wait(self, msecs: int = 30_000) -> bool:
        """Block until the worker thread has ended; True if it did within ``msecs``."""
        thread = self._thread
        if thread is None:
            return True
        try:
            return bool(thread.wait(msecs))
        except RuntimeError:  # the QThread was already deleted: it had finished
            return True

    def silence(self) -> None:
        """Stop calling the callbacks (their owner is gone); the job keeps its cleanup."""
        self._silenced = True

    # ----------------------------------------------------------------- relays (GUI thread)
    @Slot(object)
    def _on_progress(self, event: Any) -> None:
        if not self._silenced:
            self.progress.emit(event)

    @Slot(object)
    def _on_done(self, result: Any) -> None:
        self.result = result
        self.outcome = "done"
        self._running = False
        if not self._silenced:
            self.done.emit(result)

    @Slot(object, str)
    def _on_failed(self, exc: BaseException, text: str) -> None:
        self.error = exc
        self.traceback_text = text
        self.outcome = "failed"
        self._running = False
        if not self._silenced:
            self.failed.emit(exc)

    @Slot(object)
    def _on_cancelled(self, exc: BaseException) -> None:
        self.error = exc
        self.outcome = "cancelled"
        self._running = False
        if not self._silenced:
            self.cancelled.emit()

    @Slot()
    def _on_thread_finished(self) -> None:
        thread, worker = self._thread, self._worker
        self._thread = self._worker = None
        self._running = False
        if worker is not None:
            worker.deleteLater()
        if thread is not None:
            thread.deleteLater()
        _ACTIVE.discard(self)
        if not self._silenced:
            self.finished.emit()

    @Slot()
    def _on_owner_destroyed(self) -> None:
        self.silence()
        self.cancel()


def run_in_thread(
    parent: QObject | None,
    fn: Callable[..., Any],
    *args: Any,
    on_progress: Callable[[Any], None] | None = None,
    on_done: Callable[[Any], None] | None = None,
    on_failed: Callable[[BaseException], None] | None = None,
    on_cancelled: Callable[[], None] | None = None,
    on_finished: Callable[[], None] | None = None,
    throttle_ms: int = 100,
    name: str = "",
    **kwargs: Any,
) -> JobHandle:
    """Start ``fn(*args, progress=..., should_stop=..., **kwargs)`` in a new QThread.

    Call from the GUI thread. When ``parent`` is destroyed the job is cancelled and its
    callbacks are no longer called. ``throttle_ms=0`` delivers every progress event.
    """
    handle = JobHandle(name or getattr(fn, "__name__", "job"))
    for signal, callback in (
        (handle.progress, on_progress),
        (handle.done, on_done),
        (handle.failed, on_failed),
        (handle.cancelled, on_cancelled),
        (handle.finished, on_finished),
    ):
        if callback is not None:
            signal.connect(callback)
    if parent is not None:
        parent.destroyed.connect(handle._on_owner_destroyed)

    worker = _Worker(fn, args, kwargs, handle.stop_event, throttle_ms)
    thread = QThread()
    thread.setObjectName(f"workbench-{handle.name}")
    worker.moveToThread(thread)
    worker.progress.connect(handle._on_progress)
    worker.done.connect(handle._on_done)
    worker.failed.connect(handle._on_failed)
    worker.cancelled.connect(handle._on_cancelled)
    # Direct: a GUI thread blocked in wait() would never run a queued quit().
    worker.finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
    thread.started.connect(worker.run)
    thread.finished.connect(handle._on_thread_finished)
    handle._thread = thread
    handle._worker = worker
    handle._running = True
    _ACTIVE.add(handle)
    thread.start()
    return handle


def run_in_child(
    parent: QObject | None,
    job: Callable[..., Any],
    project_path: str,
    config: Any,
    *,
    throttle_ms: int = 100,
    name: str = "",
    nice: int = CHILD_NICE,
    **callbacks: Any,
) -> JobHandle:
    """Start ``job(project_path, config, progress=..., should_stop=...)`` in a child process.

    Same callbacks and handle as :func:`run_in_thread`: a worker thread waits on the
    child's pipe (:func:`workbench.core.jobs.run_in_process`) and relays its events (already
    throttled in the child). ``job`` must be a module-level function. A child that dies
    ends in ``failed`` with :class:`workbench.core.jobs.JobCrashed`. The child runs at a
    lower CPU priority (``nice``): the window comes first when both need a core.
    """
    name = name or getattr(job, "__name__", "job")
    runner = functools.partial(
        run_in_process, job, interval=max(0, throttle_ms) / 1000.0, name=name, nice=nice
    )
    return run_in_thread(parent, runner, project_path, config, throttle_ms=0, name=name, **callbacks)


def active_jobs() -> list[JobHandle]:
    """Jobs whose thread has not been cleaned up yet."""
    return list(_ACTIVE)


def stop_all(timeout_ms: int = 10_000) -> bool:
    """Cancel every running job and wait for the threads; True if all ended in time."""
    jobs = active_jobs()
    for job in jobs:
        job.silence()
        job.cancel()
    deadline = time.monotonic() + timeout_ms / 1000.0
    ok = True
    for job in jobs:
        remaining = max(0, int((deadline - time.monotonic()) * 1000))
        ok = job.wait(remaining) and ok
    return ok
