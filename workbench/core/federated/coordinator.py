"""The coordinator job: run a federation from a project that defines the labels.

``serve_job`` starts Flower's gRPC server on the configured address, checks the label
schema of every site that connects (admitting only matching ones), and runs the rounds
itself: each round every admitted site trains from the global weights, Flower's FedAvg
(or FedProx) combines the results weighted by the sites' training examples, a server step
moves the global model along that average (``server_step.py``), and every site
reports figures on its own test split. A round that ends with fewer than the minimum of
sites (a site dropped out) is repeated with whoever is there; a site may rejoin at any
time. After each round the global weights are checkpointed; a coordinator stopped early tells its
sites to disconnect (or they find its connection closed) and they keep trying to join
again, so a restart with ``resume`` continues from the last completed round with the same
sites. At the end the global model becomes a normal run of the coordinator's project.
"""
from __future__ import annotations

import concurrent.futures
import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.core.errors import Cancelled, WorkbenchError
from workbench.core.federated.accounting import planned_words, privacy_record, privacy_words
from workbench.core.federated.checkpoint import (
    load_checkpoint,
    load_optimizer_state,
    remove_checkpoint,
    save_checkpoint,
)
from workbench.core.federated.config import FederationEvent, FederationResult, ServeConfig
from workbench.core.federated.exchange import exchange_for
from workbench.core.federated.flower import require_flower
from workbench.core.federated.schema import FederationSchema

__all__ = ["serve_job", "HANDSHAKE_TIMEOUT_S"]

log = logging.getLogger(__name__)

#: How long a joining site may take to read its records and load the base model.
HANDSHAKE_TIMEOUT_S = 600.0
_POLL_S = 0.1
#: A restarted coordinator retries its port this long (its previous instance may still be
#: closing).
REBIND_S = 5.0


class _Admitter:
    """Checks each connecting site's schema in the background and admits matching ones."""

    def __init__(self, manager: Any, properties: dict[str, Any], emit: Callable[..., None]) -> None:
        self.manager = manager
        self.properties = properties
        self.emit = emit
        self.stop = threading.Event()
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="admit")
        self.thread = threading.Thread(target=self._loop, name="admitter", daemon=True)
        self.refusals: list[str] = []

    def _loop(self) -> None:
        while not self.stop.is_set():
            for proxy in self.manager.take_pending():
                self.pool.submit(self._check, proxy)
            self.stop.wait(_POLL_S)

    def _check(self, proxy: Any) -> None:
        from flwr.common import GetPropertiesIns, ReconnectIns

        try:
            res = proxy.get_properties(GetPropertiesIns(config=self.properties),
                                       timeout=HANDSHAKE_TIMEOUT_S, group_id=None)
        except Exception as exc:  # the site went away while being checked
            log.info("a site left during its check: %s", exc)
            return
        props = dict(res.properties)
        if props.get("accepted"):
            proxy.properties = props  # its number of training records (secure aggregation)
            self.manager.admit(proxy, str(props.get("site") or "site"))
            self.emit("join", f"Site {self.manager.names[proxy.cid]} joined "
                              f"({len(self.manager.clients)} taking part)")
            return
        reason = str(props.get("reason") or "refused")
        self.refusals.append(reason)
        self.emit("join", f"A site was refused: {reason}")
        try:
            proxy.reconnect(ReconnectIns(seconds=None), timeout=10.0, group_id=None)
        except Exception:
            log.debug("refused site already gone", exc_info=True)

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.pool.shutdown(wait=False, cancel_futures=True)


