"""Federated training on Flower, on the loopback interface only: a coordinator (in this
process) and sites as separate ``workbench federate join`` processes with a tiny BERT."""
from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("flwr", reason="the federated extra (Flower) is not installed")

from workbench.core.data.importer import add_texts  # noqa: E402
from workbench.core.errors import Cancelled  # noqa: E402
from workbench.core.federated import (  # noqa: E402
    FederationConfig,
    FederationSchema,
    ServeConfig,
    schema_difference,
    serve_job,
)
from workbench.core.store.project import Project  # noqa: E402
from workbench.core.training import TrainConfig, list_runs  # noqa: E402

KEYWORDS = {
    "billing": ["refund", "money", "charge", "card", "payment", "bill", "invoice"],
    "delivery": ["delivery", "shipping", "package", "late", "arrived", "broken", "damaged"],
    "account": ["account", "login", "password", "reset", "app", "crash", "error"],
}
FILLER = "the a my your is was it this that please help thanks very not can cannot".split()
ROOT = Path(__file__).resolve().parents[2]


def make_site(path: Path, counts: dict[str, int], *, seed: int, multi: bool = False,
              labels: list[str] | None = None, marker: str = "") -> Path:
    """A project labelled by keyword class; every text carries ``marker`` (a word that
    must never reach the coordinator)."""
    project = Project.create(path, labels or list(KEYWORDS), multi_label=multi)
    with project:
        for k, (label, n) in enumerate(counts.items()):
            rng = random.Random(seed + k)
            texts = [" ".join(rng.sample(KEYWORDS[label], 3) + rng.sample(FILLER, 4)) + f" {marker}{i}"
                     for i in range(n)]
            for j, rid in enumerate(add_texts(project, texts)):
                extra = [list(KEYWORDS)[(k + 1) % 3]] if multi and j % 3 == 0 else []
                project.annotate(rid, [label, *extra])
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_site(path: Path, address: str, name: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "workbench", "federate", "join", str(path), "--address", address,
         "--name", name, "--connect-s", "120"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


class Coordinator:
    """serve_job in a thread of this process, with its events and a stop switch."""

    def __init__(self, project: Path, config: ServeConfig) -> None:
        self.events: list = []
        self.stop = False
        self.result = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(project, config), daemon=True)
        self.thread.start()

    def _run(self, project: Path, config: ServeConfig) -> None:
        try:
            self.result = serve_job(project, config, progress=self.events.append,
                                    should_stop=lambda: self.stop)
        except BaseException as exc:
            self.error = exc

    def join(self, timeout: float = 180.0) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the coordinator did not finish"


def serve_config(tiny: Path, port: int, **fed: object) -> ServeConfig:
    return ServeConfig(
        FederationConfig(address=f"127.0.0.1:{port}", wait_s=120.0, **fed),  # type: ignore[arg-type]
        TrainConfig(base_model=str(tiny), method="finetune", batch_size=8, threads=1, seed=1),
    )


def finish(proc: subprocess.Popen, timeout: float = 120.0) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def test_schema_difference_names_the_labels():
    fed = FederationSchema(("a", "b", "c"), "single_label")
    assert schema_difference(fed, FederationSchema(("c", "b", "a"), "single_label")) is None
    diff = schema_difference(fed, FederationSchema(("a", "b", "d"), "multi_label"))
    assert "'c'" in diff and "'d'" in diff and "multi-label" in diff


