"""Kill ONNX bundle exports with SIGKILL at random moments and check what is left.

:func:`kill_export_loop` builds a project with a trained tiny model, then repeatedly starts
``export_run`` in a child process and kills it (SIGKILL) after a random delay. After each
kill the export folder must be absent or a complete bundle that loads and predicts; no
half-written folder may look like a bundle (:func:`latest_export` must not find one) and
the project file must pass ``PRAGMA integrity_check``.

The children are forked from one server process that has imported torch, transformers
and onnxruntime once, so an iteration costs an export (about a second for the tiny model
without quantization), not an interpreter start. Used by ``tests/reliability`` and callable
from a benchmark script::

    from tests.reliability.kill_export import kill_export_loop
    print(kill_export_loop(50, seed=1, workdir=Path("/tmp/kill")))
"""
from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["kill_export_loop", "check_bundle_folder"]

TESTS_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = TESTS_DIR.parent
_BUNDLE_FILES = ("bundle.json", "tokenizer.json", "model.onnx", "model_card.md", "predict.py",
                 "inference.py", "predict_cli.py", "bundle_config.py", "explain.py")

#: The fork server: reads "<project>\t<quantize 0/1>" lines, forks an export for each,
#: answers the child's pid, waits for "reap" and answers the child's wait status.
_SERVER = r"""
import os, sys
os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch
torch.set_num_threads(1)
from workbench.core.training.libraries import preload_training_libraries
preload_training_libraries()
import onnxruntime, onnx, onnxruntime.quantization
import workbench.core.deploy.onnx_export as ox
import workbench.core.deploy.bundle, workbench.core.deploy.convert, workbench.core.deploy.verify
out = os.fdopen(os.dup(1), "w")
print("ready", file=out, flush=True)
for line in sys.stdin:
    project, quantize = line.rstrip("\n").split("\t")
    pid = os.fork()
    if pid == 0:
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # stderr stays: the server log
        try:
            ox.export_run(project, quantize=quantize == "1")
            code = 0
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 3
        os._exit(code)
    print(pid, file=out, flush=True)
    sys.stdin.readline()
    _pid, status = os.waitpid(pid, 0)
    print(status, file=out, flush=True)
"""


def _integrity(project: Path) -> str:
    conn = sqlite3.connect(str(project), timeout=10)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def check_bundle_folder(folder: Path) -> str | None:
    """None if ``folder`` is a complete, verified bundle that predicts; else what is wrong."""
    from workbench.core.deploy.inference import Predictor

    missing = [name for name in _BUNDLE_FILES if not (folder / name).is_file()]
    if missing:
        return f"missing {', '.join(missing)}"
    try:
        config = json.loads((folder / "bundle.json").read_text(encoding="utf-8"))
        if not config.get("verification", {}).get("parity_ok"):
            return "bundle.json has no passed verification"
        result = Predictor.load(folder, threads=1).predict(["refund my money"])[0]
        if result["label"] not in config["labels"]:
            return "prediction outside the label set"
    except Exception as exc:  # anything at all: the bundle is broken
        return f"{type(exc).__name__}: {exc}"
    return None


def _make_project(workdir: Path) -> Path:
    if str(TESTS_DIR) not in sys.path:
        sys.path.insert(0, str(TESTS_DIR))
    from deploy_fixtures import make_project_with_run
    from tiny_model import make_tiny_base_model

    base = make_tiny_base_model(workdir / "tiny_bert")
    (workdir / "project").mkdir(exist_ok=True)
    return make_project_with_run(base, workdir / "project")


def _start_server(workdir: Path) -> subprocess.Popen:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_DIR), str(TESTS_DIR), env.get("PYTHONPATH", "")])
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    log = open(workdir / "server.log", "w")  # noqa: SIM115 - closed with the server
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=log, text=True, env=env, cwd=str(workdir),
    )
    server._log = log  # type: ignore[attr-defined]
    if server.stdout.readline().strip() != "ready":
        server.kill()
        raise RuntimeError(f"export server did not start; see {workdir / 'server.log'}")
    return server


