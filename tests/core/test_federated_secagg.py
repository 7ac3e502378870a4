"""Secure aggregation (SecAgg+, Flower's own protocol code) carried over the federation's
legacy connections: in-process sites through the real serialisation and Flower's mod,
then a loopback federation with site processes."""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("flwr", reason="the federated extra (Flower) is not installed")

from flwr.client import NumPyClient  # noqa: E402
from flwr.common import (  # noqa: E402
    Code,
    FitRes,
    Status,
    ndarrays_to_parameters,
    parameters_to_ndarrays,
)
from flwr.server.client_proxy import ClientProxy  # noqa: E402

from tests.core.test_federated import (  # noqa: E402
    Coordinator,
    free_port,
    launcher,  # noqa: F401  (the site processes' launcher fixture)
    make_site,
    serve_config,
    site_results,
    start_sites,
)
from workbench.core.federated.privacy_config import PrivacyConfig  # noqa: E402
from workbench.core.federated.secagg import quantization_range, secure_fit_round  # noqa: E402
from workbench.core.federated.secagg_site import SecureSite, is_secure  # noqa: E402
from workbench.core.federated.strategy import AdmittingClientManager, FederationStrategy  # noqa: E402
from workbench.core.store.project import Project  # noqa: E402
from workbench.core.training import list_runs  # noqa: E402

GLOBAL = [np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4), np.full(5, 0.25, dtype=np.float32)]


class _Trainer(NumPyClient):
    """A site whose training adds a known update."""

    def __init__(self, update: list[np.ndarray], n: int) -> None:
        self.update, self.n = update, n

    def fit(self, parameters, config):
        return [p + u for p, u in zip(parameters, self.update, strict=True)], self.n, {"n_train": float(self.n)}


class _LocalProxy(ClientProxy):
    """The coordinator's handle on an in-process site: what a legacy gRPC proxy carries
    (FitIns config in, FitRes metrics out), without the network."""

    def __init__(self, cid: str, site: SecureSite, fail_at: str = "") -> None:
        super().__init__(cid)
        self.site, self.fail_at, self.stages = site, fail_at, []

    def fit(self, ins, timeout, group_id):
        assert is_secure(ins.config) and not ins.parameters.tensors  # no weights in the clear
        metrics = self.site.answer(dict(ins.config))
        if self.fail_at and self.stages and self.stages[-1] == self.fail_at:
            raise ConnectionError("site gone")
        return FitRes(Status(Code.OK, ""), ndarrays_to_parameters([]), 0, metrics)

    def get_properties(self, ins, timeout, group_id):
        raise NotImplementedError

    get_parameters = evaluate = reconnect = get_properties


def _federation(updates, counts, tmp_path: Path, fail_at: str = ""):
    manager = AdmittingClientManager()
    proxies = []
    for i, (update, n) in enumerate(zip(updates, counts, strict=True)):
        proxy = _LocalProxy(f"site{i}", None, fail_at if i == len(updates) - 1 else "")  # type: ignore[arg-type]
        proxy.site = SecureSite(_Trainer(update, n).to_client(), lambda s, r, p=proxy: p.stages.append(s))
        proxy.properties = {"n_train": n}
        manager.admit(proxy, f"site{i}")
        proxies.append(proxy)
    initial = ndarrays_to_parameters(GLOBAL)
    strategy = FederationStrategy(min_sites=2, proximal_mu=0.0, fit_config={}, initial=initial,
                                  client_manager=manager, traffic_log=str(tmp_path / "traffic.jsonl"))
    params, _m, _r = secure_fit_round(strategy, strategy, manager, initial, 1, 30.0, {},
                                      traffic_log=str(tmp_path / "traffic.jsonl"))
    log = [json.loads(line) for line in (tmp_path / "traffic.jsonl").read_text().splitlines()]
    return params, proxies, log, strategy


def test_secure_aggregate_is_fedavg_and_the_coordinator_sees_only_masked_vectors(tmp_path):
    rng = np.random.default_rng(0)
    updates = [[rng.normal(0, 0.05, a.shape).astype(np.float32) for a in GLOBAL] for _ in range(3)]
    counts = [30, 10, 20]
    params, proxies, log, strategy = _federation(updates, counts, tmp_path)
    assert params is not None
    got = parameters_to_ndarrays(params)
    want = [g + sum(n * u[k] for u, n in zip(updates, counts, strict=True)) / sum(counts) for k, g in enumerate(GLOBAL)]
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert not np.allclose(got[0], GLOBAL[0] + updates[0][0], atol=1e-3)  # not one site's weights
    # Each site went through Flower's four stages; its plain update stayed with it.
    for proxy, update in zip(proxies, updates, strict=True):
        assert proxy.stages == ["setup", "share_keys", "collect_masked_vectors", "unmask"]
        np.testing.assert_allclose(proxy.site.last_update[0], update[0], atol=1e-6)
    # What reached the coordinator in the fit stage: masked integer vectors spread over
    # the whole modulus, unlike the site's quantised update (small integers).
    masked = [e for e in log if e["stage"] == "collect_masked_vectors"]
    assert sorted(e["site"] for e in masked) == ["site0", "site1", "site2"]
    q = quantization_range(3)
    for e in masked:
        assert e["arrays"] == {} or all(v == 0 for v in e["arrays"].values())  # no weights
        head = np.array([x for v in e["masked"][1:] for x in v["head"]], dtype=np.float64)  # after the weight
        i = int(e["site"][-1])
        update = np.concatenate([u.reshape(-1)[:16] for u in updates[i]])
        plain = (update * counts[i] / (2 * max(counts)) + 8.0) / 16.0 * q  # Flower's quantisation, unmasked
        assert np.abs(plain - q / 2).max() < q / 100  # what the site's update would look like...
        assert np.mean(np.abs(head - plain) < q / 100) < 0.25  # ...and what arrived is not it
        assert np.ptp(head) > 2**31  # masked: spread over the whole modulus (2**32)
    assert strategy.rounds[1]["bytes_received"] > 0
    assert sorted(strategy.rounds[1]["fit_sites"]) == ["site0", "site1", "site2"]