def test_two_sites_train_two_rounds_and_a_mismatched_site_is_refused(tmp_path, tiny_base_model):
    coord = make_site(tmp_path / "coord.wbproj", {}, seed=0)
    a = make_site(tmp_path / "a.wbproj", {"billing": 16, "delivery": 8, "account": 4}, seed=1, marker="zqalpha")
    b = make_site(tmp_path / "b.wbproj", {"billing": 4, "delivery": 8, "account": 16}, seed=2, marker="zqbeta")
    bad = make_site(tmp_path / "bad.wbproj", {"billing": 8, "delivery": 8}, seed=3,
                    labels=["billing", "delivery", "refunds"])
    with Project.open(a) as p:
        site_texts = [p.get_record(rid).text for rid in range(1, 6)]
    port = free_port()
    traffic = tmp_path / "traffic.jsonl"
    address = f"127.0.0.1:{port}"
    sites = [start_site(a, address, "north"), start_site(b, address, "south"),
             start_site(bad, address, "odd")]
    coordinator = Coordinator(coord, serve_config(tiny_base_model, port, rounds=2, min_sites=2,
                                                  traffic_log=str(traffic)))
    results = [finish(p) for p in sites]
    coordinator.join()
    assert coordinator.error is None, coordinator.error
    # The mismatched site is refused with the difference named, at the site...
    code, _out, err = results[2]
    assert code == 1 and "'refunds'" in err and "'account'" in err, err
    # ...and at the coordinator.
    assert any("refused" in e.message and "'refunds'" in e.message for e in coordinator.events)
    for code, out, err in results[:2]:
        assert code == 0, err
        assert "Took part in 2 round(s)" in out
    result = coordinator.result
    assert result.rounds == 2
    assert [sorted(h["sites"]) for h in result.history] == [["north", "south"]] * 2
    assert set(result.history[-1]["per_site"]) == {"north", "south"}
    assert 0.0 <= result.metrics["macro_f1"] <= 1.0

    # The global model is a normal run of the coordinator's project, with its federation.
    with Project.open(coord) as p:
        runs = list_runs(p)
    assert len(runs) == 1 and runs[0]["status"] == "completed"
    fed = runs[0]["config"]["federation"]
    assert fed["sites"] == ["north", "south"] and fed["rounds"] == 2
    assert fed["settings"]["min_sites"] == 2
    model_dir = coord.parent / runs[0]["model_path"]
    info = json.loads((model_dir / "workbench_run.json").read_text())
    assert info["labels"] == list(KEYWORDS)
    from workbench.core.training.evaluate import load_run_model

    model, _tok, _info = load_run_model(model_dir)
    shapes = sorted(tuple(t.shape) for t in model.state_dict().values() if t.is_floating_point())
    # Each site keeps the global model as a run of its own.
    with Project.open(a) as p:
        assert list_runs(p)[0]["config"]["federation"]["role"] == "site"

    # Traffic: what each site sent is weights of the model's shapes and a few numbers.
    entries = [json.loads(line) for line in traffic.read_text().splitlines()]
    assert {e["kind"] for e in entries} == {"fit", "evaluate"}
    assert {e["site"] for e in entries} == {"north", "south"}
    allowed = {"n", "loss", "accuracy", "macro_f1", "micro_f1", "weighted_f1", "train_loss",
               "n_train", "seconds"}
    for e in entries:
        assert set(e["metrics"]) <= allowed
        assert all(isinstance(v, (int, float)) for v in e["metrics"].values())
        if e["kind"] == "fit":
            assert sorted(tuple(t["shape"]) for t in e["tensors"]) == shapes
            assert all(t["dtype"] == "float32" for t in e["tensors"])
        else:
            assert e["tensors"] == []
    raw = traffic.read_text()
    assert "zqalpha" not in raw and "zqbeta" not in raw
    assert not any(text in raw for text in site_texts)


def test_multi_label_federation_goes_on_when_a_site_is_killed(tmp_path, tiny_base_model):
    counts = {"billing": 10, "delivery": 10, "account": 10}
    coord = make_site(tmp_path / "coord.wbproj", {}, seed=0, multi=True)
    paths = [make_site(tmp_path / f"s{i}.wbproj", counts, seed=10 * i, multi=True) for i in range(3)]
    port = free_port()
    address = f"127.0.0.1:{port}"
    procs = [start_site(p, address, f"site{i}") for i, p in enumerate(paths)]
    coordinator = Coordinator(coord, serve_config(tiny_base_model, port, rounds=2, min_sites=2))
    deadline = time.monotonic() + 120
    # Kill the third site as soon as a round starts with all three (it is training).
    while not any(e.phase == "train" and "3 site(s) training" in e.message for e in coordinator.events):
        assert time.monotonic() < deadline and coordinator.thread.is_alive(), coordinator.error
        time.sleep(0.02)
    procs[2].kill()
    results = [finish(p) for p in procs[:2]]
    procs[2].wait()
    coordinator.join()
    assert coordinator.error is None, coordinator.error
    for code, _out, err in results:
        assert code == 0, err
    result = coordinator.result
    assert result.rounds == 2
    assert "site2" not in result.history[-1]["sites"]
    assert {"site0", "site1"} <= set(result.history[-1]["sites"])
    with Project.open(coord) as p:
        run = list_runs(p)[0]
    assert run["status"] == "completed" and run["metrics"]["multi_label"] is True


def test_coordinator_cancel_while_waiting_leaves_no_run(tmp_path, tiny_base_model):
    coord = make_site(tmp_path / "coord.wbproj", {}, seed=0)
    coordinator = Coordinator(coord, serve_config(tiny_base_model, free_port(), rounds=1, min_sites=1))
    deadline = time.monotonic() + 60
    while not any(e.phase == "wait" for e in coordinator.events):
        assert time.monotonic() < deadline and coordinator.thread.is_alive(), coordinator.error
        time.sleep(0.05)
    coordinator.stop = True
    coordinator.join(30)
    assert isinstance(coordinator.error, Cancelled)
    with Project.open(coord) as p:
        assert list_runs(p) == []
