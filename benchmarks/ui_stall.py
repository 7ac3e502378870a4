"""How long does the GUI thread freeze while a model trains in the background?

A 10 ms QTimer ticks on the GUI thread of a real (offscreen) QApplication showing the
Train panel, while the panel trains a model in its worker thread. The largest gap between
two ticks is the longest the window could not react. Reported separately for

* start-up: from clicking Start until the first training step (importing torch and
  transformers if not done yet, reading and splitting the data, loading the model),
* training: from the first training step to the end of the run (results shown included),
* idle: a few seconds before anything starts (``--idle-s``): the machine's own noise floor.

Scenarios, each in a fresh process so imports are really cold:

* ``cold``: torch/transformers are first imported by the training thread at Start
  (torch's shared libraries are mapped first without the interpreter lock);
* ``warm-up``: the panel imported them in a background thread before Start
  (``TrainPanel.warm_up``, done when the panel is first shown): its own gaps are reported
  as "warm-up";
* ``preloaded``: they were imported on the GUI thread at application start-up
  (``preload_training_libraries``, behind a splash), before the window was used;
* ``threads=1`` / ``threads=2``: torch intra-op threads in the worker, with the GUI alive.

Targets: start-up gap <= 250 ms, training gap <= 50 ms.

On a busy machine the idle gap is the noise floor every other figure sits on: compare
against it, and repeat (``--repeat``) to see the spread. Runs that are slower than
``--max-train-s`` of training are cancelled (their speed is known by then).

Usage: python benchmarks/ui_stall.py [--model bundled|tiny] [--steps 20] [--repeat 1]
       [--only cold1,warmup1,preload1,preload2]
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
        sys.path.insert(0, str(ROOT / "tests"))
        from tiny_model import make_tiny_base_model  # imports torch: only for --model tiny

        model = str(make_tiny_base_model(tmp / "tiny"))
        if args.mode != "preload":
            raise SystemExit("--model tiny imports torch to build the model: use --mode preload")
    else:
        model = "bundled"
    if args.mode == "preload":
        from workbench.gui.train.train_panel import preload_training_libraries

        t0 = time.perf_counter()
        preload_training_libraries()
        preload_s = time.perf_counter() - t0
    modules_before = sorted(m for m in ("torch", "transformers") if m in sys.modules)

    from workbench.gui.train.train_panel import TrainPanel

    project = _make_project(tmp)
    TrainPanel.warm_up_on_show = False  # the scenario decides when libraries are imported
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
            self.t_warm = self.t_warm_end = 0.0
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
        def begin(self) -> None:
            if args.mode != "warmup":
                self.start()
                return
            self.t_warm = time.perf_counter()
            panel.warm_up()
            self.wait_warm()

        @Slot()
        def wait_warm(self) -> None:
            if panel.is_warming_up():
                QTimer.singleShot(20, self.wait_warm)
                return
            self.t_warm_end = time.perf_counter()
            QTimer.singleShot(300, self.start)

        @Slot()
        def start(self) -> None:
            self.t_start = time.perf_counter()
            panel.start()

        @Slot(object)
        def on_progress(self, event) -> None:
            now = time.perf_counter()
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
    QTimer.singleShot(int(args.idle_s * 1000), probe.begin)
    app.exec()
    panel.shutdown()

    result = probe.result
    first = probe.t_first_step or probe.t_end
    startup, training = _gaps(probe.ticks, probe.t_start, first), _gaps(
        probe.ticks, first, probe.t_end
    )
    idle = _gaps(probe.ticks, t_open, probe.t_warm or probe.t_start)
    warm = _gaps(probe.ticks, probe.t_warm, probe.t_warm_end) if probe.t_warm else []
    ev = probe.last_event
    out = {
        "model": args.model,
        "mode": args.mode,
        "warmup_s": (probe.t_warm_end - probe.t_warm) if probe.t_warm else None,
        "warmup_max_ms": max(warm) if warm else None,
        "preload_s": preload_s,
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
def _run(args: argparse.Namespace, *, mode: str, threads: int) -> dict:
    cmd = [
        sys.executable, __file__, "--child", "--model", args.model, "--steps", str(args.steps),
        "--threads", str(threads), "--idle-s", str(args.idle_s),
        "--max-train-s", str(args.max_train_s), "--mode", mode,
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
    parser.add_argument("--steps", type=int, default=20, help="training steps per run")
    parser.add_argument("--threads", type=int, default=1, help="(child) torch threads")
    parser.add_argument("--mode", choices=("cold", "warmup", "preload"), default="preload",
                        help="(child) when torch and transformers are imported")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each scenario")
    parser.add_argument("--idle-s", type=float, default=3.0,
                        help="seconds of idle GUI measured before Start (the noise floor)")
    parser.add_argument("--max-train-s", type=float, default=90.0,
                        help="cancel a run after this many seconds of training")
    parser.add_argument("--timeout", type=int, default=900)
    parser.add_argument("--only", default="",
                        help="comma-separated scenarios: cold1, warmup1, preload1, preload2")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    cores = os.cpu_count() or 1
    print(f"ui_stall: model={args.model} steps={args.steps} cores={cores} "
          f"python={sys.version.split()[0]}")
    scenarios = [
        ("cold import, 1 thread", "cold", 1),
        ("warm-up, 1 thread", "warmup", 1),
        ("preloaded, 1 thread", "preload", 1),
        ("preloaded, 2 threads", "preload", 2),
    ]
    if args.model == "tiny":
        scenarios = [s for s in scenarios if s[1] == "preload"]
    if args.only:
        wanted = set(args.only.split(","))
        scenarios = [s for s in scenarios if f"{s[1]}{s[2]}" in wanted]
    rows = []
    for _ in range(args.repeat):
        for name, mode, threads in scenarios:  # interleaved when repeated
            res = _run(args, mode=mode, threads=threads)
            rows.append((name, res))
            print(
                f"  {name:<22} status={res['status']} | idle max {_fmt(res['idle_max_ms'])} ms, "
                f"p99 {_fmt(res['idle_p99_ms'])} ms | "
                f"start-up {_fmt(res['startup_s'], '.1f')} s, max gap "
                f"{_fmt(res['startup_max_ms'])} ms | training {_fmt(res['training_s'], '.1f')} s,"
                f" max gap {_fmt(res['training_max_ms'])} ms, p99 "
                f"{_fmt(res['training_p99_ms'])} ms | {_fmt(res['samples_per_s'], '.1f')} "
                f"texts/s | preload {_fmt(res['preload_s'], '.2f')} s | warm-up "
                f"{_fmt(res['warmup_s'], '.1f')} s, max gap {_fmt(res['warmup_max_ms'])} ms",
                flush=True,
            )
            if res["error"]:
                print(f"    error: {res['error']}")
    print(f"  load average now: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("\nworst per scenario (targets: start-up <= 250 ms, training <= 50 ms):")
    for name, _mode, _threads in scenarios:
        mine = [r for n, r in rows if n == name]
        idle = max(r["idle_max_ms"] for r in mine)
        su = max(r["startup_max_ms"] for r in mine)
        tr = max(r["training_max_ms"] for r in mine)
        sps = [r["samples_per_s"] for r in mine if r["samples_per_s"]]
        print(
            f"  {name:<22} start-up max gap {su:6.0f} ms {'OK ' if su <= 250 else 'OVER'} | "
            f"training max gap {tr:6.0f} ms {'OK ' if tr <= 50 else 'OVER'} | "
            f"{(statistics.median(sps) if sps else 0):5.1f} texts/s | idle max gap {idle:4.0f} ms"
        )
    one = [r["samples_per_s"] for n, r in rows if n == "preloaded, 1 thread" and r["samples_per_s"]]
    two = [r["samples_per_s"] for n, r in rows if n == "preloaded, 2 threads" and r["samples_per_s"]]
    if one and two:
        print(f"  threads 2 vs 1 throughput ratio: {statistics.median(two) / statistics.median(one):.2f}")


if __name__ == "__main__":
    main()
