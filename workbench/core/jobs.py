"""What every long-running job shares: its signature, its progress events, its throttle.

A job is a plain function::

    def some_job(project_path, config, *, progress, should_stop) -> Result

``config`` is a small dataclass, ``progress`` receives :class:`ProgressEvent` objects (or
subclasses of it), ``should_stop`` is polled between steps and the job then raises
:class:`workbench.core.errors.Cancelled`. Jobs open their own project connection by path,
so they run equally in a worker thread, in a child process (:func:`run_in_process`), from
the CLI or in a notebook.

:func:`run_in_process` runs a job in a child process started with the ``spawn`` method:
the job's progress events come back over a pipe, cancel goes the other way through an
event. A child that dies (a crash in native code, ``os._exit``) ends in
:class:`JobCrashed` instead of taking the caller down.
"""
from __future__ import annotations

import logging
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.core.errors import Cancelled, WorkbenchError

__all__ = [
    "ProgressEvent",
    "Throttle",
    "throttled",
    "JobCrashed",
    "JobFailed",
    "run_in_process",
    "no_progress",
    "never_stop",
    "PROGRESS_INTERVAL",
]

log = logging.getLogger(__name__)

#: The default least time between two progress events of the same phase (seconds).
PROGRESS_INTERVAL = 0.1


@dataclass
class ProgressEvent:
    """One progress report: ``done`` of ``total`` units of ``phase`` (``total`` 0: unknown)."""

    phase: str
    done: int = 0
    total: int = 0
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def fraction(self) -> float | None:
        """``done / total``, or None when the total is unknown."""
        return min(1.0, self.done / self.total) if self.total > 0 else None


def no_progress(_event: Any) -> None:
    """The default ``progress`` callback: ignores the event."""


def never_stop() -> bool:
    """The default ``should_stop`` callback: never asks to stop."""
    return False


class Throttle:
    """Forward progress events at most once per ``interval`` seconds per phase.

    A held-back event is replaced by the next one of its phase; it is delivered before an
    event of another phase and by :meth:`flush`, so the last event of every phase always
    arrives (a short epoch's loss points reach the chart before its evaluation). A failing
    callback is logged, never raised into the job.
    """

    def __init__(self, progress: Callable[[Any], None] | None, interval: float = PROGRESS_INTERVAL) -> None:
        self._progress = progress or no_progress
        self.interval = interval
        self._last: dict[str, float] = {}
        self._pending: Any = None

    def __call__(self, event: Any) -> None:
        phase = getattr(event, "phase", "")
        pending = self._pending
        if pending is not None and getattr(pending, "phase", "") != phase:
            self.flush()
        now = time.monotonic()
        if self.interval <= 0 or now - self._last.get(phase, -1e9) >= self.interval:
            self._pending = None
            self._last[phase] = now
            self._deliver(event)
        else:
            self._pending = event

    def flush(self) -> None:
        """Deliver the held-back event, if any."""
        event, self._pending = self._pending, None
        if event is not None:
            self._last[getattr(event, "phase", "")] = time.monotonic()
            self._deliver(event)

    def _deliver(self, event: Any) -> None:
        try:
            self._progress(event)
        except Exception:  # a broken progress display must not kill the job
            log.exception("progress callback failed")

    def __enter__(self) -> Throttle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()


def throttled(progress: Callable[[Any], None] | None, interval: float = PROGRESS_INTERVAL) -> Throttle:
    """``progress`` wrapped in a :class:`Throttle` (use it as a context manager to flush)."""
    return progress if isinstance(progress, Throttle) else Throttle(progress, interval)


# ---------------------------------------------------------------------------- processes
class JobFailed(WorkbenchError):
    """A job in a child process raised an error that could not be sent back as is."""

    def __init__(self, message: str, traceback_text: str = "") -> None:
        super().__init__(message)
        self.traceback_text = traceback_text


class JobCrashed(WorkbenchError):
    """The child process running a job died without reporting (a crash, a kill)."""

    def __init__(self, message: str, exitcode: int | None = None) -> None:
        super().__init__(message)
        self.exitcode = exitcode


def _check_importable(job: Callable[..., Any]) -> Callable[..., Any]:
    """The child receives the job pickled by reference (module and name), so it must be a
    module-level function of an importable module."""
    module, name = getattr(job, "__module__", None), getattr(job, "__qualname__", "")
    if not module or not name or "<" in name or module == "__main__":
        raise ValueError(f"{job!r} cannot run in a child process: it must be a module-level function")
    return job


