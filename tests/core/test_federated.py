"""Federated training on Flower, on the loopback interface only: a coordinator (in this
process) and sites as separate ``workbench federate join`` processes with a tiny BERT."""
from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


@pytest.fixture(scope="module")
def launcher():
    """One process that imports torch once and forks the sites of each federation."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "federated_sites.py")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    yield proc
    proc.kill()  # nothing to clean up: its sites have all ended
    proc.wait(timeout=60)


def start_sites(launcher: subprocess.Popen, address: str, out: Path, sites: list[tuple[Path, str]]) -> None:
    """The sites as separate processes (forked by tests/federated_sites.py)."""
    out.mkdir(exist_ok=True)
    if not getattr(launcher, "ready", False):
        assert launcher.stdout.readline().strip() == "ready"
        launcher.ready = True
    launcher.stdin.write(" ".join([address, str(out), *(f"{p}:{n}" for p, n in sites)]) + "\n")
    launcher.stdin.flush()
    assert launcher.stdout.readline().strip() == "started"


def site_results(launcher: subprocess.Popen, out: Path, names: list[str]) -> dict[str, dict]:
    assert launcher.stdout.readline().strip() == "done"
    return {n: json.loads((out / f"{n}.json").read_text()) for n in names if (out / f"{n}.json").exists()}


class Coordinator:
    """serve_job in a thread of this process, with its events and a stop switch."""

    def __init__(self, project: Path, config: ServeConfig,
                 stop_when: Callable[[Any], bool] | None = None) -> None:
        self.events: list = []
        self.stop = False
        self.stop_when = stop_when
        self.result = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(project, config), daemon=True)
        self.thread.start()

    def _run(self, project: Path, config: ServeConfig) -> None:
        try:
            self.result = serve_job(project, config, progress=self._progress,
                                    should_stop=lambda: self.stop)
        except BaseException as exc:
            self.error = exc

    def _progress(self, event: Any) -> None:
        self.events.append(event)
        if self.stop_when is not None and self.stop_when(event):
            self.stop = True  # in the coordinator's own thread: before its next round starts

    def join(self, timeout: float = 180.0) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the coordinator did not finish"


def serve_config(tiny: Path, port: int, **fed: object) -> ServeConfig:
    return ServeConfig(
        FederationConfig(address=f"127.0.0.1:{port}", wait_s=120.0, **fed),  # type: ignore[arg-type]
        TrainConfig(base_model=str(tiny), method="finetune", batch_size=8, threads=1, seed=1),
    )


def test_schema_difference_names_the_labels():
    fed = FederationSchema(("a", "b", "c"), "single_label")
    assert schema_difference(fed, FederationSchema(("c", "b", "a"), "single_label")) is None
    diff = schema_difference(fed, FederationSchema(("a", "b", "d"), "multi_label"))
    assert "'c'" in diff and "'d'" in diff and "multi-label" in diff


def test_rounds_follow_one_learning_rate_schedule_not_one_per_round():
    """Round r trains on its slice of one warm-up + linear-decay schedule over all rounds
    (the training run's), so the step size does not jump back up each round."""
    from workbench.core.federated.local import federation_lr_factor

    rounds, per_round, ratio = 4, 6, 0.1
    total, warmup = rounds * per_round, int(rounds * per_round * ratio)
    run = [(s + 1) / warmup if s < warmup else (total - s) / (total - warmup) for s in range(total)]
    fed = [federation_lr_factor(s, round_no=r, rounds=rounds, steps_per_round=per_round, warmup_ratio=ratio)
           for r in range(1, rounds + 1) for s in range(per_round)]
    assert fed == pytest.approx(run)
    assert fed[per_round] < fed[per_round - 1]  # round 2 starts below where round 1 ended
    # Unknown number of rounds (or a longer federation than announced): one round, one schedule.
    alone = [federation_lr_factor(s, round_no=1, rounds=0, steps_per_round=10, warmup_ratio=0.1) for s in range(10)]
    assert alone[0] == 1.0 and alone[-1] == pytest.approx(1 / 9)
    assert federation_lr_factor(0, round_no=7, rounds=5, steps_per_round=10, warmup_ratio=0.1) == 1.0


def test_a_site_does_not_train_the_labels_it_has_no_records_of(tmp_path, tiny_base_model):
    """Restricted softmax: a single-label site without 'account' records leaves the head's
    'account' bias as it came (its weight row only gets the optimizer's weight decay)."""
    from workbench.core.federated.exchange import FullWeights
    from workbench.core.federated.local import LocalModel

    site = make_site(tmp_path / "s.wbproj", {"billing": 10, "delivery": 10}, seed=3)
    config = TrainConfig(base_model=str(tiny_base_model), method="finetune", batch_size=8, threads=1, seed=1)
    local = LocalModel(site, FederationSchema(tuple(KEYWORDS), "single_label"), config,
                       should_stop=lambda: False)
    exchange = FullWeights()
    before = {k: v.clone() for k, v in local.model.classifier.state_dict().items()}
    local.fit(exchange, exchange.get(local.model), epochs=2, proximal_mu=0.0, round_no=1, rounds=1)
    after = local.model.classifier.state_dict()
    account = list(KEYWORDS).index("account")
    moved = (after["bias"] - before["bias"]).abs()
    assert moved[account] == 0 and all(moved[i] > 0 for i in range(3) if i != account)
    row = (after["weight"] - before["weight"]).abs().sum(dim=1)
    assert row[account] < 1e-3 * min(row[i] for i in range(3) if i != account)


def test_two_sites_train_two_rounds_and_a_mismatched_site_is_refused(launcher, tmp_path, tiny_base_model):
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
    start_sites(launcher, address, tmp_path / "out", [(a, "north"), (b, "south"), (bad, "odd")])
    coordinator = Coordinator(coord, serve_config(tiny_base_model, port, rounds=2, min_sites=2,
                                                  traffic_log=str(traffic)))
    results = site_results(launcher, tmp_path / "out", ["north", "south", "odd"])
    coordinator.join()
    assert coordinator.error is None, coordinator.error
    # The mismatched site is refused with the difference named, at the site...
    odd = results["odd"]
    assert odd["code"] == 1 and "'refunds'" in odd["error"] and "'account'" in odd["error"], odd
    # ...and at the coordinator.
    assert any("refused" in e.message and "'refunds'" in e.message for e in coordinator.events)
    for name in ("north", "south"):
        assert results[name]["code"] == 0, results[name]
        assert results[name]["rounds"] == 2 and results[name]["run_id"] == 1
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
    assert "federated learning" in info["method_summary"] and "north, south" in info["method_summary"]
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


def test_multi_label_federation_goes_on_when_a_site_is_killed(launcher, tmp_path, tiny_base_model):
    counts = {"billing": 10, "delivery": 10, "account": 10}
    coord = make_site(tmp_path / "coord.wbproj", {}, seed=0, multi=True)
    paths = [make_site(tmp_path / f"s{i}.wbproj", counts, seed=10 * i, multi=True) for i in range(3)]
    port = free_port()
    address = f"127.0.0.1:{port}"
    out = tmp_path / "out"
    start_sites(launcher, address, out, [(p, f"site{i}") for i, p in enumerate(paths)])
    coordinator = Coordinator(coord, serve_config(tiny_base_model, port, rounds=2, min_sites=2, start_sites=3))
    deadline = time.monotonic() + 120
    # Kill the third site as soon as a round starts with all three (it is training).
    while not any(e.phase == "train" and "3 site(s) training" in e.message for e in coordinator.events):
        assert time.monotonic() < deadline and coordinator.thread.is_alive(), coordinator.error
        time.sleep(0.02)
    os.kill(json.loads((out / "pids.json").read_text())["site2"], signal.SIGKILL)
    results = site_results(launcher, out, ["site0", "site1", "site2"])
    coordinator.join()
    assert coordinator.error is None, coordinator.error
    assert "site2" not in results
    for name in ("site0", "site1"):
        assert results[name]["code"] == 0 and results[name]["rounds"] == 2, results[name]
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


def test_join_command_says_when_the_coordinator_cannot_be_reached(tmp_path, capsys):
    from workbench.cli import main

    site = make_site(tmp_path / "s.wbproj", {"billing": 6, "delivery": 6}, seed=0)
    code = main(["federate", "join", str(site), "--address", f"127.0.0.1:{free_port()}",
                 "--connect-s", "1"])
    err = capsys.readouterr().err
    assert code == 1 and "Could not reach the coordinator" in err and len(err.splitlines()) == 2


def test_exchanges_send_every_weight_or_only_the_adapters(tiny_base_model):
    """Full mode sends every weight; a LoRA-wrapped model through StateFunctions sends
    only adapter and head tensors, and they load back into another site's model."""
    peft = pytest.importorskip("peft")
    import numpy as np

    from workbench.core.federated.exchange import FullWeights, StateFunctions, nbytes
    from workbench.core.training.models import load_classifier, validate_base_model

    info = validate_base_model(str(tiny_base_model))
    model = load_classifier(info, ["a", "b", "c"], multi_label=False)
    full = FullWeights().get(model)
    assert len(full) == len(FullWeights().names(model)) == sum(
        1 for t in model.state_dict().values() if t.is_floating_point())

    def wrapped():
        m = load_classifier(info, ["a", "b", "c"], multi_label=False)
        return peft.get_peft_model(m, peft.LoraConfig(task_type=peft.TaskType.SEQ_CLS, r=2,
                                                      target_modules=["query", "value"]))

    lora = StateFunctions("lora", peft.get_peft_model_state_dict, peft.set_peft_model_state_dict)
    one, two = wrapped(), wrapped()
    names = lora.names(one)
    assert names and all("lora_" in n or "classifier" in n for n in names)
    assert not any("word_embeddings" in n or "attention.output.dense" in n for n in names)
    sent = [a + 1.0 for a in lora.get(one)]
    lora.set(two, sent)
    assert all(np.allclose(a, b) for a, b in zip(lora.get(two), sent, strict=True))
    assert nbytes(sent) < nbytes(full) / 2


def test_lora_method_without_lora_exchange_is_one_clear_message(tmp_path, tiny_base_model):
    from workbench.core.errors import WorkbenchError

    coord = make_site(tmp_path / "coord.wbproj", {}, seed=0)
    config = serve_config(tiny_base_model, free_port(), rounds=1, min_sites=1)
    config.training.method = "lora"
    with pytest.raises(WorkbenchError, match="--exchange lora"):
        serve_job(coord, config, progress=lambda _e: None, should_stop=lambda: False)
    with Project.open(coord) as p:
        assert list_runs(p) == []


def test_differential_privacy_adds_noise_and_records_the_budget(launcher, tmp_path, tiny_base_model):
    """Two sites, clipping at the sites: the run records Flower's settings and the
    accountant's epsilon, and its weights are the same seed's run without DP plus noise
    (the embeddings, frozen at every site, stay the base model's only without DP)."""
    import numpy as np
    from transformers import AutoModel

    from workbench.core.federated.accounting import epsilon, epsilon_words
    from workbench.core.federated.privacy_config import PrivacyConfig
    from workbench.core.training.evaluate import load_run_model

    base = AutoModel.from_pretrained(str(tiny_base_model)).embeddings.word_embeddings.weight.detach().numpy()
    embeddings = {}
    for dp in (True, False):
        folder = tmp_path / ("dp" if dp else "plain")
        folder.mkdir()
        coord = make_site(folder / "coord.wbproj", {}, seed=0)
        a = make_site(folder / "a.wbproj", {"billing": 6, "delivery": 4, "account": 2}, seed=1)
        b = make_site(folder / "b.wbproj", {"billing": 2, "delivery": 4, "account": 6}, seed=2)
        port = free_port()
        start_sites(launcher, f"127.0.0.1:{port}", folder / "out", [(a, "north"), (b, "south")])
        config = serve_config(tiny_base_model, port, rounds=2, min_sites=2)
        config.training.freeze_layers = 1
        # Plain averaging: the noise below is Flower's alone (a server learning rate of r
        # moves the noisy average r times as far: tests/core/test_federated_server_step.py).
        config.federation.server_learning_rate = 1.0
        config.privacy = PrivacyConfig(differential_privacy=dp, noise_multiplier=0.7,
                                       clipping_norm=0.05, clipping="sites", delta=1e-4)
        coordinator = Coordinator(coord, config)
        results = site_results(launcher, folder / "out", ["north", "south"])
        coordinator.join()
        assert coordinator.error is None, coordinator.error
        assert all(results[n]["code"] == 0 and results[n]["rounds"] == 2 for n in results), results
        assert any("clipped here to norm 0.05" in m for m in results["north"]["messages"]) == dp
        with Project.open(coord) as p:
            run = list_runs(p)[0]
        model, _tok, _info = load_run_model(coord.parent / run["model_path"])
        embeddings[dp] = model.bert.embeddings.word_embeddings.weight.detach().numpy()
        fed = run["config"]["federation"]
        with Project.open(a) as p:  # the site's own copy of the global model
            kept = list_runs(p)[0]["config"]["federation"]
        if not dp:
            assert "privacy" not in fed and "privacy" not in kept
            assert "privacy" not in coordinator.result.history[0]
            continue
        spent = [epsilon(0.7, r, 1e-4) for r in (1, 2)]
        assert [h["privacy"]["epsilon"] for h in coordinator.result.history] == pytest.approx(spent)
        assert fed["privacy"]["epsilon"] == pytest.approx(spent[1])
        assert kept["privacy"]["epsilon"] == pytest.approx(spent[1]) and kept["privacy"]["clipping"] == "sites"
        assert (fed["privacy"]["noise_multiplier"], fed["privacy"]["clipping_norm"], fed["privacy"]["delta"],
                fed["privacy"]["clipping"]) == (0.7, 0.05, 1e-4, "sites")
        assert any(f"after 2 rounds {epsilon_words(spent[1], 1e-4)}" in e.message for e in coordinator.events)
        rounds = [e for e in coordinator.events if e.phase == "round"]
        assert rounds[-1].privacy["epsilon"] == pytest.approx(spent[1]) and "privacy spent" in rounds[-1].message
        summary = json.loads((coord.parent / run["model_path"] / "workbench_run.json").read_text())["method_summary"]
        assert "differential privacy" in summary and f"{spent[1]:.3g}" in summary
    assert np.allclose(embeddings[False], base, atol=1e-6)  # frozen: FedAvg keeps them
    noise = embeddings[True] - base
    # Two rounds of noise of stdv z * C / sites each on weights no site changes.
    assert np.std(noise) == pytest.approx(0.7 * 0.05 / 2 * np.sqrt(2), rel=0.1)
    assert not np.allclose(embeddings[True], embeddings[False], atol=1e-3)


def test_lora_federation_sends_only_adapters_and_stores_a_lora_run(launcher, tmp_path, tiny_base_model):
    """exchange='lora': the sites wrap the base model with the coordinator's LoRA settings,
    only adapter and head tensors travel, and the global model is a LoRA run that loads
    merged (a plain classifier) like any other LoRA run."""
    pytest.importorskip("peft")
    from safetensors.torch import load_file

    from workbench.core.training.evaluate import load_run_model
    from workbench.core.training.methods.lora_folder import is_lora_folder
    from workbench.core.training.models import load_classifier, validate_base_model

    coord = make_site(tmp_path / "coord.wbproj", {}, seed=0)
    a = make_site(tmp_path / "a.wbproj", {"billing": 8, "delivery": 6, "account": 4}, seed=1)
    b = make_site(tmp_path / "b.wbproj", {"billing": 4, "delivery": 6, "account": 8}, seed=2)
    port = free_port()
    traffic = tmp_path / "traffic.jsonl"
    start_sites(launcher, f"127.0.0.1:{port}", tmp_path / "out", [(a, "north"), (b, "south")])
    config = serve_config(tiny_base_model, port, rounds=2, min_sites=2, exchange="lora",
                          traffic_log=str(traffic))
    config.training.method, config.training.lora_rank = "lora", 4
    coordinator = Coordinator(coord, config)
    results = site_results(launcher, tmp_path / "out", ["north", "south"])
    coordinator.join()
    assert coordinator.error is None, coordinator.error
    assert all(results[n]["code"] == 0 and results[n]["rounds"] == 2 for n in ("north", "south")), results
    result = coordinator.result
    assert result.rounds == 2

    # Only adapter (rank 4) and head tensors travelled: far fewer bytes than the full model.
    plain = load_classifier(validate_base_model(str(tiny_base_model)), list(KEYWORDS), multi_label=False)
    full_bytes = 4 * sum(t.numel() for t in plain.state_dict().values() if t.is_floating_point())
    plain_shapes = {tuple(t.shape) for t in plain.state_dict().values()}
    fits = [e for e in map(json.loads, traffic.read_text().splitlines()) if e["kind"] == "fit"]
    assert len(fits) == 4  # 2 sites x 2 rounds
    for e in fits:
        shapes = [tuple(t["shape"]) for t in e["tensors"]]
        assert all(4 in s or s in plain_shapes for s in shapes) and any(4 in s for s in shapes)
        assert sum(t["bytes"] for t in e["tensors"]) < full_bytes / 5
    for h in result.history:
        assert 0 < h["bytes_received"] < 2 * full_bytes / 5
    print(f"bytes per site and round: lora {sum(t['bytes'] for t in fits[0]['tensors'])}, full {full_bytes}; "
          f"per round received (2 sites): {[h['bytes_received'] for h in result.history]}")

    # The global model is a LoRA run (adapters + head), loading merged as a plain classifier.
    with Project.open(coord) as p:
        run = list_runs(p)[0]
    assert run["status"] == "completed" and run["config"]["method"] == "lora"
    model_dir = coord.parent / run["model_path"]
    assert is_lora_folder(model_dir)
    saved = load_file(str(model_dir / "model.safetensors"))
    assert not any("word_embeddings" in k for k in saved)
    assert any("lora_B" in k and v.abs().sum() > 0 for k, v in saved.items())  # trained (starts at 0)
    assert "LoRA adapters" in json.loads((model_dir / "workbench_run.json").read_text())["method_summary"]
    model, _tok, _info = load_run_model(model_dir)
    assert type(model).__name__ == "BertForSequenceClassification"
    assert not any("lora_" in k for k in model.state_dict())
    from workbench.core.deploy.onnx_export import export_run

    report = export_run(coord, run["id"], out_dir=tmp_path / "bundle", quantize=False, explainer=False)
    assert report.parity_ok  # the merged model exported to ONNX gives the same logits


def test_a_restarted_coordinator_resumes_from_the_last_completed_round(launcher, tmp_path, tiny_base_model):
    from workbench.core.federated.checkpoint import OPTIMIZER_FILE, checkpoint_dir

    coord = make_site(tmp_path / "coord.wbproj", {}, seed=0)
    sites = [(make_site(tmp_path / f"s{i}.wbproj", {"billing": 8, "delivery": 8}, seed=i), f"s{i}")
             for i in range(2)]
    port = free_port()
    start_sites(launcher, f"127.0.0.1:{port}", tmp_path / "one", sites)
    # The coordinator goes down right after round 1 is saved: the stop is set from its own
    # progress callback, so round 2 cannot finish first however quick the machine is.
    # Server momentum: the optimiser's memory is part of the checkpoint.
    first = Coordinator(coord, serve_config(tiny_base_model, port, rounds=2, min_sites=2, server_momentum=0.5),
                        stop_when=lambda e: e.phase == "round")
    first.join()
    assert isinstance(first.error, Cancelled)
    with Project.open(coord) as p:
        assert list_runs(p) == []
        models_dir = p.models_dir
    assert (checkpoint_dir(models_dir) / "state.json").is_file()
    saved = json.loads((checkpoint_dir(models_dir) / "state.json").read_text())
    assert saved["server_optimizer"]["steps"] == 1
    assert (checkpoint_dir(models_dir) / OPTIMIZER_FILE).is_file()  # round 1's momentum

    # Other server settings cannot resume it (the momentum would not mean the same).
    changed = Coordinator(coord, serve_config(tiny_base_model, port, rounds=2, min_sites=2, resume=True))
    changed.join()
    assert "server_step changed" in str(changed.error)
    # It restarts; the sites, still trying to reach it, join again and round 2 runs.
    second = Coordinator(coord, serve_config(tiny_base_model, port, rounds=2, min_sites=2, resume=True,
                                             server_momentum=0.5))
    results = site_results(launcher, tmp_path / "one", ["s0", "s1"])
    second.join()
    assert second.error is None, (second.error, results)
    assert any("Resuming after round 1" in e.message for e in second.events)
    assert [h["round"] for h in second.result.history] == [1, 2]
    assert sum(1 for e in second.events if e.phase == "train") == 1  # only round 2 ran
    for r in results.values():
        assert r["code"] == 0 and r["rounds"] == 2, r
        assert any("trying to join again" in m for m in r["messages"])
        assert any("Joined again" in m for m in r["messages"])  # its records were kept loaded
    assert not checkpoint_dir(models_dir).exists()


def test_one_clear_message_without_flower_or_with_an_old_python(monkeypatch):
    from workbench.core.errors import WorkbenchError
    from workbench.core.federated import flower

    monkeypatch.setitem(sys.modules, "flwr", None)  # import flwr now fails
    with pytest.raises(WorkbenchError, match=r"pip install 'workbench\[federated\]'"):
        flower.require_flower()
    monkeypatch.setattr(flower, "MIN_PYTHON", (sys.version_info.major, sys.version_info.minor + 1))
    with pytest.raises(WorkbenchError, match="needs Python 3.1"):
        flower.require_flower()


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A certificate authority and a coordinator certificate for 127.0.0.1 (PEM files)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    span = (now - datetime.timedelta(days=1), now + datetime.timedelta(days=1))

    def cert(subject: str, key, issuer: str, signer, *, ca: bool):
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                   .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(span[0]).not_valid_after(span[1])
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(cert("test ca", ca_key, "test ca", ca_key, ca=True).public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert("127.0.0.1", key, "test ca", ca_key, ca=False).public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


def test_sites_connect_over_tls_when_certificates_are_given(launcher, tmp_path, tiny_base_model):
    ca, cert, key = make_certificates(tmp_path)
    coord = make_site(tmp_path / "coord.wbproj", {}, seed=0)
    site = make_site(tmp_path / "s.wbproj", {"billing": 8, "delivery": 8}, seed=5)
    port = free_port()
    start_sites(launcher, f"127.0.0.1:{port}", tmp_path / "out", [(site, f"tls@{ca}")])
    coordinator = Coordinator(coord, serve_config(tiny_base_model, port, rounds=1, min_sites=1,
                                                  ca_cert=str(ca), server_cert=str(cert),
                                                  server_key=str(key)))
    results = site_results(launcher, tmp_path / "out", ["tls"])
    coordinator.join()
    assert coordinator.error is None, coordinator.error
    assert results["tls"]["code"] == 0 and results["tls"]["rounds"] == 1, results["tls"]
    assert coordinator.result.history[0]["sites"] == ["tls"]


def test_a_taken_port_is_one_clear_message(tmp_path, tiny_base_model):
    from workbench.core.errors import WorkbenchError

    coord = make_site(tmp_path / "coord.wbproj", {}, seed=0)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(WorkbenchError, match=f"Cannot listen on 127.0.0.1:{port}.*--address"):
            serve_job(coord, serve_config(tiny_base_model, port, rounds=1, min_sites=1),
                      progress=lambda e: None, should_stop=lambda: False)
