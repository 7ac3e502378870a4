"""Opening project files safely: connections, the damage check and the write gate.

POSIX advisory locks belong to a process, not to a file descriptor: closing *any*
descriptor of a file drops every lock the process holds on it (SQLite's "How To Corrupt
An SQLite Database File", section 2.2). So nothing in Workbench reads a project file
outside SQLite, and the read-only inspection that guards against foreign or damaged files
runs only while no connection of this process has the file open (:class:`OpenFiles`).

The damage check (``PRAGMA quick_check``) reads every page, which takes seconds on a large
project. It runs in a background thread after the project opens; reads go on meanwhile,
and every write waits for the check (:class:`Verification`) so that a damaged file is
never written to.
"""
from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from workbench.core.errors import ProjectError

__all__ = [
    "BUSY_TIMEOUT_S",
    "SYNC_CHECK_MAX_BYTES",
    "OpenFiles",
    "Verification",
    "begin_immediate",
    "connect",
    "database_error",
    "folder_writable",
    "is_environment_error",
    "inspect",
]

#: How long a writer waits for another writer before giving up (seconds).
BUSY_TIMEOUT_S = 10.0
#: Projects up to this size are checked before :meth:`Project.open` returns; larger ones
#: in the background (writes wait for the result).
SYNC_CHECK_MAX_BYTES = 32 * 2**20
#: While polling for the write lock, sleep this long between tries (seconds). SQLite's
#: own busy handler backs off to 100 ms sleeps and so misses the short gaps a chunked
#: import leaves between its transactions.
_POLL_S = 0.0005


def database_error(path: Path, exc: BaseException) -> ProjectError:
    """One readable sentence for an SQLite or OS error on a project file."""
    text = str(exc)
    low = text.lower()
    if "file is not a database" in low or "not a database" in low:
        return ProjectError(f"{path} is not a Workbench project (not an SQLite database).")
    if "disk is full" in low or getattr(exc, "errno", None) == errno.ENOSPC:
        return ProjectError(
            f"The disk holding {path} is full: free some space and try again "
            "(nothing was saved from the last action)."
        )
    if "readonly" in low or "read-only" in low:
        return ProjectError(
            f"{path} is read-only: it can be viewed and exported but not changed. "
            "Copy it to a folder you can write to in order to change it."
        )
    if "unable to open" in low:
        return ProjectError(
            f"Cannot open {path}: check that the file and its folder exist and that you "
            "may read them."
        )
    if "locked" in low or "busy" in low:
        return ProjectError(
            f"{path} is busy: another program held it for more than "
            f"{BUSY_TIMEOUT_S:.0f} seconds. Try again."
        )
    if "disk i/o" in low:
        return ProjectError(
            f"Reading or writing {path} failed (disk I/O error): check the disk and that the "
            "file is still there, then try again."
        )
    if "malformed" in low or "corrupt" in low:
        return ProjectError(f"{path} is damaged ({text}).")
    return ProjectError(f"Cannot use {path}: {text}.")


def is_environment_error(exc: BaseException) -> bool:
    """Whether an SQLite error comes from the machine (full disk, read-only file, I/O)
    rather than from the statement."""
    low = str(exc).lower()
    return any(k in low for k in ("disk is full", "readonly", "read-only", "disk i/o"))


