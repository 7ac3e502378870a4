"""How the coordinator moves the global model each round: server-side optimisation.

Plain FedAvg replaces the global weights with the sites' average. Seen as an optimiser,
the average minus the global weights is a pseudo-update, applied with a step of 1: the
global model moves as far as one site's update, although the sites together took as many
steps as a centralised run that trained on all their records. With few records per
site (a few optimizer steps per round) that leaves a federation far behind centralised
training after the same epochs. A server learning rate above 1, server momentum, or an
adaptive step per weight (Reddi et al. 2021, "Adaptive Federated Optimization") move the
global model further along the sites' common direction.

The steps are Flower's own: FedAvgM (``sgd``: learning rate and momentum), FedAdam,
FedYogi and FedAdagrad. :class:`ServerStep` wraps the federation's whole strategy (with
differential privacy, the noisy average), feeds its aggregate to the Flower optimiser as
a single result, and returns the optimiser's new global weights. Applied after the noise,
the step is post-processing of the private average: the privacy budget is unchanged.

The optimiser's state (momentum, Adam's moments, its step count) is saved with the
coordinator's checkpoint after every round (:meth:`ServerStep.state`), so a resumed
federation continues with it (:meth:`ServerStep.restore`) instead of starting it from zero.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from workbench.core.errors import WorkbenchError
from workbench.core.federated.config import SERVER_OPTIMIZERS
from workbench.core.federated.flower import require_flower

require_flower()

from flwr.common import (  # noqa: E402
    Code,
    FitRes,
    Parameters,
    Scalar,
    Status,
    ndarrays_to_parameters,
    parameters_to_ndarrays,
)
from flwr.server.strategy import FedAdagrad, FedAdam, FedAvgM, FedYogi, Strategy  # noqa: E402

__all__ = ["AUTO_LEARNING_RATE", "SERVER_OPTIMIZERS", "SERVER_STEP_SETTINGS", "ServerStep",
           "flower_optimizer", "server_step", "steps_ratio"]

#: The FederationConfig settings of the server step (a resumed federation keeps them).
SERVER_STEP_SETTINGS = ("server_optimizer", "server_learning_rate", "server_momentum")

#: The optimisers' attributes that carry over from round to round (FedAvgM, FedOpt).
STATE_ARRAYS = ("momentum_vector", "m_t", "v_t")

#: The automatic server learning rate of the adaptive optimisers (setting 0); 'sgd' has
#: its own (:func:`steps_ratio`).
AUTO_LEARNING_RATE = {"adam": 1e-3, "yogi": 1e-3, "adagrad": 1e-2}


def steps_ratio(examples: list[int]) -> float:
    """How many times farther centralised training on all the sites' records moves than the
    sites' example-weighted average update, in the same epochs: ``N**2 / sum(n_k**2)``
    for sites of ``n_k`` training examples (``N`` in all).

    An epoch of centralised training takes ``N / b`` steps of batch ``b``; site ``k`` takes
    ``n_k / b``, and the average weighted by examples moves about as far as
    ``sum(n_k / N * n_k / b)`` steps in the sites' common direction. The ratio is the number
    of sites when they are of equal size, and near 1 when one site holds nearly every
    record (its update alone is then nearly the centralised one): the automatic server
    learning rate of 'sgd'."""
    total = float(sum(examples))
    squares = float(sum(n * n for n in examples))
    return total * total / squares if squares > 0 else 1.0


def _no_metrics(_pairs: list) -> dict[str, Scalar]:
    return {}  # the wrapped strategy combines the sites' figures


def flower_optimizer(kind: str, *, learning_rate: float, momentum: float,
                     initial: Parameters) -> Any:
    """Flower's server-side optimiser for a ``server_optimizer`` setting."""
    common: dict[str, Any] = {"initial_parameters": initial,
                              "fit_metrics_aggregation_fn": _no_metrics}
    if kind == "sgd":
        optimizer = FedAvgM(server_learning_rate=learning_rate, server_momentum=momentum, **common)
        optimizer.server_opt = True  # also at rate 1 (FedAvgM skips its step then): the rate
        return optimizer             # may be set per round (automatic)
    if kind == "adam":
        return FedAdam(eta=learning_rate, beta_1=momentum, **common)
    if kind == "yogi":
        return FedYogi(eta=learning_rate, beta_1=momentum, **common)
    if kind == "adagrad":
        optimizer = FedAdagrad(eta=learning_rate, **common)
        optimizer.beta_1 = momentum  # FedAdagrad keeps FedOpt's momentum term (0 by default)
        return optimizer
    raise WorkbenchError(f"Unknown server optimizer {kind!r} (use one of {', '.join(SERVER_OPTIMIZERS)}).")


