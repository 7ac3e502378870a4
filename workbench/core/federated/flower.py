"""The one door to Flower (``flwr``, an optional extra): a clear message when it is missing.

Workbench drives Flower's gRPC Fleet API in-process: the coordinator starts Flower's gRPC
server and runs the rounds itself with a Flower strategy (FedAvg / FedProx); each site runs
Flower's client loop against it. Why not the SuperLink/SuperNode deployment engine: it runs
the server and client apps as separate processes that Flower starts from an installed app
bundle, and each of them would load torch again; our coordinator and sites are instead the
``workbench federate serve/join`` processes themselves, whose jobs report progress and
stop on cancel, and a test starts a coordinator and two sites on 127.0.0.1 in seconds.
"""
from __future__ import annotations

import logging
import sys
from typing import Any

from workbench.core.errors import WorkbenchError

__all__ = ["require_flower", "MIN_PYTHON", "quiet_flower_logs"]

MIN_PYTHON = (3, 11)
INSTALL_HINT = "pip install 'workbench[federated]'"


def require_flower() -> Any:
    """The ``flwr`` module, or :class:`WorkbenchError` saying what to install."""
    if sys.version_info < MIN_PYTHON:
        raise WorkbenchError(
            "Federated training needs Python 3.11 or newer (Flower requires it); this is "
            f"Python {sys.version_info.major}.{sys.version_info.minor}."
        )
    try:
        import flwr
    except ImportError:
        raise WorkbenchError(
            f"Federated training needs Flower, an optional part: {INSTALL_HINT}"
        ) from None
    quiet_flower_logs()
    return flwr


def quiet_flower_logs(level: int = logging.ERROR) -> None:
    """Flower logs every message at INFO and warns about its legacy API; our progress
    events say what matters, so only its errors stay."""
    logging.getLogger("flwr").setLevel(level)
    # gRPC reports a site's stream closed at the end of a federation as an error.
    logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