def _export(server: subprocess.Popen, project: Path, quantize: bool,
            delay: float | None) -> tuple[bool, float]:
    """One export; killed after ``delay`` seconds (None: let it finish). Returns
    (killed, seconds)."""
    t0 = time.perf_counter()
    server.stdin.write(f"{project}\t{int(quantize)}\n")
    server.stdin.flush()
    pid = int(server.stdout.readline())
    if delay is not None:
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)  # not reaped yet: the pid cannot have been reused
    server.stdin.write("reap\n")
    server.stdin.flush()
    status = int(server.stdout.readline())
    seconds = time.perf_counter() - t0
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) != 0:
        raise RuntimeError(f"an export failed on its own (exit {os.WEXITSTATUS(status)}): "
                           "see server.log in the work folder")
    return os.WIFSIGNALED(status), seconds


def kill_export_loop(
    iterations: int,
    seed: int,
    workdir: str | Path,
    *,
    quantize: bool = False,
    max_seconds: float | None = None,
) -> dict[str, Any]:
    """Kill ``iterations`` exports at seeded random moments; returns the figures.

    Keys: iterations, killed (died by SIGKILL rather than finishing first), absent and
    complete (states of the export folder after each), broken (half-written or unusable
    bundles, must be 0), integrity_failures, leftovers (hidden staging folders at the
    end), export_seconds (one export, measured first), seconds, problems (descriptions).
    """
    from workbench.core.deploy.project_data import default_export_dir, latest_export

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    start = time.perf_counter()
    project = _make_project(workdir)
    out_dir = default_export_dir(project, 1)
    figures: dict[str, Any] = {"iterations": 0, "killed": 0, "absent": 0, "complete": 0,
                               "broken": 0, "integrity_failures": 0, "problems": []}
    server = _start_server(workdir)
    try:
        # Two undisturbed exports: the faster one sets the range of kill moments (the
        # first pays for cold caches).
        duration = min(_export(server, project, quantize, None)[1] for _ in range(2))
        figures["export_seconds"] = round(duration, 3)
        if check_bundle_folder(out_dir) is not None:
            raise RuntimeError(f"an undisturbed export is not complete: {check_bundle_folder(out_dir)}")
        for i in range(iterations):
            if max_seconds is not None and time.perf_counter() - start > max_seconds:
                break
            if rng.random() < 0.5 and out_dir.exists():  # half the time: no earlier bundle
                import shutil

                shutil.rmtree(out_dir)
            try:
                killed, _s = _export(server, project, quantize, rng.uniform(0.0, duration))
            except RuntimeError as exc:
                figures["iterations"] += 1
                figures["broken"] += 1
                figures["problems"].append(f"iteration {i}: {exc}")
                continue
            figures["iterations"] += 1
            figures["killed"] += int(killed)
            problem = None
            if not out_dir.exists():
                figures["absent"] += 1
            else:
                problem = check_bundle_folder(out_dir)
                figures["complete"] += int(problem is None)
            found = latest_export(project)
            if problem is None and found not in (None, out_dir):
                problem = f"latest_export finds {found.name}, which is not a finished bundle"
            if problem is not None:
                figures["broken"] += 1
                figures["problems"].append(f"iteration {i}: {problem}")
            if _integrity(project) != "ok":
                figures["integrity_failures"] += 1
                figures["problems"].append(f"iteration {i}: project integrity_check failed")
    finally:
        server.stdin.close()
        server.wait(timeout=30)
        server._log.close()  # type: ignore[attr-defined]
    figures["leftovers"] = len([p for p in out_dir.parent.iterdir() if p.name.startswith(".")])
    figures["seconds"] = round(time.perf_counter() - start, 1)
    return figures


if __name__ == "__main__":  # python tests/reliability/kill_export.py [iterations] [seed]
    import tempfile

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    s = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(kill_export_loop(n, s, tmp), indent=2))
