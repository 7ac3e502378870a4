"""Module-level jobs for the child-process tests (a spawned child imports them by name)."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from workbench.core.errors import Cancelled, WorkbenchError
from workbench.core.jobs import ProgressEvent

__all__ = [
    "CountConfig", "count_job", "crash_job", "failing_job", "pid_job", "aborting_train_job",
    "unpicklable_job",
]


@dataclass
class CountConfig:
    """Count to ``n`` (0: until cancelled), ``pause`` seconds a step, then crash if asked."""

    n: int = 5
    pause: float = 0.0
    crash: str = ""  # "" | "exit" | "abort"


def count_job(project_path: Any, config: CountConfig, *, progress: Any, should_stop: Any) -> int:
    """Report every step; raise Cancelled when asked to stop; return the count."""
    i = 0
    while config.n == 0 or i < config.n:
        if should_stop():
            raise Cancelled(f"Stopped at {i}.", result=i)
        i += 1
        progress(ProgressEvent("count", i, config.n, f"step {i}", {"pid": os.getpid()}))
        time.sleep(config.pause)
    return i


def crash_job(project_path: Any, config: CountConfig, *, progress: Any, should_stop: Any) -> None:
    """Report once, then die the way ``config.crash`` says, without a word to the parent."""
    progress(ProgressEvent("count", 1, 2, "about to crash"))
    time.sleep(0.2)  # let the event through the pipe first
    if config.crash == "abort":
        os.abort()
    os._exit(3)


def failing_job(project_path: Any, config: Any, *, progress: Any, should_stop: Any) -> None:
    """Raise a user-facing error and, with ``config`` true, an unexpected one."""
    if config:
        raise KeyError("boom")
    raise WorkbenchError("The data is not good enough.")


def pid_job(project_path: Any, config: Any, *, progress: Any, should_stop: Any) -> int:
    """The process id the job ran in."""
    return os.getpid()


def aborting_train_job(project_path: Any, config: Any, *, progress: Any, should_stop: Any) -> Any:
    """Train, and crash the process (SIGABRT) after the first optimizer step."""
    from workbench.core.training import train_job

    def crash_on_step(event: Any) -> None:
        progress(event)
        if event.phase == "train" and event.step >= 1:
            time.sleep(0.3)
            os.abort()

    return train_job(project_path, config, progress=crash_on_step, should_stop=should_stop)


class _OnlyHere(Exception):
    """An exception the parent cannot rebuild (its constructor needs two arguments)."""

    def __init__(self, a: str, b: str) -> None:
        super().__init__(f"{a} {b}")


def unpicklable_job(project_path: Any, config: Any, *, progress: Any, should_stop: Any) -> None:
    """Raise an exception that pickles in the child but cannot be unpickled by the parent."""
    raise _OnlyHere("one", "two")
