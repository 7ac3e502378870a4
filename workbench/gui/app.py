"""Starting the desktop app: ``run_app(argv)`` (the ``workbench`` command without a subcommand).

``workbench`` opens the main window; ``workbench PROJECT.wbproj`` opens that project straight
into the Label panel with the keyboard focus on the record, so the first key press labels
it.
"""
from __future__ import annotations

import logging
import signal
import sys
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

from workbench import __version__
from workbench.core.errors import is_busy_error
from workbench.core.resources import resource_path
from workbench.core.store.project import PROJECT_SUFFIX

__all__ = [
    "run_app",
    "make_application",
    "app_icon",
    "stylesheet",
    "log_file_path",
    "start_log_file",
]

log = logging.getLogger(__name__)

ORGANIZATION = "Workbench"
APP_NAME = "Workbench"

def app_icon() -> QIcon:
    """The application icon (SVG, with PNG sizes for platforms without SVG support)."""
    icon = QIcon()
    for name in ("workbench.svg", "workbench.png", "workbench-64.png", "workbench-32.png"):
        path = resource_path("icons", name)
        if path.exists():
            icon.addFile(str(path))
    return icon


def stylesheet() -> str:
    """The light theme shipped in ``resources/style.qss`` ('' if it is missing)."""
    path = resource_path("style.qss")
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        log.warning("No stylesheet at %s", path)
        return ""


def make_application(argv: list[str] | None = None) -> QApplication:
    """The QApplication, set up once: names (for QSettings), icon and stylesheet."""
    app = QApplication.instance()
    if app is None:
        app = QApplication([sys.argv[0] if sys.argv else "workbench", *(argv or [])])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("workbench")
    app.setWindowIcon(app_icon())
    app.setStyleSheet(stylesheet())
    # Training in this process leaves a core to the window (workbench.core.training.device).
    from workbench.core.training.device import reserve_cores_for_ui

    reserve_cores_for_ui(1)
    return app


class _ErrorReporter:
    """Shows an unexpected exception from a slot as a message instead of losing it."""

    def __init__(self, window: Any, log_file: Path | None = None) -> None:
        self.window = window
        self.log_file = log_file
        self._previous = sys.excepthook

    def __call__(self, kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            self._previous(kind, exc, tb)
            return
        log.error("Unexpected error:\n%s", "".join(traceback.format_exception(kind, exc, tb)))
        if is_busy_error(exc):
            from workbench.gui.main_window import BUSY_MESSAGE

            text = BUSY_MESSAGE
        else:
            where = f"the log file {self.log_file}" if self.log_file else "the terminal output"
            text = f"Something went wrong: {exc}\n\nYour saved work is safe. Details are in {where}."
        try:
            QMessageBox.warning(self.window, "Workbench", text)
        except Exception:  # never fail while reporting a failure
            pass


def log_file_path() -> Path:
    """Where the app writes its log: ``workbench.log`` in the user's data folder for Workbench."""
    from PySide6.QtCore import QStandardPaths

    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base or Path.home() / ".local" / "share" / "Workbench") / "workbench.log"


def start_log_file() -> Path | None:
    """Also log warnings and errors to :func:`log_file_path` (``None`` if it cannot be written)."""
    path = log_file_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        return None
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    return path


def _project_argument(argv: list[str]) -> str | None:
    """The first argument that is not an option: the project to open."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def run_app(argv: list[str]) -> int:
    """Run the desktop app; returns the exit code."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    project_arg = _project_argument(list(argv))
    from workbench.gui.main_window import MainWindow
    from workbench.gui.preferences import apply_preferences

    app = make_application()
    # Python's cyclic garbage collector runs in whichever thread allocates; a Qt object it
    # frees from a worker thread can crash the process. pyqtgraph's collector turns the
    # automatic one off and collects on a timer in this (the GUI) thread instead.
    from pyqtgraph.util.garbage_collector import GarbageCollector

    collector = GarbageCollector(interval=1.0)
    settings = QSettings()
    apply_preferences(settings, app)
    window = MainWindow(settings)
    app.aboutToQuit.connect(window.shutdown)
    reporter = _ErrorReporter(window, start_log_file())
    sys.excepthook = reporter
    window.show()
    if project_arg:
        path = Path(project_arg)
        if path.suffix != PROJECT_SUFFIX and not path.exists():
            path = path.with_name(path.name + PROJECT_SUFFIX)
        if window.open_project(path):
            # Once the window is active, so the first key press labels the record.
            QTimer.singleShot(0, window.focus_label_view)
    # Let Ctrl+C in the terminal quit: Python only sees signals between Qt events.
    signal.signal(signal.SIGINT, lambda *_: app.quit())
    ticker = QTimer(window)
    ticker.start(500)
    ticker.timeout.connect(window.update)
    try:
        return int(app.exec())
    finally:
        collector.timer.stop()
        sys.excepthook = reporter._previous
