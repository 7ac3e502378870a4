"""How long does the GUI thread freeze while a model trains in the background?

A 10 ms QTimer ticks on the GUI thread of a real (offscreen) QApplication showing the
Train panel while the panel trains a model. The largest gap between two ticks is the
longest the window could not react. Measured from clicking Start until the results are
shown (imports, data, model loading and training all included), and split into

* start-up: from Start until the first training step,
* training: from the first training step to the end of the run (results shown included),
* idle: a few seconds before anything starts (``--idle-s``): the machine's own noise floor.

Variants, each in a fresh process so imports are really cold:

* ``process``: the panel's default: training runs in a child process started at Start
  (``workbench.core.jobs.run_in_process``); torch is never imported into the GUI process;
* ``thread``: training in a worker thread of the GUI process (``TrainPanel.in_process =
  False``), torch/transformers first imported by that thread at Start;
* ``thread-preloaded``: the same, with the libraries imported on the GUI thread at
  application start-up, before the window was used (not part of the measured gaps).

Target: the process variant's largest gap from Start to results <= 50 ms.

On a busy machine the idle gap is the noise floor every other figure sits on: compare
against it, and repeat (``--repeat``) to see the spread.

Usage: python benchmarks/ui_stall.py [--model bundled|tiny] [--steps 10] [--repeat 1]
       [--only process,thread,thread-preloaded]
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from workbench.core.data.importer import add_texts

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("process", "thread", "thread-preloaded")


# --------------------------------------------------------------------------- child process
def _make_project(folder: Path):
    from workbench.core.resources import resource_path
    from workbench.core.store.project import Project

    with open(resource_path("demo", "support_messages.csv"), encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    labels = sorted({r["intent"] for r in rows})
    project = Project.create(folder / "stall.wbproj", labels)
    ids = add_texts(project, [r["text"] for r in rows])
    by_text = {r["text"]: r["intent"] for r in rows}
    for rec in project.get_records(ids):
        project.annotate(rec.id, [by_text[rec.text]])
    return project


def _gaps(ticks: list[float], start: float, end: float) -> list[float]:
    return [(b - a) * 1000 for a, b in zip(ticks, ticks[1:], strict=False) if start < b <= end]


def _worst_at(ticks: list[float], start: float, end: float) -> float | None:
    """When (seconds after ``start``) the largest gap between ``start`` and ``end`` ended."""
    pairs = [(b - a, b) for a, b in zip(ticks, ticks[1:], strict=False) if start < b <= end]
    return max(pairs)[1] - start if pairs else None


def _event_before(events: list[tuple[float, str]], ticks: list[float], start: float, end: float) -> str:
    """The last progress event received before the largest gap began (what the GUI was doing)."""
    pairs = [(b - a, a) for a, b in zip(ticks, ticks[1:], strict=False) if start < b <= end]
    if not pairs:
        return ""
    began = max(pairs)[1]
    before = [(t, text) for t, text in events if t <= began + 0.005]
    return f"{before[-1][1]!r} {1000 * (began - before[-1][0]):.0f} ms earlier" if before else "before any event"


def child(args: argparse.Namespace) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from PySide6.QtCore import QObject, Qt, QTimer, Slot
    from PySide6.QtWidgets import QApplication

    app = QApplication([])
    tmp = Path(tempfile.mkdtemp(prefix="ui_stall_"))
    preload_s = None
    if args.model == "tiny":
        # Built in a separate process, so this one's imports stay as the variant wants.
        subprocess.run(
            [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[2]); "
             "from tiny_model import make_tiny_base_model; make_tiny_base_model(sys.argv[1])",
             str(tmp / "tiny"), str(ROOT / "tests")],
            check=True,
        )
        model = str(tmp / "tiny")
    else:
        model = "bundled"
    if args.variant == "thread-preloaded":
        from workbench.core.training.libraries import preload_training_libraries

        t0 = time.perf_counter()
        preload_training_libraries()
        preload_s = time.perf_counter() - t0
    modules_before = sorted(m for m in ("torch", "transformers") if m in sys.modules)

    from workbench.gui.train.train_panel import TrainPanel

    project = _make_project(tmp)
    TrainPanel.in_process = args.variant == "process"
    panel = TrainPanel()
    panel.resize(1200, 800)
    panel.show()
    panel.set_project(project)
    panel.set_base_model(model)
    panel.set_setting("max_steps", args.steps)
    panel.set_setting("threads", args.threads)
    panel.set_setting("batch_size", 16)
    panel.set_setting("max_length", 128)

    class Probe(QObject):
        """Records timer ticks and the run's milestones, all in the GUI thread."""

        def __init__(self) -> None:
            super().__init__()
            self.ticks: list[float] = []
            self.t_start = self.t_first_step = self.t_end = 0.0
            self.events: list[tuple[float, str]] = []
            self.last_event = None
            self.result = None
            self.timer = QTimer(self)
            self.timer.setTimerType(Qt.PreciseTimer)
            self.timer.setInterval(10)
            self.timer.timeout.connect(self.tick)

        @Slot()
        def tick(self) -> None:
            self.ticks.append(time.perf_counter())

        @Slot()
        def start(self) -> None:
            self.t_start = time.perf_counter()
            panel.start()

        @Slot(object)
        def on_progress(self, event) -> None:
            now = time.perf_counter()
            self.events.append((now, f"{event.phase} {event.step}/{event.total_steps} {event.message[:40]}"))
            if event.phase == "train":
                self.last_event = event
            if not self.t_first_step and event.phase == "train" and event.step >= 1:
                self.t_first_step = now
            # A slow configuration is cut short (a user's Cancel) once it has shown its speed.
            if self.t_first_step and now - self.t_first_step > args.max_train_s:
                panel.cancel()

        @Slot(object)
        def on_finished(self, result) -> None:
            self.t_end = time.perf_counter()
            self.result = result
            QTimer.singleShot(50, app.quit)

    probe = Probe()
    panel.train_progress.connect(probe.on_progress)
    panel.run_finished.connect(probe.on_finished)
    probe.timer.start()
    t_open = time.perf_counter()
    QTimer.singleShot(int(args.idle_s * 1000), probe.start)
    app.exec()
    panel.shutdown()

    result = probe.result
    first = probe.t_first_step or probe.t_end
    startup, training = _gaps(probe.ticks, probe.t_start, first), _gaps(
        probe.ticks, first, probe.t_end
    )
    idle = _gaps(probe.ticks, t_open, probe.t_start)
    whole = _gaps(probe.ticks, probe.t_start, probe.t_end)
    ev = probe.last_event
    out = {
        "model": args.model,
        "variant": args.variant,
        "preload_s": preload_s,
        "imported_after_run": sorted(m for m in ("torch", "transformers") if m in sys.modules),
        "run_s": probe.t_end - probe.t_start,
        "run_max_ms": max(whole, default=0.0),
        "run_max_at_s": _worst_at(probe.ticks, probe.t_start, probe.t_end),
        "run_end_s": probe.t_end - probe.t_start,
        "worst_after": _event_before(probe.events, probe.ticks, probe.t_start, probe.t_end),
        "imported_before_start": modules_before,
        "threads": args.threads,
        "status": getattr(result, "status", None),
        "error": getattr(result, "error", None) or panel.error_banner.text() or None,
        "idle_max_ms": max(idle, default=0.0),
        "idle_p99_ms": statistics.quantiles(idle, n=100)[98] if len(idle) >= 100 else None,
        "startup_s": first - probe.t_start,
        "startup_max_ms": max(startup, default=0.0),
        "training_s": probe.t_end - first,
        "training_max_ms": max(training, default=0.0),
        "training_p99_ms": (
            statistics.quantiles(training, n=100)[98] if len(training) >= 100 else None
        ),
        "steps": getattr(ev, "step", None),
        "samples_per_s": getattr(ev, "samples_per_s", None),
    }
    project.close()
    print("RESULT " + json.dumps(out))


