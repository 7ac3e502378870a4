"""The site job: join a federation with a project whose records never leave this machine.

``join_job`` connects to the coordinator with Flower's client. The coordinator first sends
its label schema: a project whose labels or task differ is refused, the difference named
at both ends. Then, each round, the site receives the global weights, fine-tunes on its
own final labels and sends back the new weights with its number of training records;
for evaluation it sends a few metric numbers on its own test split. At the end the site
can keep the final global model as a run of its own project.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.core.errors import Cancelled, WorkbenchError
from workbench.core.federated.accounting import privacy_record
from workbench.core.federated.config import FederationEvent, JoinConfig, SiteResult
from workbench.core.federated.exchange import exchange_for, nbytes
from workbench.core.federated.flower import require_flower
from workbench.core.federated.privacy_config import from_instructions
from workbench.core.federated.schema import FederationSchema, SchemaMismatch, schema_difference
from workbench.core.training.config import TrainConfig

__all__ = ["join_job"]

log = logging.getLogger(__name__)


class _SiteState:
    """What the Flower client and the job share."""

    def __init__(self, path: Path, config: JoinConfig, progress: Callable[[Any], None],
                 should_stop: Callable[[], bool]) -> None:
        self.path = path
        self.config = config
        self.progress = progress
        self.should_stop = should_stop
        self.local: Any = None
        self.exchange: Any = None
        self.refused: str | None = None
        self.error: BaseException | None = None
        self.rounds = 0
        self.total_rounds = 0
        self.last_metrics: dict[str, float] = {}
        self.final: dict[str, Any] | None = None
        self.sent_bytes = 0
        self.train_config: TrainConfig | None = None
        self.privacy: Any = None  # the coordinator's differential privacy settings, if on
        self.joined_with: tuple[str, str, str] | None = None  # (schema, training, exchange)
        self.last_contact = 0.0  # monotonic time of the coordinator's last message

    def emit(self, phase: str, message: str, round_no: int = 0, **details: Any) -> None:
        try:
            self.progress(FederationEvent(phase, self.rounds, self.total_rounds, message,
                                          round=round_no, metrics=details.get("metrics")))
        except Exception:  # a broken display must not break the federation
            log.exception("progress callback failed")


def _make_client(state: _SiteState, own: FederationSchema) -> Any:
    from flwr.client import NumPyClient

    from workbench.core.federated.local import LocalModel
    from workbench.core.federated.privacy import clip_site_update
    from workbench.core.federated.secagg_site import SecureSite, is_secure

    class SiteClient(NumPyClient):
        def get_properties(self, config: dict[str, Any]) -> dict[str, Any]:
            state.last_contact = time.monotonic()
            schema = FederationSchema.from_json(str(config["schema"]))
            difference = schema_difference(schema, own)
            joining = (str(config["schema"]), str(config["training"]), str(config.get("exchange", "full")))
            if difference is None and state.local is not None and joining == state.joined_with:
                # Joining again (the coordinator restarted): the same federation, the model
                # and records already loaded here are kept.
                state.emit("join", "Joined again")
                return {"accepted": True, "site": state.config.site.name or state.path.stem,
                        "n_train": len(state.local.data.train)}
            if difference is None:
                try:
                    state.train_config = TrainConfig.from_dict(json.loads(str(config["training"])))
                    state.exchange = exchange_for(str(config.get("exchange", "full")))
                    state.total_rounds = int(config.get("rounds", 0))
                    state.emit("join", "Reading this site's labelled records and the base model")
                    state.local = LocalModel(state.path, schema, state.train_config,
                                             base_model=state.config.site.base_model,
                                             should_stop=state.should_stop,
                                             exchange=state.exchange.mode)
                except WorkbenchError as exc:
                    difference = f"This site cannot take part: {exc}"
            if difference is not None:
                state.refused = difference
                return {"accepted": False, "reason": difference}
            state.joined_with = joining
            state.emit("join", f"Joined: {len(state.local.data.train)} training and "
                               f"{len(state.local.test)} test records stay here")
            return {"accepted": True, "site": state.config.site.name or state.path.stem,
                    "n_train": len(state.local.data.train)}

        def get_parameters(self, config: dict[str, Any]) -> list[Any]:
            return state.exchange.get(state.local.model)

        def fit(self, parameters: list[Any], config: dict[str, Any]) -> tuple[list[Any], int, dict[str, Any]]:
            r = int(config.get("round", 0))
            state.last_contact = time.monotonic()
            if is_secure(config):  # a secure aggregation message (its fit stage trains here)
                reply = secure.answer(config)
                state.sent_bytes += sum(len(v) for v in reply.values() if isinstance(v, bytes))
                return [], 0, reply
            state.emit("train", f"Round {r}: training on this site's records", r)
            arrays, n, metrics = state.local.fit(
                state.exchange, parameters, epochs=int(config.get("local_epochs", 1)),
                proximal_mu=float(config.get("proximal_mu", 0.0)), round_no=r,
                rounds=int(config.get("rounds", 0)),
            )
            state.privacy = from_instructions(config) or state.privacy  # for the kept run
            if clip_site_update(arrays, parameters, config):  # differential privacy
                state.emit("train", f"Round {r}: update clipped here to norm "
                                    f"{float(config['clipping_norm']):g} before sending", r)
            state.sent_bytes += nbytes(arrays)
            return arrays, n, metrics

        def evaluate(self, parameters: list[Any], config: dict[str, Any]) -> tuple[float, int, dict[str, Any]]:
            r = int(config.get("round", 0))
            state.last_contact = time.monotonic()
            loss, n, sent, full = state.local.evaluate(state.exchange, parameters)
            state.rounds = max(state.rounds, r)
            state.last_metrics = sent
            if r >= state.total_rounds:
                state.final = {"arrays": [a.copy() for a in parameters], "metrics": full, "round": r}
            state.emit("evaluate", f"Round {r}: macro-F1 here {sent['macro_f1']:.3f} "
                                   f"({int(sent['n'])} test records)", r, metrics=sent)
            return loss, n, sent

    client = SiteClient().to_client()
    secure = SecureSite(client, lambda stage, r: state.emit("train", _SECURE_WORDS.get(stage, stage), r))
    return client


#: What a site says at each stage of secure aggregation.
_SECURE_WORDS = {
    "setup": "Secure aggregation: keys made for this round",
    "share_keys": "Secure aggregation: key shares exchanged with the other sites",
    "collect_masked_vectors": "Secure aggregation: training, then sending the update masked",
    "unmask": "Secure aggregation: shares sent to remove the masks of the sum",
}


def join_job(project_path: str | Path, config: JoinConfig, *, progress: Callable[[Any], None],
             should_stop: Callable[[], bool]) -> SiteResult:
    """Take part in a federation until the coordinator ends it; see the module docstring.

    Raises :class:`SchemaMismatch` when the coordinator's labels differ, :class:`Cancelled`
    when ``should_stop`` (the coordinator goes on with the other sites), and
    :class:`WorkbenchError` when the coordinator cannot be reached.
    """
    require_flower()
    from flwr.client import start_client

    from workbench.core.store.project import Project

    config.site.validate()
    path = Path(project_path)
    with Project.open(path) as project:
        own = FederationSchema.from_project(project)
    state = _SiteState(path, config, progress, should_stop)
    client = _make_client(state, own)
    address = config.site.address

    root = None
    if config.site.ca_cert:
        try:
            root = Path(config.site.ca_cert).read_bytes()
        except OSError as exc:
            raise WorkbenchError(f"Cannot read the CA certificate: {exc}") from None

    def run() -> None:
        # Before the first contact, a connection error means the coordinator is not
        # listening (yet). After it, a closed connection (an error, or the coordinator's
        # goodbye before the last round) means it stopped, crashed or is restarting: the
        # site keeps trying to join again for connect_s after the last contact, since a
        # restarted coordinator resumes from its last completed round (``--resume``).
        said_lost = 0.0
        while True:
            try:
                start_client(server_address=address, client=client, insecure=root is None,
                             root_certificates=root, max_wait_time=config.site.connect_s)
                exc: BaseException | None = None
            except BaseException as error:  # handed to the job's thread
                exc = error
            if state.final is not None or state.refused or should_stop():
                state.error = None
                return  # finished, refused or leaving: nothing lost
            if exc is None and not state.last_contact:
                return  # sent away before any contact
            if exc is not None and not _connection_lost(exc):
                state.error = exc
                return
            state.error = exc or ConnectionError("the coordinator stopped before the last round")
            if state.last_contact and said_lost < state.last_contact:
                said_lost = time.monotonic()
                state.emit("connect", "Lost the coordinator; trying to join again")
            if time.monotonic() > (state.last_contact or started) + config.site.connect_s:
                return
            time.sleep(0.5)

    state.emit("connect", f"Connecting to the coordinator at {address}")
    started = time.monotonic()
    thread = threading.Thread(target=run, name="federated-site", daemon=True)
    thread.start()
    while thread.is_alive():
        if should_stop():
            raise Cancelled("Left the federation; the coordinator goes on with the other sites.")
        thread.join(0.2)
    if state.refused:
        kind = SchemaMismatch if state.refused.startswith("The label schema") else WorkbenchError
        raise kind(state.refused)
    if isinstance(state.error, WorkbenchError):
        raise state.error
    finished = state.final is not None
    if state.error is not None and not finished:
        if state.last_contact:
            raise WorkbenchError(f"Lost the coordinator after round {state.rounds}: {_short(state.error)}")
        raise WorkbenchError(f"Could not reach the coordinator at {address} within "
                             f"{config.site.connect_s:g} s: {_short(state.error)}")
    if state.local is None:
        raise WorkbenchError(f"The coordinator at {address} ended before this site joined.")
    run_id = None
    if config.site.keep_model and state.final is not None:
        run_id = _keep_global_model(state)
    ended = ("Federation finished" if finished else
             f"The coordinator ended the federation (of {state.total_rounds} rounds)")
    state.emit("done", f"{ended} after {state.rounds} round(s)"
                       + (f"; the global model is run {run_id} here" if run_id else ""))
    return SiteResult(rounds=state.rounds, last_metrics=state.last_metrics, run_id=run_id,
                      sent_bytes=state.sent_bytes)


def _connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` means the coordinator cannot be reached (gRPC's errors; Flower's
    client queue left full by a closed stream), not an error of this site."""
    import queue

    import grpc

    return isinstance(exc, (grpc.RpcError, queue.Full, ConnectionError)) or "UNAVAILABLE" in str(exc)


def _short(exc: BaseException) -> str:
    """One line for a gRPC error (its details), or the exception's text."""
    details = getattr(exc, "details", None)
    if callable(details):
        try:
            return str(details())
        except Exception:
            pass
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _keep_global_model(state: _SiteState) -> int:
    from workbench.core.federated.result import save_global_run

    local, final = state.local, state.final
    assert final is not None and state.train_config is not None
    state.exchange.set(local.model, final["arrays"])
    t = time.perf_counter()
    run_id, _path = save_global_run(
        state.path, local, state.train_config,
        federation={"role": "site", "rounds": final["round"], "address": state.config.site.address,
                    "settings": {"exchange": state.exchange.mode},
                    **({"privacy": privacy_record(state.privacy, final["round"])} if state.privacy else {})},
        metrics={**final["metrics"], "split": "test" if local.data.test else "validation"},
        timings={"save_s": time.perf_counter() - t},
    )
    return run_id
