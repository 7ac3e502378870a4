"""What travels between a site and the coordinator: named tensors of the model, nothing else.

A :class:`ParameterExchange` picks the tensors of a model that are sent and received each
round, in a fixed order (the same on every site, since all load the same architecture):

- :class:`FullWeights` sends every floating-point tensor of the state dict (full
  fine-tuning);
- :class:`SelectedTensors` sends only the tensors whose names a rule selects;
- :class:`StateFunctions` sends the state a training method names itself. LoRA plugs in
  here: its method wraps the model with adapters and gives the adapter and head tensors
  (``adapter_state`` / ``load_adapter_state``), so a round sends a few percent of the
  bytes (``exchange_for("lora")``; every site and the coordinator wrap the base model with
  the same ``lora_*`` settings, see ``local.LocalModel``). The frozen base weights never travel: every site loads them from the same base
  model.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from workbench.core.errors import WorkbenchError

__all__ = [
    "ParameterExchange",
    "FullWeights",
    "SelectedTensors",
    "StateFunctions",
    "exchange_for",
    "nbytes",
]


class ParameterExchange(Protocol):
    """Reads and writes the travelling tensors of a model as numpy arrays."""

    mode: str

    def names(self, model: Any) -> list[str]:
        """Names of the tensors that travel, in wire order."""

    def get(self, model: Any) -> list[Any]:
        """The travelling tensors as float32 numpy arrays (copies, on the CPU)."""

    def set(self, model: Any, arrays: Sequence[Any]) -> None:
        """Load received arrays (in :meth:`names` order) into ``model``."""


class SelectedTensors:
    """The floating-point state-dict tensors whose names ``select`` accepts."""

    def __init__(self, select: Callable[[str], bool], mode: str) -> None:
        self.select = select
        self.mode = mode

    def _tensors(self, model: Any) -> list[tuple[str, Any]]:
        return [(name, t) for name, t in model.state_dict().items()
                if t.is_floating_point() and self.select(name)]

    def names(self, model: Any) -> list[str]:
        return [name for name, _t in self._tensors(model)]

    def get(self, model: Any) -> list[Any]:
        import numpy as np

        return [np.ascontiguousarray(t.detach().to("cpu").float().numpy()).copy()
                for _n, t in self._tensors(model)]

    def set(self, model: Any, arrays: Sequence[Any]) -> None:
        import torch

        tensors = self._tensors(model)
        if len(arrays) != len(tensors):
            raise WorkbenchError(
                f"The coordinator sent {len(arrays)} tensors; this site's model has "
                f"{len(tensors)} ({self.mode} exchange): the base models differ."
            )
        with torch.no_grad():
            for (name, t), a in zip(tensors, arrays, strict=True):
                if tuple(a.shape) != tuple(t.shape):
                    raise WorkbenchError(
                        f"Tensor {name} has shape {tuple(a.shape)} at the coordinator and "
                        f"{tuple(t.shape)} here: the base models differ."
                    )
                t.copy_(torch.from_numpy(a).to(t.dtype))


class FullWeights(SelectedTensors):
    """Every floating-point tensor of the model (full fine-tuning)."""

    def __init__(self) -> None:
        super().__init__(lambda _name: True, "full")


class StateFunctions:
    """Travelling tensors given by a pair of functions over a ``{name: tensor}`` state:
    how a training method that knows its own trainable part plugs in. LoRA mode is
    ``StateFunctions("lora", lora.adapter_state, lora.load_adapter_state)``: only the
    adapters and the head travel, in sorted name order."""

    def __init__(self, mode: str, get_state: Callable[[Any], dict[str, Any]],
                 load_state: Callable[[Any, dict[str, Any]], None]) -> None:
        self.mode = mode
        self.get_state = get_state
        self.load_state = load_state

    def names(self, model: Any) -> list[str]:
        return sorted(self.get_state(model))

    def get(self, model: Any) -> list[Any]:
        import numpy as np

        state = self.get_state(model)
        return [np.ascontiguousarray(state[k].detach().to("cpu").float().numpy()).copy()
                for k in sorted(state)]

    def set(self, model: Any, arrays: Sequence[Any]) -> None:
        import torch

        names = self.names(model)
        if len(arrays) != len(names):
            raise WorkbenchError(
                f"The coordinator sent {len(arrays)} tensors; this site's model has "
                f"{len(names)} ({self.mode} exchange): the settings differ."
            )
        self.load_state(model, {k: torch.from_numpy(a) for k, a in zip(names, arrays, strict=True)})


def exchange_for(mode: str) -> ParameterExchange:
    """The exchange of an ``exchange`` setting: every weight ('full'), or only the LoRA
    adapters and the head ('lora'; needs peft, named in one line when it is missing).

    With 'lora' the coordinator averages each adapter matrix on its own (FedAvg over A and
    over B separately, weighted by the sites' training examples), the common practice in
    federated LoRA. Note that the mean of the products is not the product of the means:
    ``mean(B_i) @ mean(A_i) != mean(B_i @ A_i)`` in general, so the global update differs
    from averaging the sites' merged weight updates; the difference shrinks as the sites'
    adapters stay close (few local epochs, similar data)."""
    if mode == "full":
        return FullWeights()
    if mode == "lora":
        from workbench.core.training.methods import lora

        lora.require_peft()
        return StateFunctions("lora", lora.adapter_state, lora.load_adapter_state)
    raise WorkbenchError(f"Unknown exchange mode {mode!r} (use 'full' or 'lora').")


def nbytes(arrays: Sequence[Any]) -> int:
    """Bytes of the tensors' data."""
    return int(sum(a.nbytes for a in arrays))