def test_a_site_that_drops_out_after_sending_keys_is_unmasked_by_the_others(tmp_path):
    rng = np.random.default_rng(1)
    updates = [[rng.normal(0, 0.05, a.shape).astype(np.float32) for a in GLOBAL] for _ in range(3)]
    counts = [30, 10, 20]
    params, proxies, _log, strategy = _federation(updates, counts, tmp_path, fail_at="collect_masked_vectors")
    assert params is not None
    got = parameters_to_ndarrays(params)
    want = [g + sum(n * u[k] for u, n in zip(updates[:2], counts[:2], strict=True)) / sum(counts[:2])
            for k, g in enumerate(GLOBAL)]
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert sorted(strategy.rounds[1]["fit_sites"]) == ["site0", "site1"]


def test_with_differential_privacy_sites_count_once_and_the_coordinator_cannot_clip(tmp_path):
    """SecAgg+ with differential privacy (clipping at the sites): Flower's noise wrapper
    sees the unmasked average, each site weighted once; clipping at the coordinator, or a
    minimum of one site, is refused with one message."""
    from workbench.core.errors import WorkbenchError
    from workbench.core.federated.privacy import private_strategy
    from workbench.core.federated.secagg import check_secure_settings

    rng = np.random.default_rng(2)
    updates = [[rng.normal(0, 0.05, a.shape).astype(np.float32) for a in GLOBAL] for _ in range(3)]
    manager = AdmittingClientManager()
    for i, update in enumerate(updates):
        proxy = _LocalProxy(f"site{i}", SecureSite(_Trainer(update, 10 * (i + 1)).to_client()))
        proxy.properties = {"n_train": 10 * (i + 1)}
        manager.admit(proxy, f"site{i}")
    initial = ndarrays_to_parameters(GLOBAL)
    book = FederationStrategy(min_sites=2, proximal_mu=0.0, fit_config={}, initial=initial, client_manager=manager)
    privacy = PrivacyConfig(secure_aggregation=True, differential_privacy=True, noise_multiplier=0.0,
                            clipping_norm=10.0, clipping="sites")
    check_secure_settings(privacy, 2)
    params, _m, _r = secure_fit_round(private_strategy(book, privacy), book, manager, initial, 1, 30.0, {})
    want = [g + sum(u[k] for u in updates) / 3 for k, g in enumerate(GLOBAL)]  # equal weights
    for a, b in zip(parameters_to_ndarrays(params), want, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert book.rounds[1]["privacy"]["sites"] == 3
    with pytest.raises(WorkbenchError, match="--clipping sites"):
        check_secure_settings(PrivacyConfig(secure_aggregation=True, differential_privacy=True), 2)
    with pytest.raises(WorkbenchError, match="at least 2 sites"):
        check_secure_settings(PrivacyConfig(secure_aggregation=True), 1)


def test_loopback_federation_with_secure_aggregation_matches_plain_fedavg(launcher, tmp_path, tiny_base_model):  # noqa: F811
    """Two site processes, two rounds, the same seed with and without SecAgg+: the global
    models agree within the protocol's quantisation, and the coordinator's traffic log
    shows only masked vectors from each site in the fit stage."""
    from workbench.core.training.evaluate import load_run_model

    weights, logs = {}, {}
    for secure in (True, False):
        folder = tmp_path / ("secure" if secure else "plain")
        folder.mkdir()
        coord = make_site(folder / "coord.wbproj", {}, seed=0)
        a = make_site(folder / "a.wbproj", {"billing": 8, "delivery": 4, "account": 2}, seed=1, marker="zqalpha")
        b = make_site(folder / "b.wbproj", {"billing": 2, "delivery": 4, "account": 8}, seed=2)
        port = free_port()
        start_sites(launcher, f"127.0.0.1:{port}", folder / "out", [(a, "north"), (b, "south")])
        traffic = folder / "traffic.jsonl"
        config = serve_config(tiny_base_model, port, rounds=2, min_sites=2, traffic_log=str(traffic))
        config.privacy = PrivacyConfig(secure_aggregation=secure)
        coordinator = Coordinator(coord, config)
        results = site_results(launcher, folder / "out", ["north", "south"])
        coordinator.join()
        assert coordinator.error is None, coordinator.error
        assert all(results[n]["code"] == 0 and results[n]["rounds"] == 2 for n in ("north", "south")), results
        assert any("sending the update masked" in m for m in results["north"]["messages"]) == secure
        assert [sorted(h["sites"]) for h in coordinator.result.history] == [["north", "south"]] * 2
        with Project.open(coord) as p:
            run = list_runs(p)[0]
        assert ("secure_aggregation" in run["config"]["federation"]) == secure
        info = json.loads((coord.parent / run["model_path"] / "workbench_run.json").read_text())
        assert ("secure aggregation" in info["method_summary"]) == secure
        model, _tok, _info = load_run_model(coord.parent / run["model_path"])
        weights[secure] = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()
                           if v.is_floating_point()}
        logs[secure] = [json.loads(line) for line in traffic.read_text().splitlines()]
    # The same model as plain FedAvg, up to SecAgg+'s quantisation.
    worst = max(float(np.abs(weights[True][k] - weights[False][k]).max()) for k in weights[False])
    assert worst < 1e-5, worst  # 1.3e-7 seen
    # What the coordinator received in the fit stage: no weights, masked integer vectors.
    assert not [e for e in logs[True] if e["kind"] == "fit"]
    masked = [e for e in logs[True] if e.get("stage") == "collect_masked_vectors"]
    assert sorted((e["round"], e["site"]) for e in masked) == [(1, "north"), (1, "south"), (2, "north"), (2, "south")]
    plain_shapes = sorted(tuple(t["shape"]) for t in next(e for e in logs[False] if e["kind"] == "fit")["tensors"])
    for e in masked:
        assert sorted(tuple(v["shape"]) for v in e["masked"][1:]) == plain_shapes
        assert all(v == 0 for v in e["arrays"].values())
        head = np.array([x for v in e["masked"][1:] for x in v["head"]], dtype=np.float64)
        assert np.ptp(head) > 2**31 and np.std(head) > 2**29  # spread over the modulus (2**32)
    assert "zqalpha" not in json.dumps(logs[True])


