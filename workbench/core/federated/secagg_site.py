"""A site's side of secure aggregation (SecAgg+): Flower's ``secaggplus_mod`` answers the
coordinator's protocol messages, which arrive inside legacy fit instructions (see
:mod:`workbench.core.federated.secagg`).

One Flower ``Context`` per federation keeps the protocol's state (this site's keys and
the shares it holds for its neighbours) between the four messages of a round. When the
protocol asks for the masked update, the mod calls :meth:`SecureSite.train`, which runs
the site's ordinary training (its legacy client's ``fit``) and hands back the update (new
weights minus the global ones received): the mod quantises it, weights it by the number
of training records and adds the masks before it leaves this machine.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from workbench.core.federated.flower import require_flower
from workbench.core.federated.privacy_config import from_instructions
from workbench.core.federated.secagg import (
    ARRAYS_ONE_AT_A_TIME,
    ERROR_KEY,
    NODE_KEY,
    REPLY_KEY,
    TUNNEL_KEY,
    decode_records,
    encode_records,
    task_identity,
)

require_flower()

from flwr.app import Context, Message, RecordDict  # noqa: E402
from flwr.app.message_type import MessageType  # noqa: E402
from flwr.client.mod import secaggplus_mod  # noqa: E402
from flwr.common import ndarrays_to_parameters, parameters_to_ndarrays  # noqa: E402
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS, Key  # noqa: E402
from flwr.compat.common.recorddict_compat import fitres_to_recorddict, recorddict_to_fitins  # noqa: E402

__all__ = ["SecureSite", "is_secure"]

log = logging.getLogger(__name__)


def is_secure(config: dict[str, Any]) -> bool:
    """Whether fit instructions carry a secure aggregation message."""
    return TUNNEL_KEY in config


class SecureSite:
    """Answers the protocol's messages for one federation with ``client`` (a Flower
    ``Client``) doing the training; ``say(stage, round)`` hears each stage."""

    def __init__(self, client: Any, say: Callable[[str, int], None] | None = None) -> None:
        self.client = client
        self.say = say
        self.context = Context(run_id=0, node_id=0, node_config={}, state=RecordDict(), run_config={})
        self.last_update: list[Any] | None = None  # the plain update of the last round (stays here)

    def answer(self, config: dict[str, Any]) -> dict[str, Any]:
        """The reply (as FitRes metrics) to the message in ``config``."""
        round_no = int(config.get("round", 0))
        try:
            content = decode_records(bytes(config[TUNNEL_KEY]))
            stage = str(content.config_records[RECORD_KEY_CONFIGS].get(Key.STAGE, ""))
            if self.say is not None:
                self.say(stage, round_no)
            task_identity(int(config[NODE_KEY]))
            message = Message(content, int(config[NODE_KEY]), MessageType.TRAIN, group_id=str(round_no))
            with ARRAYS_ONE_AT_A_TIME:  # sites sharing one process take turns
                reply = secaggplus_mod(message, self.context, self.train)
        except Exception as exc:  # the coordinator counts this site out of the round
            log.warning("secure aggregation failed here: %s", exc)
            return {ERROR_KEY: f"{type(exc).__name__}: {exc}"}
        if reply.has_error():
            return {ERROR_KEY: str(reply.error.reason)}
        return {REPLY_KEY: encode_records(reply.content)}

    def train(self, message: Message, context: Context) -> Message:
        """The mod's next step: train, and reply with the update instead of the weights."""
        fit_ins = recorddict_to_fitins(message.content, keep_input=True)
        received = parameters_to_ndarrays(fit_ins.parameters)
        res = self.client.fit(fit_ins)
        new = parameters_to_ndarrays(res.parameters)
        # In float64: Flower quantises the update finely (up to 2**30 steps), beyond float32.
        update = [n.astype("float64") - r for n, r in zip(new, received, strict=True)]
        self.last_update = update
        res.parameters = ndarrays_to_parameters(update)
        if from_instructions(fit_ins.config) is not None:
            res.num_examples = 1  # differential privacy: every site counts once
        return Message(fitres_to_recorddict(res, keep_input=False), reply_to=message)
