"""Differential privacy of a federation, without a network: Flower's clipping on a site's
update, the coordinator's DP wrapper around our strategy, the accountant's epsilon and the
settings' messages (the federation itself: tests/core/test_federated.py)."""
from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("flwr", reason="the federated extra (Flower) is not installed")
pytest.importorskip("dp_accounting", reason="the federated extra (dp-accounting) is not installed")

from workbench.core.errors import WorkbenchError  # noqa: E402
from workbench.core.federated.accounting import epsilon, privacy_record, privacy_sentence  # noqa: E402
from workbench.core.federated.privacy_config import PrivacyConfig  # noqa: E402


def test_site_side_clipping_bounds_the_update_norm():
    from workbench.core.federated.privacy import clip_site_update, update_norm

    rng = np.random.default_rng(0)
    received = [rng.normal(size=(40, 8)).astype(np.float32), rng.normal(size=8).astype(np.float32)]
    trained = [a + rng.normal(scale=2.0, size=a.shape).astype(np.float32) for a in received]
    assert update_norm(trained, received) > 10
    sent = [a.copy() for a in trained]
    assert clip_site_update(sent, received, {"clipping_norm": 0.5})
    assert update_norm(sent, received) == pytest.approx(0.5, rel=1e-4)
    assert all(a.dtype == np.float32 for a in sent)
    # Clipping scales the update; its direction is kept.
    before = np.concatenate([(t - r).ravel() for t, r in zip(trained, received, strict=True)])
    after = np.concatenate([(s - r).ravel() for s, r in zip(sent, received, strict=True)])
    assert np.allclose(after, before * (0.5 / np.linalg.norm(before)), atol=1e-5)
    # A small update is left as it is; without the instruction nothing is clipped.
    small = [r + 1e-3 for r in received]
    kept = [a.copy() for a in small]
    assert clip_site_update(kept, received, {"clipping_norm": 0.5})
    assert all(np.array_equal(a, b) for a, b in zip(kept, small, strict=True))
    assert not clip_site_update(sent, received, {"round": 1})
    # An unchanged model (a zero update) is sent as it is (Flower's clipping divides by the norm).
    same = [r.copy() for r in received]
    assert clip_site_update(same, received, {"clipping_norm": 0.5})
    assert all(np.array_equal(a, b) for a, b in zip(same, received, strict=True))


class _Site:
    """The proxy of a site as the strategy sees it in results (only its id is read)."""

    def __init__(self, cid: str) -> None:
        self.cid = cid


def test_coordinator_clips_averages_sites_equally_and_adds_noise():
    from flwr.common import Code, FitRes, Status, ndarrays_to_parameters, parameters_to_ndarrays

    from workbench.core.federated.privacy import private_strategy
    from workbench.core.federated.strategy import AdmittingClientManager, FederationStrategy

    old = [np.zeros((50, 40), np.float32), np.zeros(40, np.float32)]

    def strategy(noise: float) -> tuple[object, FederationStrategy]:
        inner = FederationStrategy(min_sites=2, proximal_mu=0.0, fit_config={},
                                   initial=ndarrays_to_parameters(old),
                                   client_manager=AdmittingClientManager())
        config = PrivacyConfig(differential_privacy=True, noise_multiplier=noise,
                               clipping_norm=1.0, clipping="coordinator", delta=1e-5)
        wrapped = private_strategy(inner, config)
        wrapped.configure_fit(1, ndarrays_to_parameters(old), inner.manager)  # nobody admitted yet
        wrapped.num_sampled_clients = 2
        return wrapped, inner

    def result(value: float, n: int) -> FitRes:
        arrays = [np.full_like(a, value) for a in old]
        return FitRes(Status(Code.OK, ""), ndarrays_to_parameters(arrays), n, {})

    # Site a (1000 examples) moved every weight by 3: clipped to norm 1. Site b (10
    # examples) moved them by 0.001: kept. They count equally, whatever their sizes.
    wrapped, inner = strategy(0.0)
    params, _m = wrapped.aggregate_fit(1, [(_Site("a"), result(3.0, 1000)), (_Site("b"), result(1e-3, 10))], [])
    clipped = 1.0 / math.sqrt(sum(a.size for a in old))
    assert all(np.allclose(a, (clipped + 1e-3) / 2, rtol=1e-4) for a in parameters_to_ndarrays(params))
    assert inner.rounds[1]["privacy"]["epsilon"] is None  # no noise: no guarantee

    # Sites that send the global weights back unchanged (zero updates) are averaged too.
    wrapped, inner = strategy(0.8)
    np.random.seed(0)
    params, _m = wrapped.aggregate_fit(1, [(_Site("a"), result(0.0, 1000)), (_Site("b"), result(0.0, 10))], [])
    noise = np.concatenate([a.ravel() for a in parameters_to_ndarrays(params)])
    assert np.std(noise) == pytest.approx(0.8 * 1.0 / 2, rel=0.05)  # z * C / sites
    book = inner.rounds[1]["privacy"]
    assert book["epsilon"] == pytest.approx(epsilon(0.8, 1, 1e-5))
    assert book["noise_stdv"] == pytest.approx(0.4) and book["sites"] == 2


def test_epsilon_is_the_accountants_and_grows_with_rounds():
    import dp_accounting
    from dp_accounting.rdp import RdpAccountant

    accountant = RdpAccountant()
    accountant.compose(dp_accounting.GaussianDpEvent(1.1), 5)
    assert epsilon(1.1, 5, 1e-5) == pytest.approx(accountant.get_epsilon(1e-5))
    assert epsilon(1.1, 1, 1e-5) < epsilon(1.1, 5, 1e-5) < epsilon(1.1, 20, 1e-5)
    assert epsilon(2.0, 5, 1e-5) < epsilon(1.1, 5, 1e-5)  # more noise, less spent
    assert epsilon(0.0, 3, 1e-5) == math.inf and epsilon(1.0, 0, 1e-5) == 0.0
    record = privacy_record(PrivacyConfig(differential_privacy=True, noise_multiplier=1.1), 5)
    assert record["epsilon"] == pytest.approx(epsilon(1.1, 5, 1e-5)) and record["clipping_norm"] == 1.0
    assert "ε = " in privacy_sentence(record) and "per site" in privacy_sentence(record)


def test_bad_privacy_settings_are_one_clear_message():
    with pytest.raises(WorkbenchError, match=r"^Invalid privacy setting: noise multiplier must be at least 0"):
        PrivacyConfig(noise_multiplier=-1.0)
    with pytest.raises(WorkbenchError, match=r"clipping norm must be more than 0 \(got 0"):
        PrivacyConfig(clipping_norm=0.0)
    with pytest.raises(WorkbenchError, match="clipping must be one of: coordinator, sites"):
        PrivacyConfig(clipping="nowhere")
    assert PrivacyConfig().differential_privacy is False  # off unless asked
