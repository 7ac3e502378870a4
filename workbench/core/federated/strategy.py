"""The coordinator's Flower pieces: who may take part, and how results are combined.

- :class:`AdmittingClientManager`: a site that connects waits in ``pending`` until the
  coordinator has checked its label schema (:meth:`admit`); only admitted sites are
  sampled for rounds.
- :class:`FederationStrategy`: Flower's FedProx (FedAvg when mu is 0; weighted by the
  number of training examples), which also refuses a round with fewer results than the
  minimum, keeps each site's figures and the bytes that travelled, and can log what every
  site sent (shapes, sizes, metric names and values) for an audit.
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from workbench.core.federated.flower import require_flower

require_flower()

from flwr.common import EvaluateRes, FitRes, Parameters, Scalar, parameters_to_ndarrays  # noqa: E402
from flwr.server.client_manager import SimpleClientManager  # noqa: E402
from flwr.server.client_proxy import ClientProxy  # noqa: E402
from flwr.server.criterion import Criterion  # noqa: E402
from flwr.server.strategy import FedProx  # noqa: E402

__all__ = ["AdmittingClientManager", "FederationStrategy", "weighted_average"]

#: Figures combined across sites, weighted by each site's number of test records.
WEIGHTED = ("loss", "accuracy", "macro_f1", "micro_f1", "weighted_f1")


class AdmittingClientManager(SimpleClientManager):
    """Sites are sampled only once admitted; names are kept per connection."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: dict[str, ClientProxy] = {}
        self.names: dict[str, str] = {}
        self.lock = threading.Lock()

    def register(self, client: ClientProxy) -> bool:
        with self.lock:
            if client.cid in self.pending or client.cid in self.clients:
                return False
            self.pending[client.cid] = client
        return True

    def unregister(self, client: ClientProxy) -> None:
        with self.lock:
            self.pending.pop(client.cid, None)
        super().unregister(client)

    def take_pending(self) -> list[ClientProxy]:
        """Sites waiting for their check (each is handed out once)."""
        with self.lock:
            out = list(self.pending.values())
            self.pending.clear()
        return out

    def admit(self, client: ClientProxy, name: str) -> None:
        taken = set(self.names.get(cid) for cid in self.clients)
        unique, k = name, 2
        while unique in taken:
            unique, k = f"{name} ({k})", k + 1
        self.names[client.cid] = unique
        super().register(client)

    def site_names(self) -> list[str]:
        return sorted(self.names.get(cid, cid) for cid in list(self.clients))

    def sample(self, num_clients: int, min_num_clients: int | None = None,
               criterion: Criterion | None = None) -> list[ClientProxy]:
        """Every admitted site, or none when fewer than the minimum are there (the caller
        waits and repeats; Flower's own sample would block for a day)."""
        available = list(self.clients.values())
        if len(available) < (min_num_clients or num_clients):
            return []
        return available


def weighted_average(pairs: list[tuple[int, dict[str, Scalar]]]) -> dict[str, Scalar]:
    """Metrics averaged across sites, weighted by their example counts."""
    total = sum(n for n, _m in pairs)
    out: dict[str, Scalar] = {"n": float(total), "sites": float(len(pairs))}
    for key in WEIGHTED:
        have = [(n, float(m[key])) for n, m in pairs if key in m]  # type: ignore[arg-type]
        weight = sum(n for n, _v in have)
        if weight:
            out[key] = sum(n * v for n, v in have) / weight
    return out


class FederationStrategy(FedProx):
    """FedProx/FedAvg with a minimum of results per round and per-site bookkeeping."""

    def __init__(self, *, min_sites: int, proximal_mu: float, fit_config: dict[str, Scalar],
                 initial: Parameters, client_manager: AdmittingClientManager,
                 traffic_log: str = "") -> None:
        super().__init__(
            fraction_fit=1.0, fraction_evaluate=1.0, min_fit_clients=min_sites,
            min_evaluate_clients=min_sites, min_available_clients=min_sites,
            on_fit_config_fn=lambda r: {**fit_config, "round": r},
            on_evaluate_config_fn=lambda r: {**fit_config, "round": r},
            accept_failures=True, initial_parameters=initial,
            fit_metrics_aggregation_fn=weighted_average,
            evaluate_metrics_aggregation_fn=weighted_average,
            proximal_mu=proximal_mu,
        )
        self.min_sites = min_sites
        self.manager = client_manager
        self.traffic_log = Path(traffic_log) if traffic_log else None
        self.rounds: dict[int, dict[str, Any]] = {}

    def _book(self, server_round: int) -> dict[str, Any]:
        return self.rounds.setdefault(server_round, {
            "round": server_round, "fit_sites": [], "eval_sites": [], "per_site": {},
            "bytes_received": 0, "bytes_sent": 0, "failures": 0, "started": time.time(),
        })

    def _log(self, server_round: int, kind: str, site: str, parameters: Parameters | None,
             metrics: dict[str, Scalar], num_examples: int) -> None:
        if self.traffic_log is None:
            return
        arrays = parameters_to_ndarrays(parameters) if parameters is not None else []
        entry = {
            "round": server_round, "kind": kind, "site": site, "num_examples": num_examples,
            "tensors": [{"shape": list(a.shape), "dtype": str(a.dtype), "bytes": int(a.nbytes)} for a in arrays],
            "metrics": metrics,
        }
        with self.traffic_log.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")

    def configure_fit(self, server_round: int, parameters: Parameters, client_manager: Any) -> list:
        pairs = super().configure_fit(server_round, parameters, client_manager)
        book = self._book(server_round)
        book["bytes_sent"] += sum(len(t) for t in parameters.tensors) * len(pairs)
        return pairs

    def aggregate_fit(self, server_round: int, results: list[tuple[ClientProxy, FitRes]],
                      failures: list[Any]) -> tuple[Parameters | None, dict[str, Scalar]]:
        book = self._book(server_round)
        book["failures"] += len(failures)
        for proxy, res in results:
            site = self.manager.names.get(proxy.cid, proxy.cid)
            book["fit_sites"].append(site)
            book["bytes_received"] += sum(len(t) for t in res.parameters.tensors)
            self._log(server_round, "fit", site, res.parameters, dict(res.metrics), res.num_examples)
        if len(results) < self.min_sites:
            return None, {}
        return super().aggregate_fit(server_round, results, failures)

    def aggregate_evaluate(self, server_round: int, results: list[tuple[ClientProxy, EvaluateRes]],
                           failures: list[Any]) -> tuple[float | None, dict[str, Scalar]]:
        book = self._book(server_round)
        for proxy, res in results:
            site = self.manager.names.get(proxy.cid, proxy.cid)
            book["eval_sites"].append(site)
            book["per_site"][site] = {**{k: float(v) for k, v in res.metrics.items()},  # type: ignore[arg-type]
                                      "n": float(res.num_examples)}
            self._log(server_round, "evaluate", site, None, dict(res.metrics), res.num_examples)
        return super().aggregate_evaluate(server_round, results, failures)