# --------------------------------------------------------------------------- parent
def _run(args: argparse.Namespace, *, variant: str, threads: int) -> dict:
    cmd = [
        sys.executable, __file__, "--child", "--model", args.model, "--steps", str(args.steps),
        "--threads", str(threads), "--idle-s", str(args.idle_s),
        "--max-train-s", str(args.max_train_s), "--variant", variant,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"benchmark child failed:\n{proc.stdout}\n{proc.stderr[-3000:]}")


def _fmt(value, spec: str = ".0f") -> str:
    return "–" if value is None else format(value, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("bundled", "tiny"), default="bundled")
    parser.add_argument("--steps", type=int, default=10, help="training steps per run")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the trainer")
    parser.add_argument("--variant", choices=VARIANTS, default="process", help="(child) where training runs")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each variant")
    parser.add_argument("--idle-s", type=float, default=2.0,
                        help="seconds of idle GUI measured before Start (the noise floor)")
    parser.add_argument("--max-train-s", type=float, default=60.0,
                        help="cancel a run after this many seconds of training")
    parser.add_argument("--timeout", type=int, default=900)
    parser.add_argument("--only", default="", help="comma-separated variants: " + ",".join(VARIANTS))
    parser.add_argument("--verbose", action="store_true", help="say what preceded the largest gap")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    cores = os.cpu_count() or 1
    print(f"ui_stall: model={args.model} steps={args.steps} threads={args.threads} cores={cores} "
          f"python={sys.version.split()[0]}")
    variants = [v for v in VARIANTS if not args.only or v in args.only.split(",")]
    rows = []
    for _ in range(args.repeat):
        for variant in variants:  # interleaved when repeated
            res = _run(args, variant=variant, threads=args.threads)
            rows.append((variant, res))
            print(
                f"  {variant:<17} status={res['status']} | Start->results {_fmt(res['run_s'], '.1f')} s,"
                f" max gap {_fmt(res['run_max_ms'])} ms at {_fmt(res['run_max_at_s'], '.1f')} s | start-up {_fmt(res['startup_s'], '.1f')} s,"
                f" max gap {_fmt(res['startup_max_ms'])} ms | training {_fmt(res['training_s'], '.1f')} s,"
                f" max gap {_fmt(res['training_max_ms'])} ms | idle max {_fmt(res['idle_max_ms'])} ms"
                f" | {_fmt(res['samples_per_s'], '.1f')} texts/s | torch in GUI process: "
                f"{'yes' if 'torch' in res['imported_after_run'] else 'no'}",
                flush=True,
            )
            if args.verbose:
                print(f"    largest gap began after: {res['worst_after']}")
            if res["error"]:
                print(f"    error: {res['error']}")
    print(f"  load average now: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("\nlargest GUI gap from Start to results, worst run per variant (target: process <= 50 ms):")
    for variant in variants:
        mine = [r for v, r in rows if v == variant]
        worst = max(r["run_max_ms"] for r in mine)
        idle = max(r["idle_max_ms"] for r in mine)
        mark = ("OK" if worst <= 50 else "OVER") if variant == "process" else ""
        print(f"  {variant:<17} {worst:6.0f} ms {mark:<4} (idle noise floor {idle:.0f} ms)")


if __name__ == "__main__":
    main()