def _child_main(job: Callable[..., Any], project_path: Any, config: Any, conn: Any, stop: Any, interval: float,
                nice: int = 0) -> None:
    """Entry point of the child process: run the job and report over ``conn``."""
    if nice:
        try:  # the window's process wins the CPU whenever both want it
            os.nice(nice)
        except (AttributeError, OSError):  # not on this platform, or not allowed
            pass

    def send(message: tuple[Any, ...]) -> None:
        try:
            conn.send(message)
        except Exception as exc:  # noqa: BLE001 - an unpicklable result or exception
            if message[0] == "progress":
                return
            text = "".join(traceback.format_exception(exc))
            conn.send(("failed", JobFailed(f"{type(exc).__name__}: {exc}", text), text))

    throttle = Throttle(lambda event: send(("progress", event)), interval)
    try:
        result = job(project_path, config, progress=throttle, should_stop=stop.is_set)
    except Cancelled as exc:
        throttle.flush()
        send(("cancelled", exc, ""))
    except BaseException as exc:  # noqa: BLE001 - every failure must reach the parent
        throttle.flush()
        send(("failed", exc, traceback.format_exc()))
    else:
        throttle.flush()
        send(("done", result, ""))
    finally:
        conn.close()


def run_in_process(
    job: Callable[..., Any],
    project_path: str | Path,
    config: Any,
    *,
    progress: Callable[[Any], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    interval: float = PROGRESS_INTERVAL,
    poll_s: float = 0.05,
    name: str = "",
    nice: int = 0,
) -> Any:
    """Run ``job(project_path, config, progress=..., should_stop=...)`` in a child process.

    Blocks the calling thread (run it from a worker thread in a GUI) until the child has
    reported. Progress events (throttled in the child) are passed to ``progress`` here;
    once ``should_stop()`` is true the child's ``should_stop`` turns true too. Returns the
    job's result or raises its exception (:class:`Cancelled` included); a child that dies
    without a word raises :class:`JobCrashed`, after marking the project's runs and
    imports of dead processes as interrupted. ``nice`` lowers the child's CPU priority
    (Unix), so a window in this process stays responsive on a machine with few cores.
    """
    import multiprocessing

    progress = progress or no_progress
    should_stop = should_stop or never_stop
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    stop = ctx.Event()
    label = name or getattr(job, "__name__", "job")
    process = ctx.Process(
        target=_child_main,
        args=(_check_importable(job), project_path, config, sender, stop, interval, nice),
        name=f"workbench-{label}",
        daemon=True,
    )
    try:
        process.start()
    except BaseException:
        receiver.close()
        raise
    finally:
        sender.close()  # the child holds the only writer: EOF on recv means it is gone
    log.info("job %s started in process %s", label, process.pid)
    outcome: tuple[Any, ...] | None = None
    try:
        while outcome is None:
            if should_stop() and not stop.is_set():
                stop.set()
            if not receiver.poll(poll_s):
                if not process.is_alive() and not receiver.poll(0):
                    break
                continue
            try:
                message = receiver.recv()
            except (EOFError, OSError):
                break
            except Exception as exc:  # noqa: BLE001 - a report this process cannot unpickle
                text = "".join(traceback.format_exception(exc))
                outcome = ("failed", JobFailed(f"The {label} process sent an unreadable report: {exc}", text), text)
                break
            if message[0] == "progress":
                try:
                    progress(message[1])
                except Exception:
                    log.exception("progress callback failed")
            else:
                outcome = message
    finally:
        if outcome is not None:
            process.join(10)  # it has reported: let it exit by itself
        if process.is_alive():
            process.kill()
        process.join(30)
        receiver.close()
    if outcome is None:
        code = process.exitcode
        log.error("job %s: process %s died with exit code %s", label, process.pid, code)
        _reap(project_path)
        raise JobCrashed(
            f"The {label} process stopped unexpectedly ({_describe_exit(code)}); "
            "nothing it had not finished was kept.",
            code,
        )
    kind, value, text = outcome
    if kind == "done":
        return value
    if isinstance(value, BaseException):
        if text:
            value.__notes__ = [*getattr(value, "__notes__", []), f"In the {label} process:\n{text}"]
        raise value
    raise JobFailed(str(value), text)  # pragma: no cover - the child always sends exceptions


def _describe_exit(code: int | None) -> str:
    """``exit code 3``, or ``killed by SIGABRT`` for a process ended by a signal."""
    if code is not None and code < 0:
        import signal

        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _reap(project_path: str | Path) -> None:
    """Mark runs and imports whose process is gone (the dead child's) as interrupted."""
    try:
        from workbench.core.store.liveness import reap_stale
        from workbench.core.store.project import Project

        if not Path(project_path).is_file():
            return
        with Project.open(project_path) as project:
            reap_stale(project)
    except Exception:  # noqa: BLE001 - the next open reaps them anyway
        log.warning("could not mark the jobs of a dead process", exc_info=True)