def folder_writable(path: Path) -> bool:
    """Whether this process may write the project file and create files beside it."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)


def connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    """A connection for a ``Project``; transactions are explicit (``isolation_level=None``)."""
    if read_only:
        uri = f"{path.resolve().as_uri()}?mode=ro"
        if not Path(f"{path}-wal").exists():
            # Without a log beside it nothing can change under us, and no -shm is needed.
            uri += "&immutable=1"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=BUSY_TIMEOUT_S)
    else:
        conn = sqlite3.connect(str(path), isolation_level=None, timeout=BUSY_TIMEOUT_S)
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    conn.execute("PRAGMA foreign_keys = ON")
    # In WAL mode NORMAL still survives a killed process (only a power cut can lose the
    # last commits) and halves the cost of each committed label.
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def begin_immediate(conn: sqlite3.Connection, timeout: float = BUSY_TIMEOUT_S) -> None:
    """``BEGIN IMMEDIATE``, polling every half millisecond while another writer holds the lock.

    A chunked import commits every few tens of milliseconds and pauses briefly; polling
    this often lets a label in within one chunk instead of after SQLite's long back-off.
    """
    conn.execute("PRAGMA busy_timeout = 0")
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() > deadline:
                    raise
            time.sleep(_POLL_S)
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")


def inspect(path: Path) -> tuple[int, int, set[str]]:
    """Read-only look at a file that this process does not have open: (application id,
    schema version, table names). Creates and changes nothing."""
    try:
        ro = connect(path, read_only=True)
        try:
            app_id = ro.execute("PRAGMA application_id").fetchone()[0]
            version = ro.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in ro.execute("SELECT name FROM sqlite_master")}
        finally:
            ro.close()
    except sqlite3.DatabaseError as exc:
        if "not a database" in str(exc):  # SQLite's word for a file without its header
            raise database_error(path, exc) from None
        raise ProjectError(f"{path} is corrupt or not a Workbench project ({exc}).") from None
    return app_id, version, tables


def quick_check(path: Path) -> str:
    """``PRAGMA quick_check`` on a connection of its own: ``"ok"`` or the first problem."""
    try:
        conn = connect(path, read_only=True)
        try:
            rows = conn.execute("PRAGMA quick_check(3)").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    return "; ".join(r[0] for r in rows)


class Verification:
    """The damage check of one open project file, shared by its connections in a process.

    :meth:`wait` returns once the check has passed and raises :class:`ProjectError` if it
    found damage; writes call it before they begin.
    """

    def __init__(self, path: Path, *, background: bool) -> None:
        self.path = path
        self.result: str | None = None
        self.done = threading.Event()
        if background:
            threading.Thread(target=self._run, name="workbench-quick-check", daemon=True).start()
        else:
            self._run()

    @classmethod
    def passed(cls, path: Path) -> Verification:
        """A check known to pass (a file just created)."""
        v = cls.__new__(cls)
        v.path, v.result, v.done = path, "ok", threading.Event()
        v.done.set()
        return v

    def _run(self) -> None:
        try:
            self.result = quick_check(self.path)
        finally:
            self.done.set()

    def wait(self) -> None:
        self.done.wait()
        if self.result != "ok":
            raise ProjectError(
                f"{self.path} is damaged (integrity check: {self.result}). Nothing was "
                "written to it; restore it from a backup or export what can still be read."
            )

    @property
    def failed(self) -> bool:
        return self.done.is_set() and self.result != "ok"


class OpenFiles:
    """Project files this process has open, by (device, inode), with their damage check.

    Opening a file that is already open skips the read-only inspection, which would open
    (and close) a descriptor of its own beside the live connection.
    """

    _lock = threading.RLock()
    _open: dict[tuple[int, int], tuple[int, Verification]] = {}

    @staticmethod
    def key(path: Path) -> tuple[int, int]:
        st = os.stat(path)
        return st.st_dev, st.st_ino

    @classmethod
    @contextlib.contextmanager
    def opening(cls) -> Iterator[type[OpenFiles]]:
        """Hold the registry while a file is inspected, connected and registered."""
        with cls._lock:
            yield cls

    @classmethod
    def verification(cls, key: tuple[int, int]) -> Verification | None:
        with cls._lock:
            entry = cls._open.get(key)
            return entry[1] if entry else None

    @classmethod
    def add(cls, key: tuple[int, int], verification: Verification) -> None:
        with cls._lock:
            count, current = cls._open.get(key, (0, verification))
            cls._open[key] = (count + 1, current)

    @classmethod
    def remove(cls, key: tuple[int, int]) -> None:
        with cls._lock:
            count, verification = cls._open.get(key, (1, None))  # type: ignore[arg-type]
            if count <= 1:
                cls._open.pop(key, None)
            else:
                cls._open[key] = (count - 1, verification)
