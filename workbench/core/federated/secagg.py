"""Secure aggregation (SecAgg+) with Flower's own protocol code, over the federation's
existing connections: the coordinator learns only the weighted sum of the sites' updates.

Flower's SecAgg+ is a server workflow (``flwr.server.workflow.SecAggPlusWorkflow``) that
talks to the sites through a ``Grid`` in four stages per round (setup, share keys, collect
masked vectors, unmask), and a client mod (``flwr.client.mod.secaggplus_mod``) that answers
them. Flower's own Grids need its SuperLink/SuperNode deployment; :class:`TunnelGrid` is a
``Grid`` that carries the workflow's ``Message``s over the legacy gRPC connections the
coordinator already has: each message's records are serialised with Flower's serde into
the config of a legacy ``FitIns`` sent to the site registered under the message's node id,
and the site's reply comes back the same way in the ``FitRes`` metrics (see
:mod:`workbench.core.federated.secagg_site`). A site that fails or does not answer in time
gives no reply, so SecAgg+'s dropout handling applies (its masks are removed with the
other sites' shares).

What is masked is the site's update (its new weights minus the global ones the round
started from), not the weights themselves: updates are small, so Flower's quantisation
(values clipped to +-``CLIPPING_RANGE``) loses little precision. :class:`DeltaStrategy`
adds the global weights back before the coordinator's strategy (FedAvg/FedProx, with the
differential privacy wrapper when that is on) sees the aggregate, so the strategy works
unchanged.
"""
from __future__ import annotations

import concurrent.futures
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from workbench.core.errors import WorkbenchError
from workbench.core.federated.flower import require_flower

require_flower()

from flwr.app import ConfigRecord, Context, Error, Message, RecordDict  # noqa: E402
from flwr.common import FitIns, Parameters, ndarrays_to_parameters, parameters_to_ndarrays  # noqa: E402
from flwr.common.constant import SUPERLINK_NODE_ID  # noqa: E402
from flwr.common.serde import recorddict_from_proto, recorddict_to_proto  # noqa: E402
from flwr.compat.common.recorddict_compat import (  # noqa: E402
    arrayrecord_to_parameters,
    parameters_to_arrayrecord,
)
from flwr.proto.recorddict_pb2 import RecordDict as ProtoRecordDict  # noqa: E402
from flwr.server.compat.legacy_context import LegacyContext  # noqa: E402
from flwr.server.server_config import ServerConfig  # noqa: E402
from flwr.server.workflow import SecAggPlusWorkflow  # noqa: E402
from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD  # noqa: E402
from flwr.server.workflow.constant import Key as WorkflowKey  # noqa: E402
from flwr.serverapp.grid import Grid  # noqa: E402

__all__ = ["TunnelGrid", "DeltaStrategy", "secure_fit_round", "encode_records", "decode_records",
           "check_secure_settings", "task_identity", "quantization_range", "secure_record", "TUNNEL_KEY", "REPLY_KEY", "ERROR_KEY",
           "NODE_KEY", "CLIPPING_RANGE"]

log = logging.getLogger(__name__)

#: Held while numpy arrays are read in the threads that talk to the sites (and by sites that share
#: one process, for their whole answer): numpy reads each array's header with ``ast.literal_eval``,
#: and on CPython 3.11 two threads building syntax trees at once can fail with "SystemError: AST
#: constructor recursion depth mismatch" - the site then dropped out of the round.
ARRAYS_ONE_AT_A_TIME = threading.RLock()

#: FitIns config entries that carry a SecAgg+ message to a site, and FitRes metrics that
#: carry its reply (or the error that stopped it).
TUNNEL_KEY = "secagg_message"
NODE_KEY = "secagg_node"
REPLY_KEY = "secagg_reply"
ERROR_KEY = "secagg_error"
#: Each weighted update value is clipped to +-this before Flower quantises it.
CLIPPING_RANGE = 8.0
#: Masks and sums are taken modulo this (Flower's largest).
MODULUS = 2**32
#: Each site's private key is split among all the round's sites; this fraction of the
#: shares recovers it (what lets the round finish without a site that dropped out).
SHARES = 1.0
THRESHOLD = 0.5