def _polled(fn: Callable[[], Any], should_stop: Callable[[], bool], what: str) -> Any:
    """Run ``fn`` in a thread, raising :class:`Cancelled` as soon as ``should_stop``."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=run, name=what, daemon=True)
    thread.start()
    while thread.is_alive():
        if should_stop():
            raise Cancelled(f"Federation stopped during {what}.")
        thread.join(_POLL_S)
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _certificates(fed: Any) -> tuple[bytes, bytes, bytes] | None:
    """(CA, certificate, key) bytes for TLS, None without; a partial set is refused."""
    files = (fed.ca_cert, fed.server_cert, fed.server_key)
    if not any(files):
        return None
    if not all(files):
        raise WorkbenchError("TLS needs all three files: --ca-cert, --server-cert and --server-key.")
    try:
        ca, cert, key = (Path(f).read_bytes() for f in files)
    except OSError as exc:
        raise WorkbenchError(f"Cannot read a TLS file: {exc}") from None
    return ca, cert, key


def _bind_error(address: str, exc: BaseException) -> WorkbenchError:
    return WorkbenchError(f"Cannot listen on {address} ({exc}): is another federation using "
                          "this port? Choose another with --address HOST:PORT.")


def serve_job(project_path: str | Path, config: ServeConfig, *, progress: Callable[[Any], None],
              should_stop: Callable[[], bool]) -> FederationResult:
    """Run the federation to the end; see the module docstring."""
    require_flower()
    from flwr.common import (
        GRPC_MAX_MESSAGE_LENGTH,
        ReconnectIns,
        ndarrays_to_parameters,
        parameters_to_ndarrays,
    )
    from flwr.server import Server
    from flwr.server.superlink.fleet.grpc_bidi.grpc_server import start_grpc_server

    from workbench.core.federated.local import LocalModel
    from workbench.core.federated.privacy import private_strategy
    from workbench.core.federated.server_step import SERVER_STEP_SETTINGS, ServerStep, server_step
    from workbench.core.federated.strategy import AdmittingClientManager, FederationStrategy
    from workbench.core.store.project import Project

    fed, train = config.federation, config.training
    fed.validate()
    train.validate()
    config.privacy.validate()
    if config.privacy.secure_aggregation:
        from workbench.core.federated.secagg import check_secure_settings

        check_secure_settings(config.privacy, fed.min_sites)
    if train.method not in ("auto", "finetune", "lora"):
        raise WorkbenchError(f"Federated training fine-tunes the model; the {train.method!r} "
                             "method does not exchange weights. Use --method finetune.")
    if train.method == "lora" and fed.exchange != "lora":
        raise WorkbenchError("A federation trains LoRA adapters with --exchange lora; "
                             "use it with --method lora.")
    exchange = exchange_for(fed.exchange)
    path = Path(project_path)
    with Project.open(path) as project:
        schema = FederationSchema.from_project(project)
        models_dir = project.models_dir
    state = {"round": 0}
    manager = AdmittingClientManager()

    def emit(phase: str, message: str = "", **kw: Any) -> None:
        try:
            progress(FederationEvent(phase, state["round"], fed.rounds, message,
                                     round=state["round"], sites=manager.site_names(), **kw))
        except Exception:
            log.exception("progress callback failed")

    emit("prepare", "Loading the base model")
    local = LocalModel(path, schema, train, should_stop=should_stop, need_data=False,
                       exchange=fed.exchange)
    fit_config = {"schema": schema.to_json(), "training": json.dumps(train.to_dict()),
                  "exchange": fed.exchange, "rounds": fed.rounds, "local_epochs": fed.local_epochs}
    fixed = {"schema": fit_config["schema"], "training": fit_config["training"],
             "exchange": fed.exchange, "local_epochs": fed.local_epochs,
             "privacy": config.privacy.to_dict(),  # epsilon so far assumes the same settings
             "server_step": {k: getattr(fed, k) for k in SERVER_STEP_SETTINGS}}
    history: list[dict[str, Any]] = []
    resumed = load_checkpoint(models_dir, fixed) if fed.resume else None
    if resumed is not None:
        arrays, saved = resumed
        history = list(saved["history"])
        state["round"] = int(saved["round"])
        emit("prepare", f"Resuming after round {state['round']} of the interrupted federation")
    else:
        arrays = exchange.get(local.model)
    initial = ndarrays_to_parameters(arrays)
    strategy = FederationStrategy(min_sites=fed.min_sites, proximal_mu=fed.proximal_mu,
                                  fit_config=fit_config, initial=initial, client_manager=manager,
                                  traffic_log=fed.traffic_log)
    if config.privacy.differential_privacy:
        emit("prepare", planned_words(config.privacy, fed.rounds))
    certificates = _certificates(fed)
    rebind_until = time.monotonic() + (REBIND_S if fed.resume else 0.0)
    while True:
        try:
            grpc_server = start_grpc_server(client_manager=manager, server_address=fed.address,
                                            max_message_length=GRPC_MAX_MESSAGE_LENGTH,
                                            certificates=certificates)
            break
        except (RuntimeError, OSError, SystemExit) as exc:  # Flower exits when the port is taken
            if time.monotonic() > rebind_until or should_stop():
                raise _bind_error(fed.address, exc) from None
            time.sleep(0.25)
    server = Server(client_manager=manager, strategy=server_step(
        private_strategy(strategy, config.privacy), fed, initial))
    server.parameters = initial
    stepper = server.strategy if isinstance(server.strategy, ServerStep) else None
    if resumed is not None and stepper is not None:
        stepper.restore(load_optimizer_state(models_dir), resumed[1].get("server_optimizer") or {})
    fit_round = _fit_stage(server, strategy, manager, config, timeout=fed.round_timeout_s or None)
    if config.privacy.secure_aggregation:
        emit("prepare", "Secure aggregation (SecAgg+): the coordinator sees only the sum of the "
                        "sites' masked updates")
    admitter = _Admitter(manager, {k: fit_config[k] for k in ("schema", "training", "exchange", "rounds")}, emit)
    admitter.start()
    timeout = fed.round_timeout_s or None
    t_start = time.perf_counter()
    try:
        retries = 0
        while state["round"] < fed.rounds:
            first = state["round"] == 0 and retries == 0
            _wait_for_sites(manager, max(fed.min_sites, fed.start_sites) if first else fed.min_sites,
                            fed.wait_s, should_stop, emit, admitter)
            r = state["round"] + 1
            t_round = time.perf_counter()
            emit("train", f"Round {r} of {fed.rounds}: {len(manager.clients)} site(s) training")
            fitted = _polled(lambda r=r: fit_round(r),
                             should_stop, f"round {r}")
            if fitted is None or fitted[0] is None:
                retries += 1
                strategy.rounds.pop(r, None)
                if retries > fed.max_retries:
                    raise WorkbenchError(f"Round {r} failed {retries} times: fewer than "
                                         f"{fed.min_sites} site(s) sent results.")
                emit("train", f"Round {r}: fewer than {fed.min_sites} site(s) answered; repeating it")
                continue
            retries = 0
            server.parameters = fitted[0]
            emit("evaluate", f"Round {r}: sites evaluate the new global model")
            evaluated = _polled(lambda r=r: server.evaluate_round(server_round=r, timeout=timeout),
                                should_stop, f"the evaluation of round {r}")
            book = strategy.rounds.get(r, {})
            weighted = dict(evaluated[1]) if evaluated else {}
            entry = {"round": r, "sites": sorted(set(book.get("fit_sites", []))),
                     "weighted": weighted, "per_site": book.get("per_site", {}),
                     "bytes_sent": book.get("bytes_sent", 0),
                     "bytes_received": book.get("bytes_received", 0),
                     "failures": book.get("failures", 0),
                     "seconds": time.perf_counter() - t_round}
            if "privacy" in book:  # differential privacy: this round's epsilon
                entry["privacy"] = book["privacy"]
            if local.test:  # the coordinator's own labelled test records, if it has any
                entry["coordinator"] = _central_figures(local, exchange, fitted[0])
            history.append(entry)
            state["round"] = r
            memory, meta = stepper.state() if stepper is not None else ({}, {})
            save_checkpoint(models_dir, parameters_to_ndarrays(server.parameters),
                            {**fixed, "round": r, "history": history, "server_optimizer": meta}, memory)
            emit("round", _round_words(entry), metrics=weighted, per_site=entry["per_site"],
                 privacy=entry.get("privacy"))
        arrays = parameters_to_ndarrays(server.parameters)
    finally:
        admitter.close()
        # Sites that have not seen the last round keep trying to join again (a restart
        # with --resume continues); a site busy training learns it from the closed stream.
        _release(list(manager.clients.values()), ReconnectIns)
        grpc_server.stop(grace=1).wait(10)  # the port is free when this returns
    result = _finish(path, local, exchange, arrays, config, history, t_start, emit)
    remove_checkpoint(models_dir)
    return result


def _fit_stage(server: Any, strategy: Any, manager: Any, config: ServeConfig,
               timeout: float | None) -> Callable[[int], Any]:
    """A round's fit stage: Flower's own, or SecAgg+ over the same connections."""
    if not config.privacy.secure_aggregation:
        return lambda r: server.fit_round(server_round=r, timeout=timeout)
    from workbench.core.federated.secagg import secure_fit_round

    ids: dict[str, int] = {}  # each site's node id in the protocol
    return lambda r: secure_fit_round(server.strategy, strategy, manager, server.parameters, r,
                                      timeout, ids, config.federation.traffic_log)


def _release(proxies: list[Any], reconnect_ins: Any) -> None:
    """Tell every site to disconnect (all at once; one gone site delays none)."""

    def one(proxy: Any) -> None:
        try:
            proxy.reconnect(reconnect_ins(seconds=None), timeout=5.0, group_id=None)
        except Exception:
            log.debug("a site was already gone at the end", exc_info=True)

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(proxies))) as pool:
        list(pool.map(one, proxies))


def _wait_for_sites(manager: Any, n: int, wait_s: float, should_stop: Callable[[], bool],
                    emit: Callable[..., None], admitter: _Admitter) -> None:
    deadline = time.monotonic() + wait_s
    said = -1
    while len(manager.clients) < n:
        if should_stop():
            raise Cancelled("Federation stopped while waiting for sites.")
        if time.monotonic() > deadline:
            why = f" Refused: {admitter.refusals[-1]}" if admitter.refusals else ""
            raise WorkbenchError(f"Only {len(manager.clients)} of {n} site(s) joined within "
                                 f"{wait_s:g} s.{why}")
        if len(manager.clients) != said:
            said = len(manager.clients)
            emit("wait", f"Waiting for sites: {said} of {n} joined")
        time.sleep(_POLL_S)


def _central_figures(local: Any, exchange: Any, parameters: Any) -> dict[str, Any]:
    """Headline figures of the global weights on the coordinator's own test records."""
    from flwr.common import parameters_to_ndarrays

    from workbench.core.federated.result import evaluate_local
    from workbench.core.training.finish import brief

    exchange.set(local.model, parameters_to_ndarrays(parameters))
    metrics, _probs = evaluate_local(local)
    return brief(metrics)