def test_secure_lora_round_completes_when_a_site_process_is_killed_while_training(launcher, tmp_path, tiny_base_model):  # noqa: F811
    """LoRA exchange, three sites: one is killed once the keys are shared (it is training);
    the other two finish the round (its masks removed with their shares), no round is
    repeated, and only adapter and head tensors were masked and summed."""
    pytest.importorskip("peft")
    counts = {"billing": 6, "delivery": 6, "account": 6}
    coord = make_site(tmp_path / "coord.wbproj", {}, seed=0)
    paths = [make_site(tmp_path / f"s{i}.wbproj", counts, seed=10 * i) for i in range(3)]
    port = free_port()
    out = tmp_path / "out"
    traffic = tmp_path / "traffic.jsonl"
    start_sites(launcher, f"127.0.0.1:{port}", out, [(p, f"site{i}") for i, p in enumerate(paths)])
    config = serve_config(tiny_base_model, port, rounds=2, min_sites=2, start_sites=3, exchange="lora",
                          traffic_log=str(traffic))
    config.training.method, config.training.lora_rank = "lora", 4
    config.privacy = PrivacyConfig(secure_aggregation=True)
    coordinator = Coordinator(coord, config)
    deadline = time.monotonic() + 120

    def shared() -> int:
        if not traffic.exists():
            return 0
        return sum('"stage": "share_keys"' in line for line in traffic.read_text().splitlines())

    while shared() < 3:
        assert time.monotonic() < deadline and coordinator.thread.is_alive(), coordinator.error
        time.sleep(0.01)
    os.kill(json.loads((out / "pids.json").read_text())["site2"], signal.SIGKILL)
    results = site_results(launcher, out, ["site0", "site1", "site2"])
    coordinator.join()
    assert coordinator.error is None, coordinator.error
    for name in ("site0", "site1"):
        assert results[name]["code"] == 0 and results[name]["rounds"] == 2, results[name]
    history = coordinator.result.history
    assert len(history) == 2 and "site2" not in history[1]["sites"]
    assert any("3 site(s) training" in e.message for e in coordinator.events)
    assert not any("repeating" in e.message for e in coordinator.events)
    with Project.open(coord) as p:
        run = list_runs(p)[0]
    assert run["status"] == "completed" and run["config"]["federation"]["secure_aggregation"]
    masked = [json.loads(line) for line in traffic.read_text().splitlines() if '"collect_masked_vectors"' in line]
    sizes = sum(np.prod(v["shape"]) for v in masked[0]["masked"][1:])
    assert 0 < sizes < 5_000  # adapters and head only: 2179 values; the tiny model has 28451
