"""Entry script of the frozen Workbench app (PyInstaller runs this as ``__main__``).

It does what the ``workbench`` command does. Two extras:

* ``multiprocessing.freeze_support()`` first, so a child process started by torch or
  scikit-learn runs its task instead of a second copy of the app.
* ``WORKBENCH_STARTUP_PROBE=<launch time>`` (seconds since the epoch, set by
  ``benchmarks/startup.py``) prints how long the main window took to paint for the first
  time after the launch, then quits: ``startup-probe first-paint 1.234``.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
import time


def _install_startup_probe(launched_at: float) -> None:
    """Print the time to the main window's first paint, then quit (for start-up figures)."""
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication, QMainWindow

    import workbench.gui.app as gui_app

    make_application = gui_app.make_application

    class _FirstPaint(QObject):
        def __init__(self, app: QApplication) -> None:
            super().__init__(app)
            self.app = app
            self.done = False

        def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
            if not self.done and event.type() == QEvent.Type.Paint and isinstance(obj, QMainWindow):
                self.done = True
                elapsed = time.time() - launched_at
                print(f"startup-probe first-paint {elapsed:.3f}", flush=True)
                QTimer.singleShot(0, self.app.quit)
            return False

    def probed_make_application(*args, **kwargs):  # type: ignore[no-untyped-def]
        app = make_application(*args, **kwargs)
        if not hasattr(app, "_startup_probe"):
            app._startup_probe = _FirstPaint(app)
            app.installEventFilter(app._startup_probe)
        return app

    gui_app.make_application = probed_make_application


def main() -> int:
    """Run the ``workbench`` command line (no arguments: the desktop app)."""
    multiprocessing.freeze_support()
    probe = os.environ.pop("WORKBENCH_STARTUP_PROBE", "")
    if probe:
        _install_startup_probe(float(probe))
    from workbench.launcher import main as workbench_main

    return workbench_main()


if __name__ == "__main__":
    sys.exit(main())