def task_identity(node_id: int) -> None:
    """Flower stamps every message it makes with the process's task identity, which its
    own runtimes set; this process plays one task of run 0 (as Flower's compat server)."""
    from flwr.supercore.task_identity import TaskIdentity

    try:
        _ = TaskIdentity.run_id
    except RuntimeError:
        TaskIdentity.task_id = 1
        TaskIdentity.run_id = 0
        TaskIdentity.node_id = node_id


def encode_records(records: RecordDict) -> bytes:
    """A RecordDict as bytes (Flower's protobuf serialisation)."""
    return recorddict_to_proto(records).SerializeToString()


def decode_records(data: bytes) -> RecordDict:
    return recorddict_from_proto(ProtoRecordDict.FromString(data))


def check_secure_settings(privacy: Any, min_sites: int) -> None:
    """With secure aggregation the coordinator never sees one site's update, so it cannot
    clip it for differential privacy: the sites must. A sum of one update is that update:
    the protocol needs two sites or more."""
    if privacy.secure_aggregation and min_sites < 2:
        raise WorkbenchError("Secure aggregation needs at least 2 sites per round: use "
                             "--min-sites 2 or more.")
    if privacy.secure_aggregation and privacy.differential_privacy and privacy.clipping != "sites":
        raise WorkbenchError("With secure aggregation the coordinator sees only the sum of the "
                             "updates: differential privacy must clip at the sites "
                             "(--clipping sites).")


def secure_record() -> dict[str, Any]:
    """What the run record keeps about the protocol."""
    return {"protocol": "SecAgg+ (Flower)", "shares": SHARES, "threshold": THRESHOLD,
            "clipping_range": CLIPPING_RANGE}


def quantization_range(sites: int) -> int:
    """The finest quantisation whose sum over the sites (and as many again who may join
    before the round samples them) cannot overflow the modulus: 2**29 for 2 or 3 sites,
    2**28 for 4 to 7 (Flower's default, 2**22, is safe for 1024 sites)."""
    return MODULUS >> (2 * max(2, sites)).bit_length()


