"""Kill -9 loops: a real subprocess labels, imports or trains, and is killed with SIGKILL at
a random (seeded) moment; afterwards the project must have lost nothing it confirmed.

Each ``kill_*`` function returns a dict of figures (``iterations``, ``confirmed_labels_lost``,
``integrity_ok``, timings, ...) so a benchmark script can print them; the tests in
``test_kill_loops.py`` assert on them. A label counts as *confirmed* once the child printed
that it was saved (after :meth:`Project.annotate` returned, or after ``workbench label``
printed its line and exited 0).

    python tests/reliability/killloop.py [--iterations N] [--seed S] [labelling|cli|import|training]
"""
from __future__ import annotations

import csv
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["kill_labelling", "kill_cli_labelling", "kill_import", "kill_training", "child_env"]

ROOT = Path(__file__).resolve().parents[2]
LABELS = ["alpha", "beta", "gamma"]
BASELINE = "baseline"

#: The child of :func:`kill_labelling`: labels records one by one and prints each id once
#: ``annotate`` has returned.
LABEL_CHILD = r"""
import sys
from workbench.core.store.project import Project

path, annotator, offset = sys.argv[1], sys.argv[2], int(sys.argv[3])
with Project.open(path) as project:
    names = project.label_names()
    print("open", flush=True)
    for _pass in range(100):  # passes over the same labels, so a fast machine is still killed mid-way
        for rid in range(1, project.max_record_id() + 1):
            project.annotate(rid, [names[(rid + offset) % len(names)]], annotator=annotator)
            print(rid, flush=True)
print("done", flush=True)
"""


def child_env(**extra: str) -> dict[str, str]:
    """Environment of a child process: this checkout's code, one thread, no network."""
    env = dict(os.environ)
    paths = [str(ROOT), *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env.update(OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", HF_HUB_DISABLE_PROGRESS_BARS="1",
               WORKBENCH_ANNOTATOR="killer", QT_QPA_PLATFORM="offscreen")
    env.update(extra)
    return env


# ----------------------------------------------------------------- running and killing
@dataclass
class Outcome:
    """What one child did before it was killed (or finished)."""

    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    killed: bool = False
    returncode: int | None = None
    seconds: float = 0.0


def _pump(stream: Any, into: list[str], trigger: str | None, seen: threading.Event) -> None:
    for line in stream:
        into.append(line.rstrip("\n"))
        if trigger is not None and trigger in line:
            seen.set()
    stream.close()


def run_and_kill(
    cmd: list[str],
    *,
    delay: float,
    trigger: str | None = None,
    trigger_timeout: float = 60.0,
    env: dict[str, str] | None = None,
) -> Outcome:
    """Run ``cmd``; SIGKILL it ``delay`` seconds after the start or, with ``trigger``, after
    the first output line containing ``trigger`` (unless it has exited by then)."""
    out = Outcome()
    seen = threading.Event()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env or child_env(), cwd=ROOT)
    pumps = [
        threading.Thread(target=_pump, args=(proc.stdout, out.stdout, trigger, seen), daemon=True),
        threading.Thread(target=_pump, args=(proc.stderr, out.stderr, trigger, seen), daemon=True),
    ]
    for t in pumps:
        t.start()
    try:
        if trigger is not None:
            deadline = time.perf_counter() + trigger_timeout
            while not seen.is_set() and proc.poll() is None and time.perf_counter() < deadline:
                seen.wait(0.01)
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            out.killed = True
    finally:
        if proc.poll() is None and not out.killed:
            os.kill(proc.pid, signal.SIGKILL)
            out.killed = True
        out.returncode = proc.wait()
        for t in pumps:
            t.join(10)
    out.seconds = time.perf_counter() - start
    return out