def _same_dtypes(stepped: Parameters, like: Parameters) -> Parameters:
    """``stepped`` in the dtypes of ``like``: Flower's adaptive optimisers compute with
    float64 scalars, which would double the bytes every later round sends."""
    arrays = parameters_to_ndarrays(stepped)
    dtypes = [a.dtype for a in parameters_to_ndarrays(like)]
    if all(a.dtype == d for a, d in zip(arrays, dtypes, strict=True)):
        return stepped
    return ndarrays_to_parameters([a.astype(d, copy=False) for a, d in zip(arrays, dtypes, strict=True)])


class ServerStep(Strategy):
    """``strategy`` with Flower's server optimiser applied to each round's aggregate."""

    def __init__(self, strategy: Any, optimizer: Any, *, automatic: bool = False) -> None:
        super().__init__()
        self.strategy = strategy
        self.optimizer = optimizer
        #: 'sgd' with the automatic rate: each round's rate is :func:`steps_ratio` of the
        #: sites that sent results (recorded in ``learning_rates``).
        self.automatic = automatic
        self.learning_rates: dict[int, float] = {}
        self.steps = 0

    def __repr__(self) -> str:
        return f"ServerStep({self.strategy!r}, {type(self.optimizer).__name__})"

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """What the optimiser remembers between rounds, for the checkpoint: its arrays
        (FedAvgM's momentum, FedOpt's first and second moments; none at plain 'sgd') by
        name, and its step count and rates as JSON."""
        arrays: dict[str, np.ndarray] = {}
        for name in STATE_ARRAYS:
            for i, a in enumerate(getattr(self.optimizer, name, None) or []):
                arrays[f"{name}.{i:05d}"] = np.asarray(a)
        return arrays, {"steps": self.steps,
                        "learning_rates": {str(r): v for r, v in self.learning_rates.items()}}

    def restore(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        """Continue from :meth:`state` of an interrupted federation."""
        self.steps = int(meta.get("steps", 0))
        self.learning_rates = {int(r): float(v) for r, v in (meta.get("learning_rates") or {}).items()}
        for name in STATE_ARRAYS:
            keys = sorted(k for k in arrays if k.rsplit(".", 1)[0] == name)
            if keys:
                setattr(self.optimizer, name, [arrays[k] for k in keys])

    def initialize_parameters(self, client_manager: Any) -> Parameters | None:
        return self.strategy.initialize_parameters(client_manager)

    def configure_fit(self, server_round: int, parameters: Parameters, client_manager: Any) -> list:
        return self.strategy.configure_fit(server_round, parameters, client_manager)

    def aggregate_fit(self, server_round: int, results: list, failures: list
                      ) -> tuple[Parameters | None, dict[str, Scalar]]:
        examples = [int(res.num_examples) for _proxy, res in results]  # before any wrapper's change
        averaged, metrics = self.strategy.aggregate_fit(server_round, results, failures)
        if averaged is None:  # too few results: the round is repeated, nothing moves
            return None, metrics
        if self.automatic:
            self.optimizer.server_learning_rate = steps_ratio(examples)
        self.learning_rates[server_round] = float(getattr(self.optimizer, "server_learning_rate",
                                                          getattr(self.optimizer, "eta", 0.0)))
        self.steps += 1  # the optimiser's own count (a resumed federation starts at 1)
        one = [(None, FitRes(status=Status(code=Code.OK, message=""), parameters=averaged,
                             num_examples=1, metrics={}))]
        stepped, _m = self.optimizer.aggregate_fit(self.steps, one, [])
        return _same_dtypes(stepped, averaged), metrics

    def configure_evaluate(self, server_round: int, parameters: Parameters, client_manager: Any) -> list:
        return self.strategy.configure_evaluate(server_round, parameters, client_manager)

    def aggregate_evaluate(self, server_round: int, results: list, failures: list
                           ) -> tuple[float | None, dict[str, Scalar]]:
        return self.strategy.aggregate_evaluate(server_round, results, failures)

    def evaluate(self, server_round: int, parameters: Parameters) -> tuple[float, dict[str, Scalar]] | None:
        return self.strategy.evaluate(server_round, parameters)


def server_step(strategy: Any, federation: Any, initial: Parameters) -> Any:
    """``strategy`` with the server step of a :class:`FederationConfig` (its
    ``server_*`` settings), or itself for plain averaging ('sgd' at learning rate 1
    without momentum: the new global model is the sites' average)."""
    kind = federation.server_optimizer
    automatic = kind == "sgd" and not federation.server_learning_rate
    learning_rate = federation.server_learning_rate or AUTO_LEARNING_RATE.get(kind, 1.0)
    momentum = federation.server_momentum
    if kind == "sgd" and learning_rate == 1.0 and momentum == 0.0 and not automatic:
        return strategy
    return ServerStep(strategy, flower_optimizer(kind, learning_rate=learning_rate,
                                                 momentum=momentum, initial=initial),
                      automatic=automatic)
