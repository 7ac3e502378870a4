"""The coordinator's server step (federated/server_step.py), without a network: Flower's
FedAvgM / FedAdam applied to the average of our strategy, on known updates."""
from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("flwr", reason="the federated extra (Flower) is not installed")

from workbench.core.errors import WorkbenchError  # noqa: E402
from workbench.core.federated.config import FederationConfig  # noqa: E402


class _Site:
    """The proxy of a site as the strategy sees it in results (only its id is read)."""

    def __init__(self, cid: str) -> None:
        self.cid = cid


def _strategy(start: list[np.ndarray], fed: FederationConfig, *, privacy=None):
    from flwr.common import ndarrays_to_parameters

    from workbench.core.federated.privacy import private_strategy
    from workbench.core.federated.server_step import server_step
    from workbench.core.federated.strategy import AdmittingClientManager, FederationStrategy

    initial = ndarrays_to_parameters(start)
    inner = FederationStrategy(min_sites=2, proximal_mu=0.0, fit_config={}, initial=initial,
                               client_manager=AdmittingClientManager())
    wrapped = private_strategy(inner, privacy) if privacy is not None else inner
    return server_step(wrapped, fed, initial), inner


def _round(strategy, r: int, current: list[np.ndarray], moves: list[tuple[float, int]]) -> list[np.ndarray]:
    """Sites each moved every weight by ``delta`` from ``current`` and trained on ``n``."""
    from flwr.common import Code, FitRes, Status, ndarrays_to_parameters, parameters_to_ndarrays

    results = [(_Site(f"s{k}"), FitRes(Status(Code.OK, ""),
                                       ndarrays_to_parameters([a + delta for a in current]), n, {}))
               for k, (delta, n) in enumerate(moves)]
    params, _metrics = strategy.aggregate_fit(r, results, [])
    return parameters_to_ndarrays(params) if params is not None else None


def test_server_learning_rate_and_momentum_move_the_global_weights_by_the_expected_amount():
    from workbench.core.federated.server_step import ServerStep

    w0 = [np.full((4, 3), 0.5, np.float32), np.zeros(3, np.float32)]
    step, inner = _strategy(w0, FederationConfig(server_learning_rate=2.0, server_momentum=0.5))
    assert isinstance(step, ServerStep)
    # Round 1: the example-weighted average update is (30 * 0.3 - 10 * 0.1) / 40 = 0.2;
    # a server learning rate of 2 moves the global weights twice as far: + 0.4.
    w1 = _round(step, 1, w0, [(0.3, 30), (-0.1, 10)])
    assert all(np.allclose(b, a + 0.4) for a, b in zip(w0, w1, strict=True))
    # Round 2: average update 0.1; momentum carries half of round 1's 0.2 along:
    # 2 * (0.1 + 0.5 * 0.2) = 0.4 (plain averaging would move 0.1).
    w2 = _round(step, 2, w1, [(0.1, 30), (0.1, 10)])
    assert all(np.allclose(b, a + 0.4) for a, b in zip(w1, w2, strict=True))
    assert step.learning_rates == {1: 2.0, 2: 2.0}
    # The strategy underneath still books each round's sites and bytes.
    assert inner.rounds[2]["fit_sites"] == ["s0", "s1"] and inner.rounds[2]["bytes_received"] > 0
    # Too few results: nothing moves and the momentum is kept for the repeated round.
    assert _round(step, 3, w2, [(5.0, 10)]) is None
    w3 = _round(step, 3, w2, [(0.0, 10), (0.0, 10)])
    assert all(np.allclose(b, a + 2 * 0.5 * 0.2) for a, b in zip(w2, w3, strict=True))


def test_automatic_server_learning_rate_makes_up_for_the_steps_of_equal_sites():
    from workbench.core.federated.server_step import ServerStep, steps_ratio

    assert steps_ratio([42, 42, 42]) == pytest.approx(3.0)
    assert steps_ratio([90, 10]) == pytest.approx(100 ** 2 / (90 ** 2 + 10 ** 2))  # 1.22
    assert steps_ratio([500]) == 1.0
    w0 = [np.zeros((2, 2), np.float32)]
    step, _inner = _strategy(w0, FederationConfig())  # the defaults: 'sgd', automatic rate
    assert isinstance(step, ServerStep) and step.automatic
    # Three equal sites: the average update 0.1 is applied three times over.
    w1 = _round(step, 1, w0, [(0.1, 20), (0.2, 20), (0.0, 20)])
    assert np.allclose(w1[0], 0.3)
    # Two very unequal sites: nearly the large site's own update.
    w2 = _round(step, 2, w1, [(0.1, 90), (0.0, 10)])
    assert np.allclose(w2[0] - w1[0], 0.09 * steps_ratio([90, 10]))
    assert step.learning_rates[1] == pytest.approx(3.0)
    # Learning rate 1 without momentum is plain averaging: no server step at all.
    plain, inner = _strategy(w0, FederationConfig(server_learning_rate=1.0))
    assert plain is inner