def _round_words(entry: dict[str, Any]) -> str:
    w = entry["weighted"]
    figures = f"macro-F1 {w['macro_f1']:.3f}" if "macro_f1" in w else "no evaluation"
    return (f"Round {entry['round']} done on {len(entry['sites'])} site(s): weighted {figures}, "
            f"{(entry['bytes_sent'] + entry['bytes_received']) / 1e6:.1f} MB exchanged, "
            f"{entry['seconds']:.1f} s" + privacy_words(entry))


def _finish(path: Path, local: Any, exchange: Any, arrays: list[Any], config: ServeConfig,
            history: list[dict[str, Any]], t_start: float, emit: Callable[..., None]) -> FederationResult:
    from workbench.core.federated.result import save_global_run

    emit("save", "Saving the global model as a run of this project")
    exchange.set(local.model, arrays)
    last = history[-1] if history else {"weighted": {}, "per_site": {}}
    sites = sorted({s for h in history for s in h["sites"]})
    federation = {
        "role": "coordinator", "sites": sites, "rounds": len(history),
        "settings": config.federation.to_dict(), "history": history,
    }
    if config.privacy.differential_privacy:  # settings and final epsilon
        federation["privacy"] = privacy_record(config.privacy, len(history))
    if config.privacy.secure_aggregation:
        from workbench.core.federated.secagg import secure_record

        federation["secure_aggregation"] = secure_record()
    metrics = {**last["weighted"], "split": "federated", "federated": last["weighted"],
               "per_site": last["per_site"], "labels": list(local.labels),
               "multi_label": local.schema.multi_label}
    if local.test:
        metrics["split"] = "test"
    run_id, model_path = save_global_run(
        path, local, config.training, federation=federation, metrics=metrics,
        timings={"total_s": time.perf_counter() - t_start},
    )
    emit("done", f"Federation finished: {len(history)} round(s), {len(sites)} site(s); "
                 f"the global model is run {run_id}")
    return FederationResult(run_id=run_id, rounds=len(history), history=history,
                            metrics=metrics, model_path=model_path)
