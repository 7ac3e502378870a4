"""Differential privacy of a federation with Flower's own pieces.

The coordinator wraps its strategy in Flower's ``DifferentialPrivacyClientSideFixedClipping``,
which adds Gaussian noise of standard deviation ``noise_multiplier * clipping_norm / sites``
to the average. Clipping happens either at the sites (the wrapper asks them to, through the
``clipping_norm`` entry of each round's fit instructions) or at the coordinator, with
Flower's ``compute_clip_model_update`` as its ``DifferentialPrivacyServerSideFixedClipping``
does (that wrapper itself is not used: see :class:`_CoordinatorClips`). Sites are
legacy NumPy clients, so Flower's ``fixedclipping_mod`` (a ClientApp mod) does not apply:
:func:`clip_site_update` calls the same Flower function on the site's side.

Two adjustments make the wrapper's noise match the accountant's figure:

- the number of sites the noise is calibrated to is the number sampled this round (every
  connected site), not a number fixed at the start;
- the sites' updates are averaged with equal weights while the privacy option is on: with
  weights by training examples one large site could move the average by more than one
  clipped update divided by the number of sites, which the noise is calibrated to.

Each noisy round's epsilon is kept in the strategy's round book (``rounds[r]["privacy"]``).
"""
from __future__ import annotations

from typing import Any

from workbench.core.errors import WorkbenchError
from workbench.core.federated.accounting import epsilon
from workbench.core.federated.flower import require_flower
from workbench.core.federated.privacy_config import PrivacyConfig, to_instructions

require_flower()

from flwr.common import ndarrays_to_parameters, parameters_to_ndarrays  # noqa: E402
from flwr.server.strategy import DifferentialPrivacyClientSideFixedClipping  # noqa: E402
from flwr.supercore.differential_privacy import (  # noqa: E402
    KEY_CLIPPING_NORM,
    compute_clip_model_update,
    compute_stdv,
    get_norm,
)

__all__ = ["private_strategy", "clip_site_update", "update_norm", "KEY_CLIPPING_NORM"]


class _Accounted:
    """Per-round site count, equal weights and the epsilon of each noisy round."""

    strategy: Any
    noise_multiplier: float
    clipping_norm: float
    num_sampled_clients: int
    delta: float
    privacy: PrivacyConfig

    def configure_fit(self, server_round: int, parameters: Any, client_manager: Any) -> list:
        pairs = super().configure_fit(server_round, parameters, client_manager)  # type: ignore[misc]
        return self.sampled(pairs)

    def sampled(self, pairs: list) -> list:
        """Calibrate the noise to the sites sampled this round and tell them the settings
        (for their own records of the global model)."""
        self.num_sampled_clients = max(1, len(pairs))
        for _proxy, fit_ins in pairs:
            fit_ins.config.update(to_instructions(self.privacy))
        return pairs

    def aggregate_fit(self, server_round: int, results: list, failures: list) -> tuple[Any, dict]:
        for _proxy, res in results:
            res.num_examples = 1  # equal weights (see the module docstring)
        parameters, metrics = super().aggregate_fit(server_round, results, failures)  # type: ignore[misc]
        book = self.strategy.rounds.get(server_round)
        if parameters is not None and book is not None:
            spent = epsilon(self.noise_multiplier, server_round, self.delta)
            book["privacy"] = {
                "epsilon": spent if spent != float("inf") else None,
                "noise_stdv": compute_stdv(self.noise_multiplier, self.clipping_norm,
                                           self.num_sampled_clients),
                "sites": self.num_sampled_clients,
                "delta": self.delta,
            }
        return parameters, metrics


class _CoordinatorClips(_Accounted, DifferentialPrivacyClientSideFixedClipping):
    """Clipping at the coordinator. Flower's ``DifferentialPrivacyServerSideFixedClipping``
    divides by each update's norm, so one site sending the global weights back unchanged
    (a zero update) would stop the federation with ZeroDivisionError. This clips each
    update the same way with Flower's ``compute_clip_model_update``, skipping zero updates,
    and leaves the noise to Flower's wrapper (the sites are asked to clip nothing)."""

    current: list[Any]

    def configure_fit(self, server_round: int, parameters: Any, client_manager: Any) -> list:
        self.current = parameters_to_ndarrays(parameters)
        return self.sampled(self.strategy.configure_fit(server_round, parameters, client_manager))

    def aggregate_fit(self, server_round: int, results: list, failures: list) -> tuple[Any, dict]:
        for _proxy, res in results if not failures else []:
            arrays = parameters_to_ndarrays(res.parameters)
            if update_norm(arrays, self.current) > 0:
                compute_clip_model_update(arrays, self.current, self.clipping_norm)
                res.parameters = ndarrays_to_parameters(arrays)
        return super().aggregate_fit(server_round, results, failures)


class _SitesClip(_Accounted, DifferentialPrivacyClientSideFixedClipping):
    pass


def private_strategy(strategy: Any, config: PrivacyConfig) -> Any:
    """``strategy`` wrapped for differential privacy, or itself when the option is off."""
    if not config.differential_privacy:
        return strategy
    wrapper = _SitesClip if config.clipping == "sites" else _CoordinatorClips
    try:
        wrapped = wrapper(strategy, noise_multiplier=config.noise_multiplier,
                          clipping_norm=config.clipping_norm,
                          num_sampled_clients=max(1, int(strategy.min_sites)))
    except ValueError as exc:  # Flower's own checks (the settings' bounds come first)
        raise WorkbenchError(f"Invalid privacy setting: {exc}") from None
    wrapped.delta = config.delta
    wrapped.privacy = config
    return wrapped


def clip_site_update(new: list[Any], received: list[Any], config: dict[str, Any]) -> bool:
    """Clip this site's update (``new - received``) in place to the norm the coordinator
    asks for in the round's instructions; False when it asks for none."""
    norm = config.get(KEY_CLIPPING_NORM)
    if norm is None:
        return False
    if update_norm(new, received) > 0:  # Flower's clipping divides by it
        compute_clip_model_update(new, received, float(norm))
    return True


def update_norm(new: list[Any], received: list[Any]) -> float:
    """L2 norm of an update over every tensor (as Flower measures it)."""
    return get_norm([a - b for a, b in zip(new, received, strict=True)])