class TunnelGrid(Grid):
    """A Flower ``Grid`` over the legacy connections of the admitted sites (see the module
    docstring). ``proxies`` maps node ids to ``ClientProxy``s; ``names`` their site names."""

    def __init__(self, proxies: dict[int, Any], names: dict[int, str], *, group: int,
                 timeout: float | None, traffic_log: Path | None = None) -> None:
        self.proxies = proxies
        self.names = names
        self.group = group
        self.timeout = timeout
        self.traffic_log = traffic_log
        self.bytes_sent = 0
        self.bytes_received = 0
        self.lock = threading.Lock()
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=32,
                                                          thread_name_prefix="secagg")
        self.pending: dict[str, tuple[Message, concurrent.futures.Future]] = {}
        self._run: Any = None

    # -- Grid's bookkeeping (no SuperLink run here) ----------------------------------------
    def set_run(self, run: Any) -> None:
        self._run = run

    @property
    def run(self) -> Any:
        return self._run

    def create_message(self, content: RecordDict, message_type: str, dst_node_id: int,
                       group_id: str, ttl: float | None = None) -> Message:
        return Message(content, dst_node_id, message_type, group_id=group_id, ttl=ttl)

    def get_node_ids(self) -> Iterable[int]:
        return list(self.proxies)

    # -- Sending ------------------------------------------------------------------------
    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        ids = []
        for message in messages:
            mid = uuid.uuid4().hex
            self.pending[mid] = (message, self.pool.submit(self._deliver, message))
            ids.append(mid)
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        out = []
        for mid in message_ids:
            message, future = self.pending.get(mid, (None, None))
            if future is not None and future.done():
                del self.pending[mid]
                reply = future.result()
                if reply is not None:
                    out.append(reply)
        return out

    def send_and_receive(self, messages: Iterable[Message], *,
                         timeout: float | None = None) -> Iterable[Message]:
        ids = list(self.push_messages(messages))
        futures = [self.pending[mid][1] for mid in ids]
        concurrent.futures.wait(futures, timeout=timeout if timeout is not None else self.timeout)
        replies = list(self.pull_messages(ids))
        for mid in ids:  # not answered in time: left out, as a site that dropped out
            self.pending.pop(mid, None)
        return replies

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def _deliver(self, message: Message) -> Message | None:
        """Send one message to its site; its reply, an error reply, or None when gone."""
        nid = message.metadata.dst_node_id
        proxy = self.proxies.get(nid)
        if proxy is None:
            return Message(Error(code=1, reason=f"unknown node {nid}"), reply_to=message)
        data = encode_records(message.content)
        ins = FitIns(Parameters(tensors=[], tensor_type="numpy.ndarray"),
                     {TUNNEL_KEY: data, NODE_KEY: nid, "round": self.group})
        try:
            res = proxy.fit(ins, timeout=self.timeout, group_id=self.group)
        except Exception as exc:  # the site went away: SecAgg+ removes its masks
            log.info("site %s dropped out of secure aggregation: %s", self.names.get(nid), exc)
            return Message(Error(code=2, reason=f"site left: {exc}"), reply_to=message)
        metrics = dict(res.metrics)
        if ERROR_KEY in metrics or REPLY_KEY not in metrics:
            reason = str(metrics.get(ERROR_KEY) or "no secure aggregation reply")
            return Message(Error(code=3, reason=reason), reply_to=message)
        reply_bytes = bytes(metrics[REPLY_KEY])  # type: ignore[arg-type]
        content = decode_records(reply_bytes)
        with self.lock:
            self.bytes_sent += len(data)
            self.bytes_received += len(reply_bytes)
        self._log(nid, message, content, len(reply_bytes))
        return Message(content, reply_to=message)

    def _log(self, nid: int, message: Message, content: RecordDict, size: int) -> None:
        """Traffic log: per reply, its stage, size and (for masked vectors) what arrived."""
        if self.traffic_log is None:
            return
        from flwr.common import bytes_to_ndarray
        from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS, Key

        stage = str(message.content.config_records[RECORD_KEY_CONFIGS].get(Key.STAGE, ""))
        entry: dict[str, Any] = {"round": self.group, "kind": "secure", "stage": stage,
                                 "site": self.names.get(nid, str(nid)), "bytes": size,
                                 "arrays": {k: len(v) for k, v in content.array_records.items()}}
        reply = content.config_records.get(RECORD_KEY_CONFIGS, ConfigRecord())
        if Key.MASKED_PARAMETERS in reply:
            with ARRAYS_ONE_AT_A_TIME:
                vectors = [bytes_to_ndarray(b) for b in reply[Key.MASKED_PARAMETERS]]  # type: ignore[union-attr]
            entry["masked"] = [{"shape": list(v.shape), "dtype": str(v.dtype),
                                "head": [int(x) for x in v.reshape(-1)[:16]]} for v in vectors]
        with self.lock, self.traffic_log.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")


class DeltaStrategy:
    """The coordinator's strategy, seen by the SecAgg+ workflow: the sites send updates,
    the aggregate update plus the round's global weights is what the strategy combines
    (every result carries that same average, so FedAvg/FedProx returns it)."""

    def __init__(self, strategy: Any, book: Any, global_arrays: list[Any]) -> None:
        self.strategy = strategy
        self.book = book  # the FederationStrategy (its round book and traffic log)
        self.global_arrays = global_arrays

    def configure_fit(self, server_round: int, parameters: Parameters, client_manager: Any) -> list:
        return self.strategy.configure_fit(server_round, parameters, client_manager)

    def aggregate_fit(self, server_round: int, results: list, failures: list) -> tuple[Any, dict]:
        if results:
            update = parameters_to_ndarrays(results[0][1].parameters)
            total = ndarrays_to_parameters([(g + u).astype(g.dtype) for g, u in
                                            zip(self.global_arrays, update, strict=True)])
            for _proxy, res in results:
                res.parameters = total
        saved, self.book.traffic_log = self.book.traffic_log, None  # the grid logs what arrived
        try:
            return self.strategy.aggregate_fit(server_round, results, failures)
        finally:
            self.book.traffic_log = saved