def test_adaptive_server_steps_are_flowers_fedadam_on_the_average():
    from flwr.common import ndarrays_to_parameters
    from flwr.server.strategy import FedAdam

    w0 = [np.zeros(5, np.float32)]
    fed = FederationConfig(server_optimizer="adam", server_learning_rate=0.01, server_momentum=0.9)
    step, _inner = _strategy(w0, fed)
    w1 = _round(step, 1, w0, [(0.004, 10), (-0.002, 10)])  # average update 0.001
    # Flower's FedAdam: every weight moves by about eta per round, whatever the update's size.
    reference = FedAdam(initial_parameters=ndarrays_to_parameters(w0), eta=0.01, beta_1=0.9)
    eta_norm = 0.01 * math.sqrt(1 - reference.beta_2 ** 2) / (1 - 0.9 ** 2)
    assert np.allclose(w1[0], eta_norm * 0.1 * 0.001 / (math.sqrt(0.01) * 0.001 + reference.tau))
    assert 0.005 < float(w1[0][0]) < 0.01
    assert w1[0].dtype == np.float32  # as sent by the sites (Flower's step computes in float64)
    with pytest.raises(WorkbenchError, match="server optimizer"):
        from workbench.core.federated.server_step import flower_optimizer

        flower_optimizer("lbfgs", learning_rate=1.0, momentum=0.0,
                         initial=ndarrays_to_parameters(w0))


def test_with_differential_privacy_the_step_follows_the_clipped_average():
    """The server step comes after Flower's DP wrapper: sites are clipped and averaged
    (then noised) first, and only that average is stepped (post-processing)."""
    from flwr.common import ndarrays_to_parameters

    from workbench.core.federated.privacy_config import PrivacyConfig

    w0 = [np.zeros(100, np.float32)]
    privacy = PrivacyConfig(differential_privacy=True, noise_multiplier=0.0, clipping_norm=1.0,
                            clipping="coordinator", delta=1e-5)
    step, inner = _strategy(w0, FederationConfig(server_learning_rate=3.0), privacy=privacy)
    step.configure_fit(1, ndarrays_to_parameters(w0), inner.manager)  # the wrapper notes w0
    step.strategy.num_sampled_clients = 2
    w1 = _round(step, 1, w0, [(1.0, 1000), (0.0, 10)])  # norm 10: clipped to 1, i.e. 0.1 each
    assert np.allclose(w1[0], 3.0 * (0.1 + 0.0) / 2, rtol=1e-4)


@pytest.mark.parametrize("settings", [
    {"server_learning_rate": 2.0, "server_momentum": 0.5},  # FedAvgM's momentum vector
    {"server_optimizer": "adam", "server_learning_rate": 0.05, "server_momentum": 0.9},  # FedAdam's moments
])
def test_a_resumed_federation_continues_the_server_optimizer_where_it_stopped(tmp_path, settings):
    """Round 3 after a restart from the checkpoint (weights and optimiser state written to
    disk, a new ServerStep built from them) moves exactly as without the restart; a
    restart that forgot the state would move differently."""
    from workbench.core.federated.checkpoint import (
        load_checkpoint,
        load_optimizer_state,
        save_checkpoint,
    )

    fed = FederationConfig(**settings)
    w0 = [np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3), np.zeros(3, np.float32)]
    moves = {1: [(0.3, 30), (-0.1, 10)], 2: [(0.1, 30), (0.2, 10)], 3: [(-0.05, 20), (0.15, 20)]}
    straight, _inner = _strategy(w0, fed)
    w = w0
    for r in (1, 2, 3):
        w = _round(straight, r, w, moves[r])
    expected = w

    first, _inner = _strategy(w0, fed)
    w = w0
    for r in (1, 2):
        w = _round(first, r, w, moves[r])
    memory, meta = first.state()
    assert memory and meta["steps"] == 2
    save_checkpoint(tmp_path, w, {"round": 2, "server_optimizer": meta}, memory)

    arrays, state = load_checkpoint(tmp_path, {"round": 2})
    resumed, _inner = _strategy([np.asarray(a) for a in arrays], fed)
    forgetful, _inner = _strategy([np.asarray(a) for a in arrays], fed)
    resumed.restore(load_optimizer_state(tmp_path), state["server_optimizer"])
    assert resumed.steps == 2 and resumed.learning_rates == first.learning_rates
    got = _round(resumed, 3, arrays, moves[3])
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    without = _round(forgetful, 3, arrays, moves[3])
    assert max(float(np.abs(a - b).max()) for a, b in zip(without, expected, strict=True)) > 1e-3
    assert all(a.dtype == np.float32 for a in got)


def test_plain_averaging_writes_no_optimizer_file(tmp_path):
    from workbench.core.federated.checkpoint import (
        OPTIMIZER_FILE,
        checkpoint_dir,
        load_optimizer_state,
        save_checkpoint,
    )

    save_checkpoint(tmp_path, [np.zeros(2, np.float32)], {"round": 1}, {"m_t.00000": np.ones(2)})
    assert (checkpoint_dir(tmp_path) / OPTIMIZER_FILE).is_file()
    save_checkpoint(tmp_path, [np.zeros(2, np.float32)], {"round": 2}, {})  # e.g. a new federation
    assert not (checkpoint_dir(tmp_path) / OPTIMIZER_FILE).exists()
    assert load_optimizer_state(tmp_path) == {}


def test_a_checkpoint_without_a_setting_names_the_missing_entry(tmp_path):
    """A checkpoint written before the server step was recorded is refused for what it is
    (a missing entry), not as a changed setting; a changed setting names the change."""
    from workbench.core.errors import WorkbenchError
    from workbench.core.federated.checkpoint import load_checkpoint, save_checkpoint

    save_checkpoint(tmp_path, [np.zeros(2, np.float32)], {"round": 1, "schema": "a"})
    with pytest.raises(WorkbenchError, match="does not record the server_step"):
        load_checkpoint(tmp_path, {"schema": "a", "server_step": {"server_momentum": 0.0}})
    with pytest.raises(WorkbenchError, match="the schema changed"):
        load_checkpoint(tmp_path, {"schema": "b"})
    arrays, state = load_checkpoint(tmp_path, {"schema": "a"})
    assert state["round"] == 1 and len(arrays) == 1
