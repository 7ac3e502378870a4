"""Where training runs: device choice, CPU threads and the multi-GPU (data parallel) setup.

Launched by ``torchrun`` or ``accelerate launch`` the environment carries ``WORLD_SIZE``,
``RANK`` and ``LOCAL_RANK``; each process then trains on its own GPU and on its share of
the batches, gradients are averaged (DistributedDataParallel) and only rank 0 writes to the
project and the models folder.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from workbench.core.errors import WorkbenchError

__all__ = [
    "DistInfo",
    "dist_info",
    "available_cores",
    "default_threads",
    "reserve_cores_for_ui",
    "pick_device",
    "autocast_dtype",
    "init_distributed",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    """This process's place in a data-parallel launch (world size 1 when launched alone)."""

    world_size: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def dist_info() -> DistInfo:
    """Read the launcher's environment (torchrun / accelerate launch)."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError:
        return DistInfo()
    return DistInfo(max(1, world), rank, local)


def available_cores() -> int:
    """CPU cores this process may use (respects affinity masks and containers)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


#: Cores kept free for the app's own thread while it is running (see reserve_cores_for_ui).
_RESERVED_FOR_UI = 0


def reserve_cores_for_ui(n: int = 1) -> None:
    """Keep ``n`` cores free of training threads: the desktop app calls this at start-up.

    With the window alive, a torch thread on every core runs many times slower (measured
    0.2x on 2 cores) and makes the window stutter; headless runs (CLI, scripts) use all
    cores, which on an idle machine was 1.5x faster than one thread on 2 cores.
    """
    global _RESERVED_FOR_UI
    _RESERVED_FOR_UI = max(0, int(n))


def default_threads() -> int:
    """Training threads when the setting is automatic: every core, less those kept for the
    app's window (:func:`reserve_cores_for_ui`)."""
    return max(1, available_cores() - _RESERVED_FOR_UI)


def pick_device(requested: str, dist: DistInfo | None = None) -> Any:
    """The torch device for ``requested`` ('auto', 'cpu', 'cuda', 'mps')."""
    import torch

    dist = dist or DistInfo()
    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    if requested == "cuda" and not cuda:
        raise WorkbenchError("No CUDA GPU is available: choose 'auto' or 'cpu' as device.")
    if requested == "mps" and not mps:
        raise WorkbenchError("Apple MPS is not available: choose 'auto' or 'cpu' as device.")
    if requested == "cuda" or (requested == "auto" and cuda):
        index = dist.local_rank if dist.distributed else 0
        torch.cuda.set_device(index)
        return torch.device("cuda", index)
    if requested == "mps" or (requested == "auto" and mps and not dist.distributed):
        return torch.device("mps")
    return torch.device("cpu")


def autocast_dtype(device: Any) -> Any:
    """bf16 where the GPU supports it, else fp16 (with a gradient scaler); None on CPU/MPS."""
    import torch

    if device.type != "cuda":
        return None
    if torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def init_distributed(dist: DistInfo, device: Any) -> None:
    """Join the process group of a multi-process launch (no-op when launched alone)."""
    import torch.distributed as tdist

    if not dist.distributed or tdist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    tdist.init_process_group(backend=backend)
    log.info("joined process group: rank %d of %d (%s)", dist.rank, dist.world_size, backend)
