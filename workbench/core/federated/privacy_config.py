"""Privacy settings of a federation (no torch or Flower import here).

Differential privacy as Flower provides it (its fixed-clipping strategy wrappers): each
site's update is clipped to a maximum size (at the sites or at the coordinator) and the
coordinator adds Gaussian noise to the average before anyone sees it. The privacy budget
spent (epsilon, for the chosen delta) is computed by :mod:`workbench.core.federated.accounting`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from workbench.core.settings import Settings, setting

__all__ = ["PrivacyConfig", "CLIPPING_PLACES", "to_instructions", "from_instructions"]

#: Where each site's update is clipped to the clipping norm.
CLIPPING_PLACES = ("coordinator", "sites")


@dataclass
class PrivacyConfig(Settings):
    """Differential privacy of the global model (off by default)."""

    SETTINGS_NAME: ClassVar[str] = "privacy"

    secure_aggregation: bool = setting(
        False, "Secure aggregation (Flower's SecAgg+): each site masks its update so the "
        "coordinator learns only the sum of all sites' updates, never one site's. Needs at "
        "least 2 sites per round (3 or more to finish a round a site drops out of); with "
        "differential privacy, clip at the sites.", label="Secure aggregation",
    )
    differential_privacy: bool = setting(
        False, "Differential privacy: each site's update is clipped and the coordinator adds "
        "random noise to the average, so the global model reveals little about any one "
        "site's records. Costs accuracy; works best with --exchange lora (less to noise).",
        label="Differential privacy",
    )
    noise_multiplier: float = setting(
        1.0, "Noise added to the average, as a multiple of the clipping norm (divided by the "
        "number of sites). More noise: stronger privacy (smaller epsilon), lower accuracy.",
        min=0.0, max=100.0, decimals=3, step=0.1, label="Noise multiplier",
    )
    clipping_norm: float = setting(
        1.0, "Largest size (L2 norm) one site's update may have in a round; larger updates "
        "are scaled down to it.", min=0.0, min_exclusive=True, max=1e6, decimals=4, step=0.1,
        label="Clipping norm",
    )
    clipping: str = setting(
        "coordinator", "Where updates are clipped: 'coordinator' (it clips what each site "
        "sends) or 'sites' (each site clips its own update before sending it).",
        choices=CLIPPING_PLACES, label="Clip at",
    )
    delta: float = setting(
        1e-5, "Delta of the (epsilon, delta) guarantee: the small chance it does not hold. "
        "Choose well below 1 / the number of sites.", min=0.0, min_exclusive=True, max=0.1,
        decimals=8, step=1e-5, advanced=True, label="Delta",
    )


#: The privacy settings travel to the sites with each round's instructions under these
#: keys, so a site's own copy of the global model records them too.
_PREFIX = "privacy_"
_SENT = ("noise_multiplier", "clipping_norm", "clipping", "delta")


def to_instructions(config: PrivacyConfig) -> dict[str, Any]:
    """The settings as entries of a round's instructions (numbers and text only)."""
    return {_PREFIX + name: getattr(config, name) for name in _SENT}


def from_instructions(instructions: dict[str, Any]) -> PrivacyConfig | None:
    """The coordinator's privacy settings from a round's instructions (None without)."""
    if _PREFIX + _SENT[0] not in instructions:
        return None
    values = {name: instructions[_PREFIX + name] for name in _SENT if _PREFIX + name in instructions}
    return PrivacyConfig(differential_privacy=True, **values)
