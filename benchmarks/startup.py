"""Time to first window: the frozen bundle against ``workbench`` from the venv.

Each launch gets ``WORKBENCH_STARTUP_PROBE=<launch time>``; the app then prints
``startup-probe first-paint <seconds>`` when its main window paints for the first time,
and quits. The probe lives in ``packaging/entry.py`` (the frozen app's entry script), so
the venv side runs the same script with the venv's Python: the same code as the
``workbench`` console script plus the probe. A bare PySide6 window is timed alongside as
the floor (Qt start-up alone), and ``--version`` as the process start-up floor.

Targets run interleaved (A B C A B C ...) so load from other processes hits them alike;
the figures are medians. Each launch uses a fresh HOME (no settings, no recent project).

    python benchmarks/startup.py --bundle dist/workbench-0.1.0-linux-x86_64-cpu [--runs 5]
    python benchmarks/startup.py --x11     # use the current DISPLAY (e.g. Xvfb) instead of offscreen
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENTRY = ROOT / "packaging" / "entry.py"

BARE_QT = r"""
import os, sys, time
launched = float(os.environ["WORKBENCH_STARTUP_PROBE"])
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow
app = QApplication(sys.argv)
class Probe(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint and isinstance(obj, QMainWindow):
            print(f"startup-probe first-paint {time.time() - launched:.3f}", flush=True)
            QTimer.singleShot(0, app.quit)
            app.removeEventFilter(self)
        return False
probe = Probe()
app.installEventFilter(probe)
w = QMainWindow(); w.setCentralWidget(QLabel("hello")); w.resize(800, 600); w.show()
sys.exit(app.exec())
"""


def _env(home: Path, x11: bool) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_CACHE_HOME=str(home / ".cache"),
        WORKBENCH_ANNOTATOR="bench",
    )
    if not x11:
        env["QT_QPA_PLATFORM"] = "offscreen"
    return env


def launch_to_window(cmd: list[str], x11: bool, timeout: float = 180) -> float:
    """Seconds from launch to the first paint of the main window (from the app's own probe)."""
    with tempfile.TemporaryDirectory(prefix="wb-startup-") as tmp:
        env = _env(Path(tmp), x11)
        env["WORKBENCH_STARTUP_PROBE"] = repr(time.time())
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("startup-probe first-paint "):
            return float(line.split()[-1])
    raise RuntimeError(f"{cmd[0]}: no probe line (exit {proc.returncode}): {proc.stderr[-800:]}")


def launch_to_exit(cmd: list[str], timeout: float = 120) -> float:
    """Seconds for a command that exits at once (``--version``): process start-up cost."""
    with tempfile.TemporaryDirectory(prefix="wb-startup-") as tmp:
        env = _env(Path(tmp), x11=False)
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, env=env, timeout=timeout, check=True)
        return time.perf_counter() - start


def _load() -> str:
    try:
        return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "load average unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, help="folder of the frozen bundle (with the workbench executable)")
    parser.add_argument("--runs", type=int, default=5, help="launches per target (default 5)")
    parser.add_argument("--x11", action="store_true", help="use $DISPLAY instead of QT_QPA_PLATFORM=offscreen")
    args = parser.parse_args(argv)

    targets: dict[str, list[str]] = {
        "bare Qt window (venv)": [sys.executable, "-c", BARE_QT],
        "workbench (venv)": [sys.executable, str(ENTRY)],
    }
    versions: dict[str, list[str]] = {"workbench (venv)": [sys.executable, str(ENTRY), "--version"]}
    if args.bundle:
        exe = args.bundle / ("workbench-cli.exe" if sys.platform == "win32" else "workbench")
        targets["workbench (frozen)"] = [str(exe)]
        versions["workbench (frozen)"] = [str(exe), "--version"]

    print(f"start-up benchmark, {args.runs} runs per target, "
          f"{'X11 ' + os.environ.get('DISPLAY', '?') if args.x11 else 'offscreen'}; {_load()}")
    # The first launch of each reads its files from disk; report it apart from the rest.
    first = {name: launch_to_window(cmd, args.x11) for name, cmd in targets.items()}
    window: dict[str, list[float]] = {name: [] for name in targets}
    exit_times: dict[str, list[float]] = {name: [] for name in versions}
    for _ in range(args.runs):
        for name, cmd in targets.items():
            window[name].append(launch_to_window(cmd, args.x11))
        for name, cmd in versions.items():
            exit_times[name].append(launch_to_exit(cmd))

    print("\ntime to first window paint (s): first launch | median (min-max) of the next runs")
    for name, values in window.items():
        print(f"  {name:24s} {first[name]:6.2f} | {statistics.median(values):6.2f} "
              f"({min(values):.2f}-{max(values):.2f})")
    print("\n'--version' round trip (s): median (min-max)")
    for name, values in exit_times.items():
        print(f"  {name:24s} {statistics.median(values):6.2f} ({min(values):.2f}-{max(values):.2f})")
    med = {name: statistics.median(v) for name, v in window.items()}
    bare = med["bare Qt window (venv)"]
    print("\nratios (medians)")
    print(f"  workbench (venv) / bare Qt window:   {med['workbench (venv)'] / bare:.2f}")
    if "workbench (frozen)" in med:
        print(f"  workbench (frozen) / bare Qt window: {med['workbench (frozen)'] / bare:.2f}")
        print(f"  workbench (frozen) / workbench (venv): {med['workbench (frozen)'] / med['workbench (venv)']:.2f}")
    print(f"\n{_load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