class _NumberedSites:
    """The client manager as the workflow sees it: every sampled site has a node id, under
    which the grid reaches it (a site admitted just before sampling included)."""

    def __init__(self, manager: Any, ids: dict[str, int], grid: TunnelGrid) -> None:
        self.manager = manager
        self.ids = ids
        self.grid = grid

    def num_available(self) -> int:
        return self.manager.num_available()

    def sample(self, num_clients: int, min_num_clients: int | None = None, criterion: Any = None) -> list:
        chosen = self.manager.sample(num_clients, min_num_clients, criterion)
        for proxy in chosen:
            proxy.node_id = self.ids.setdefault(proxy.cid, len(self.ids) + 1)
            self.grid.proxies[proxy.node_id] = proxy
            self.grid.names[proxy.node_id] = self.manager.names.get(proxy.cid, proxy.cid)
        return chosen


def secure_fit_round(strategy: Any, book: Any, manager: Any, parameters: Parameters, server_round: int,
                     timeout: float | None, ids: dict[str, int],
                     traffic_log: str = "") -> tuple[Parameters | None, dict, tuple]:
    """One round's fit stage with SecAgg+; the result is shaped like ``Server.fit_round``'s
    (new parameters or None when too few sites finished, metrics, (results, failures))."""
    task_identity(SUPERLINK_NODE_ID)
    connected = len(manager.clients)
    grid = TunnelGrid({}, {}, group=server_round, timeout=timeout,
                      traffic_log=Path(traffic_log) if traffic_log else None)
    sites = _NumberedSites(manager, ids, grid)
    global_arrays = parameters_to_ndarrays(parameters)
    weights = [float(p.properties.get("n_train", 0) or 0) for p in manager.clients.values()]
    # Flower multiplies each update by weight / max_weight before quantising it: the
    # largest site's count (with room to grow) keeps that factor near 1. With differential
    # privacy every site counts once (see privacy.py).
    private = getattr(strategy, "noise_multiplier", None) is not None
    if private:
        max_weight = 1.0
    elif weights and all(weights):
        max_weight = 2 * max(weights)
    else:
        max_weight = 1000.0
    context = LegacyContext(Context(run_id=0, node_id=0, node_config={}, state=RecordDict(), run_config={}),
                            config=ServerConfig(num_rounds=server_round),
                            strategy=DeltaStrategy(strategy, book, global_arrays),  # type: ignore[arg-type]
                            client_manager=sites)  # type: ignore[arg-type]
    context.state.config_records[MAIN_CONFIGS_RECORD] = ConfigRecord({WorkflowKey.CURRENT_ROUND: server_round})
    before = parameters_to_arrayrecord(parameters, keep_input=True)
    context.state.array_records[MAIN_PARAMS_RECORD] = before
    workflow = SecAggPlusWorkflow(num_shares=SHARES, reconstruction_threshold=THRESHOLD,
                                  max_weight=max_weight, clipping_range=CLIPPING_RANGE,
                                  quantization_range=quantization_range(connected),
                                  modulus_range=MODULUS, timeout=timeout)
    t = time.perf_counter()
    try:
        workflow(grid, context)
    finally:
        grid.close()
    entry = book.rounds.setdefault(server_round, {})
    entry["bytes_sent"], entry["bytes_received"] = grid.bytes_sent, grid.bytes_received
    entry["secure_s"] = time.perf_counter() - t
    after = context.state.array_records[MAIN_PARAMS_RECORD]
    if after is before:  # the protocol halted or the strategy refused the round
        return None, {}, ([], [])
    return arrayrecord_to_parameters(after, keep_input=True), {}, ([], [])
