"""Secure aggregation (Flower's SecAgg+ through our tunnel Grid) against a plain weighted
average: protocol time per round, bytes per site and the error of the average, for
three in-process sites with update vectors of MiniLM's sizes (LoRA exchange and full
weights). Training is left out (each site adds a fixed random update), so the figures
are the protocol's own cost: key exchange, masking, serialisation, unmasking.

    python benchmarks/federated_secagg.py            # LoRA and full sizes, 3 sites
"""
from __future__ import annotations

import sys
import time

import numpy as np
from flwr.client import NumPyClient
from flwr.common import Code, FitRes, Status, ndarrays_to_parameters, parameters_to_ndarrays
from flwr.server.client_proxy import ClientProxy

from workbench.core.federated.secagg import secure_fit_round
from workbench.core.federated.secagg_site import SecureSite
from workbench.core.federated.strategy import AdmittingClientManager, FederationStrategy

#: Values exchanged per round with all-MiniLM-L6-v2 (3 labels): LoRA rank 8 adapters on
#: query/value plus the head, and every weight.
SIZES = {"lora": 3 * 2 * 6 * 8 * 384 + 384 * 384 + 384 * 3, "full": 22_714_000}
SITES = (120, 60, 30)  # training records per site (the weights of the average)


class Trainer(NumPyClient):
    def __init__(self, update: list[np.ndarray], n: int) -> None:
        self.update, self.n = update, n

    def fit(self, parameters, config):
        return [p + u for p, u in zip(parameters, self.update, strict=True)], self.n, {}


class LocalProxy(ClientProxy):
    """What a legacy gRPC proxy carries (FitIns config in, FitRes metrics out), in-process."""

    def __init__(self, cid: str, site: SecureSite) -> None:
        super().__init__(cid)
        self.site = site
        self.uploaded = 0
        self.seconds = 0.0

    def fit(self, ins, timeout, group_id):
        t = time.perf_counter()
        metrics = self.site.answer(dict(ins.config))
        self.seconds += time.perf_counter() - t
        self.uploaded += sum(len(v) for v in metrics.values() if isinstance(v, bytes))
        return FitRes(Status(Code.OK, ""), ndarrays_to_parameters([]), 0, metrics)

    def get_properties(self, ins, timeout, group_id):
        raise NotImplementedError

    get_parameters = evaluate = reconnect = get_properties


def one(size: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    shapes = [(size // 2,), (size - size // 2,)]
    start = [rng.normal(0, 0.05, s).astype(np.float32) for s in shapes]
    updates = [[rng.normal(0, 1e-3, s).astype(np.float32) for s in shapes] for _ in SITES]
    manager = AdmittingClientManager()
    proxies = []
    for i, (update, n) in enumerate(zip(updates, SITES, strict=True)):
        proxy = LocalProxy(f"site{i}", SecureSite(Trainer(update, n).to_client()))
        proxy.properties = {"n_train": n}
        manager.admit(proxy, f"site{i}")
        proxies.append(proxy)
    initial = ndarrays_to_parameters(start)
    strategy = FederationStrategy(min_sites=2, proximal_mu=0.0, fit_config={}, initial=initial,
                                  client_manager=manager)
    t = time.perf_counter()
    params, _m, _r = secure_fit_round(strategy, strategy, manager, initial, 1, None, {})
    secure_s = time.perf_counter() - t
    t = time.perf_counter()
    plain = [s + sum(n * u[k] for u, n in zip(updates, SITES, strict=True)) / sum(SITES)
             for k, s in enumerate(start)]
    plain_s = time.perf_counter() - t
    got = parameters_to_ndarrays(params)
    return {"values": size, "secure_s": secure_s, "site_s": sum(p.seconds for p in proxies) / len(proxies), "plain_average_s": plain_s,
            "plain_upload_mb": size * 4 / 1e6,
            "secure_upload_mb": max(p.uploaded for p in proxies) / 1e6,
            "max_error": max(float(np.abs(a - b).max()) for a, b in zip(got, plain, strict=True)),
            "update_scale": 1e-3}


def main() -> int:
    print(f"SecAgg+ over the tunnel Grid, {len(SITES)} in-process sites with {SITES} records; "
          "no training, protocol only")
    print("secure s: the whole round (coordinator and the three sites, all in this process); "
          "per site s: one site's own share of it (key generation, masking, serialisation)")
    print(f"{'exchange':>8} {'values':>11} {'secure s':>9} {'per site s':>10} {'plain s':>8} {'up MB plain':>11} "
          f"{'up MB secure':>12} {'ratio':>6} {'max error':>10}")
    for name, size in SIZES.items():
        r = one(size)
        print(f"{name:>8} {r['values']:>11,} {r['secure_s']:9.2f} {r['site_s']:10.2f} {r['plain_average_s']:8.3f} "
              f"{r['plain_upload_mb']:11.2f} {r['secure_upload_mb']:12.2f} "
              f"{r['secure_upload_mb'] / r['plain_upload_mb']:6.2f} {r['max_error']:10.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