# ----------------------------------------------------------------- checks
def integrity_ok(path: Path) -> bool:
    """``PRAGMA integrity_check`` says ok (run before anything else opens the file)."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()


def labels_by_record(path: Path, annotator: str) -> dict[int, tuple[str, ...]]:
    """Every label of one annotator, read through :meth:`Project.open`."""
    from workbench.core.store.project import Project

    with Project.open(path) as project:
        ids = [r[0] for r in project.db.execute(
            "SELECT record_id FROM annotations WHERE annotator = ?", [annotator])]
        found = {}
        for rid in ids:
            ann = project.get_annotation(rid, annotator)
            if ann is not None:
                found[rid] = tuple(ann.labels)
        return found


def count_lost(path: Path, confirmed: dict[str, dict[int, str]]) -> int:
    """How many confirmed labels ({annotator: {record id: label}}) are missing or changed."""
    lost = 0
    for annotator, expected in confirmed.items():
        found = labels_by_record(path, annotator)
        lost += sum(1 for rid, label in expected.items() if found.get(rid) != (label,))
    return lost


def run_statuses(path: Path) -> dict[str, int]:
    """Training runs by status, after opening the project normally."""
    from workbench.core.store.project import Project
    from workbench.core.training.runs import list_runs

    counts: dict[str, int] = {}
    with Project.open(path) as project:
        for run in list_runs(project):
            counts[run["status"]] = counts.get(run["status"], 0) + 1
    return counts


# ----------------------------------------------------------------- projects
def make_project(path: Path, n_records: int = 2000, n_baseline: int = 50) -> dict[int, str]:
    """A project of ``n_records`` texts whose first ``n_baseline`` carry a confirmed label by
    the annotator ``baseline``; returns those labels."""
    from workbench.core.data.importer import import_rows
    from workbench.core.store.project import Project

    billing = "invoice card payment refund fee"
    delivery = "parcel courier late tracking box"
    rows = [{"text": f"note {i} " + (billing if i % 2 else delivery)} for i in range(n_records)]
    baseline: dict[int, str] = {}
    with Project.create(path, LABELS) as project:
        import_rows(project, rows, text_col="text", source="kill-loop")
        for rid in range(1, n_baseline + 1):
            label = LABELS[rid % 2]  # matches the text's topic: trainable
            project.annotate(rid, [label], annotator=BASELINE)
            baseline[rid] = label
    return baseline


def _result(name: str, iterations: int, started: float, **figures: Any) -> dict[str, Any]:
    return {"operation": name, "iterations": iterations,
            "seconds": round(time.perf_counter() - started, 1), **figures}


# ----------------------------------------------------------------- labelling (core API)
def kill_labelling(workdir: Path, iterations: int = 20, seed: int = 0,
                   window: tuple[float, float] = (0.05, 0.8)) -> dict[str, Any]:
    """Label through ``Project.annotate`` in a child killed at a random moment in ``window``
    seconds (start-up included). One project for every iteration, one annotator each."""
    rng = random.Random(seed)
    started = time.perf_counter()
    path = Path(workdir) / "labelling.wbproj"
    confirmed: dict[str, dict[int, str]] = {BASELINE: make_project(path)}
    integrity, killed, lost_after = True, 0, []
    for i in range(iterations):
        annotator = f"killer-{i}"
        out = run_and_kill([sys.executable, "-c", LABEL_CHILD, str(path), annotator, str(i)],
                           delay=rng.uniform(*window))
        killed += out.killed
        mine = confirmed.setdefault(annotator, {})
        for line in out.stdout:
            if line.isdigit():
                rid = int(line)
                mine[rid] = LABELS[(rid + i) % len(LABELS)]
        integrity &= integrity_ok(path)
        lost_after.append(count_lost(path, {annotator: mine, BASELINE: confirmed[BASELINE]}))
    lost = count_lost(path, confirmed)  # everything once more at the end
    n = sum(len(v) for v in confirmed.values())
    return _result("labelling", iterations, started, killed=killed, confirmed_labels=n,
                   confirmed_labels_lost=lost, worst_iteration_lost=max(lost_after, default=0),
                   integrity_ok=integrity)


# ----------------------------------------------------------------- labelling (CLI)
def _calibrate(cmd: list[str]) -> float:
    """Seconds ``cmd`` takes when left to finish (it must succeed)."""
    out = run_and_kill(cmd, delay=600)
    if out.returncode != 0:
        raise RuntimeError(f"calibration run failed: {' '.join(out.stderr[-3:])}")
    return out.seconds


def kill_cli_labelling(workdir: Path, iterations: int = 20, seed: int = 0,
                       window: tuple[float, float] = (0.05, 1.6)) -> dict[str, Any]:
    """One ``workbench label`` process per iteration, killed at a random moment: ``window``
    is in units of the time one uninterrupted ``workbench label`` takes here."""
    rng = random.Random(seed)
    started = time.perf_counter()
    path = Path(workdir) / "cli-labelling.wbproj"
    confirmed: dict[str, dict[int, str]] = {BASELINE: make_project(path, n_records=200)}
    mine = confirmed.setdefault("cli", {})

    def command(rid: int, label: str) -> list[str]:
        return [sys.executable, "-m", "workbench", "label", str(path), "--id", str(rid),
                "--label", label, "--annotator", "cli"]

    full = _calibrate(command(99, LABELS[0]))
    mine[99] = LABELS[0]
    integrity, killed = True, 0
    for i in range(iterations):
        rid = 100 + i
        label = LABELS[i % len(LABELS)]
        out = run_and_kill(command(rid, label), delay=full * rng.uniform(*window))
        killed += out.killed
        if out.returncode == 0 and any(line.startswith(f"Record {rid}:") for line in out.stdout):
            mine[rid] = label
        integrity &= integrity_ok(path)
    lost = count_lost(path, confirmed)
    return _result("cli labelling", iterations, started, seconds_per_label=round(full, 2),
                   killed=killed,
                   confirmed_labels=sum(len(v) for v in confirmed.values()),
                   confirmed_labels_lost=lost, integrity_ok=integrity)


# ----------------------------------------------------------------- import
def _write_csv(path: Path, marker: str, rows: int) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        for j in range(rows):
            writer.writerow([f"{marker} row {j} of a generated import", LABELS[j % 3] if j % 4 else ""])


def _import_counts(path: Path) -> dict[str, int]:
    """Records of each import as a user sees them: through :meth:`Project.open`, which hides
    an unfinished import and rolls back one whose process is gone."""
    from workbench.core.store.project import Project

    with Project.open(path) as project:
        return dict(project.conn.execute(
            "SELECT substr(text, 1, instr(text, ' ') - 1), count(*) FROM records "
            "WHERE text LIKE 'kimp-%' GROUP BY 1").fetchall())


def kill_import(workdir: Path, iterations: int = 20, seed: int = 0, rows: int = 20_000,
                window: tuple[float, float] = (0.05, 1.25)) -> dict[str, Any]:
    """``workbench import`` of a ``rows``-row CSV killed at a random moment: each import is
    all or nothing, earlier labels stay, and the project takes a new label afterwards.
    ``window`` is in units of the time one uninterrupted import takes here."""
    from workbench.core.store.project import Project

    rng = random.Random(seed)
    started = time.perf_counter()
    workdir = Path(workdir)
    path = workdir / "import.wbproj"
    confirmed: dict[str, dict[int, str]] = {BASELINE: make_project(path, n_records=500)}
    after = confirmed.setdefault("after-import", {})
    integrity, accepts, killed, landed, partial = True, True, 0, 0, 0
    def command(src: Path) -> list[str]:
        return [sys.executable, "-m", "workbench", "import", str(path), str(src),
                "--label-col", "label"]

    src = workdir / "kimp-calibration.csv"
    _write_csv(src, "kimp-calibration", rows)
    full = _calibrate(command(src))
    previous = _import_counts(path)
    for i in range(iterations):
        marker = f"kimp-{seed}-{i}"
        src = workdir / f"{marker}.csv"
        _write_csv(src, marker, rows)
        out = run_and_kill(command(src), delay=full * rng.uniform(*window))
        killed += out.killed
        src.unlink()
        integrity &= integrity_ok(path)
        counts = _import_counts(path)
        mine = counts.get(marker, 0)
        landed += mine == rows
        # Every import, this one and the earlier ones, is whole or absent, and unchanged.
        partial += sum(1 for n in counts.values() if n not in (0, rows))
        partial += sum(1 for m, n in previous.items() if counts.get(m, 0) != n)
        previous = counts
        try:  # the project opens and takes a new label
            with Project.open(path) as project:
                rid = 1 + (i % project.max_record_id())
                project.annotate(rid, [LABELS[i % 3]], annotator="after-import")
            after[rid] = LABELS[i % 3]
        except Exception:  # noqa: BLE001 - a figure, not a crash of the loop
            accepts = False
    lost = count_lost(path, confirmed)
    return _result("import", iterations, started, rows_per_import=rows,
                   seconds_per_import=round(full, 2), killed=killed,
                   imports_landed=landed, partial_imports=partial,
                   confirmed_labels=sum(len(v) for v in confirmed.values()),
                   confirmed_labels_lost=lost, integrity_ok=integrity, accepts_labels=accepts)


# ----------------------------------------------------------------- training
def make_base_model(folder: Path) -> Path:
    """The tiny random BERT of the self-test, built in a child (torch stays out of here)."""
    code = "import sys; from workbench.selftest import make_tiny_base_model as m; m(sys.argv[1])"
    subprocess.run([sys.executable, "-c", code, str(folder)], check=True, env=child_env(),
                   capture_output=True, timeout=300)
    return folder


def kill_training(workdir: Path, iterations: int = 20, seed: int = 0,
                  base_model: Path | None = None, late_share: float = 0.3,
                  startup_window: tuple[float, float] = (0.05, 2.5),
                  late_window: tuple[float, float] = (0.0, 1.5)) -> dict[str, Any]:
    """``workbench train`` killed at a random moment.

    Start-up (torch import) takes seconds, so most kills land in ``startup_window`` seconds
    from the start, and a ``late_share`` of them ``late_window`` seconds after the child says
    it is loading the base model or has started the training steps (the run is recorded as
    running by then). Figures include the runs left 'running' after reopening.
    """
    rng = random.Random(seed)
    workdir = Path(workdir)
    base = base_model or make_base_model(workdir / "tiny-bert")
    started = time.perf_counter()
    path = workdir / "training.wbproj"
    confirmed = {BASELINE: make_project(path, n_records=120, n_baseline=80)}
    cmd = [sys.executable, "-m", "workbench", "train", str(path), "--base-model", str(base),
           "--epochs", "1", "--max-steps", "20", "--batch-size", "8", "--max-length", "32",
           "--threads", "1", "--method", "finetune"]
    integrity, reopen_ok, killed, early, late, completed = True, True, 0, 0, 0, 0
    for _ in range(iterations):
        if rng.random() < late_share:
            late += 1
            trigger = rng.choice(["Loading the base model", "train: "])
            out = run_and_kill(cmd, delay=rng.uniform(*late_window), trigger=trigger)
        else:
            early += 1
            out = run_and_kill(cmd, delay=rng.uniform(*startup_window))
        killed += out.killed
        completed += out.returncode == 0
        integrity &= integrity_ok(path)
        try:
            statuses = run_statuses(path)
        except Exception:  # noqa: BLE001
            reopen_ok = False
    statuses = run_statuses(path) if reopen_ok else {}
    models = path.with_name(path.stem + ".models")
    partial_folders = len(list(models.glob(".run-*.partial"))) if models.is_dir() else 0
    lost = count_lost(path, confirmed)
    return _result("training", iterations, started, killed=killed, killed_in_startup_window=early,
                   killed_after_loading=late, completed=completed, runs_created=sum(statuses.values()),
                   runs_by_status=statuses, stale_running_runs=statuses.get("running", 0),
                   partial_model_folders=partial_folders,
                   confirmed_labels=sum(len(v) for v in confirmed.values()),
                   confirmed_labels_lost=lost, integrity_ok=integrity, reopen_ok=reopen_ok)


LOOPS: dict[str, Callable[..., dict[str, Any]]] = {
    "labelling": kill_labelling,
    "cli": kill_cli_labelling,
    "import": kill_import,
    "training": kill_training,
}


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    parser = argparse.ArgumentParser(description="Run the kill -9 loops and print their figures.")
    parser.add_argument("loops", nargs="*", metavar="LOOP", help=f"any of {', '.join(LOOPS)}")
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    unknown = set(args.loops) - set(LOOPS)
    if unknown:
        parser.error(f"unknown loop(s): {', '.join(sorted(unknown))}")
    for name in args.loops or list(LOOPS):
        with tempfile.TemporaryDirectory(prefix=f"kill-{name}-") as tmp:
            figures = LOOPS[name](Path(tmp), iterations=args.iterations, seed=args.seed)
        print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
