"""Error types whose message is meant to be shown to the user as is."""
from __future__ import annotations

import sqlite3

__all__ = [
    "DATABASE_ERRORS",
    "STORE_ERRORS",
    "WorkbenchError",
    "ProjectError",
    "ImportDataError",
    "Cancelled",
    "ModelError",
    "is_busy_error",
]


class WorkbenchError(Exception):
    """An expected failure with a readable, one-line message for the user."""


class ProjectError(WorkbenchError):
    """The project file cannot be opened or is not a valid Workbench project."""


class ImportDataError(WorkbenchError):
    """A data file cannot be imported; the message names the file, row and problem."""


class ModelError(WorkbenchError):
    """A model folder, run or bundle is unusable."""


class Cancelled(WorkbenchError):
    """The user cancelled a long-running job.

    ``result`` is what the job kept (e.g. the :class:`TrainResult` of a cancelled run whose
    best model was saved), or None when a cancel leaves nothing behind.
    """

    def __init__(self, message: str = "Cancelled.", result: object = None) -> None:
        super().__init__(message)
        self.result = result

    def __reduce__(self) -> tuple[object, ...]:  # keeps ``result`` across a process pipe
        return (type(self), (str(self), self.result))


#: Errors of the project database itself (locked, closed, damaged), for callers that report
#: them instead of failing; views catch these without knowing the storage engine.
DATABASE_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error,)
#: What a store operation may raise for the user to read.
STORE_ERRORS: tuple[type[Exception], ...] = (WorkbenchError, sqlite3.Error)


def is_busy_error(exc: BaseException) -> bool:
    """Whether ``exc`` says another process holds the project's write lock."""
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc).lower()
