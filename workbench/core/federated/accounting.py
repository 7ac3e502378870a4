"""The privacy budget of a differentially private federation (Google's ``dp-accounting``).

Each round releases one noisy average of the sites' clipped updates: a Gaussian mechanism
with the noise multiplier z. Every connected site takes part in every round, so the
sampled fraction of sites is 1 and ``rounds`` releases compose; the RDP accountant turns
that into epsilon for the chosen delta. The guarantee is per site (whether a site took
part, and so anything about its records, is hidden up to (epsilon, delta)) and covers the
global model; the evaluation figures sites report are not noised.

No torch or Flower import here; ``dp_accounting`` is loaded on first use.
"""
from __future__ import annotations

import math
from typing import Any

from workbench.core.errors import WorkbenchError
from workbench.core.federated.privacy_config import PrivacyConfig

__all__ = ["epsilon", "privacy_record", "epsilon_words", "privacy_words", "privacy_sentence", "planned_words",
           "SAMPLED_FRACTION"]

#: Every connected site trains in every round.
SAMPLED_FRACTION = 1.0
INSTALL_HINT = "pip install 'workbench[federated]'"


def epsilon(noise_multiplier: float, rounds: int, delta: float,
            sampled_fraction: float = SAMPLED_FRACTION) -> float:
    """Epsilon spent after ``rounds`` noisy averages (``math.inf`` without noise)."""
    if rounds <= 0:
        return 0.0
    if noise_multiplier <= 0:
        return math.inf
    try:
        import dp_accounting
        from dp_accounting.rdp import RdpAccountant
    except ImportError:
        raise WorkbenchError("The privacy budget is computed with dp-accounting, part of the "
                             f"federated extra: {INSTALL_HINT}") from None
    event = dp_accounting.PoissonSampledDpEvent(
        sampled_fraction, dp_accounting.GaussianDpEvent(noise_multiplier))
    accountant = RdpAccountant()
    accountant.compose(event, rounds)
    return float(accountant.get_epsilon(delta))


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def privacy_record(config: PrivacyConfig, rounds: int) -> dict[str, Any]:
    """What a federation's run keeps about its privacy: the settings and epsilon after
    ``rounds`` noisy rounds (None when there is no guarantee: no noise)."""
    return {
        "differential_privacy": True,
        "noise_multiplier": config.noise_multiplier,
        "clipping_norm": config.clipping_norm,
        "clipping": config.clipping,
        "delta": config.delta,
        "sampled_fraction": SAMPLED_FRACTION,
        "rounds": rounds,
        "epsilon": _finite(epsilon(config.noise_multiplier, rounds, config.delta)),
        "accountant": "RDP (dp-accounting)",
    }


def epsilon_words(value: float | None, delta: float) -> str:
    """'ε = 3.21 (δ = 1e-05)', or that noise-free rounds give no guarantee."""
    if value is None or not math.isfinite(value):
        return "no privacy guarantee (noise multiplier 0)"
    return f"ε = {value:.3g} (δ = {delta:g})"


def privacy_words(entry: dict[str, Any]) -> str:
    """'; privacy spent so far ε = …' for a round of the history, '' without the option."""
    privacy = entry.get("privacy")
    if not privacy:
        return ""
    return f"; privacy spent so far {epsilon_words(privacy.get('epsilon'), privacy.get('delta', 0.0))}"


def privacy_sentence(record: dict[str, Any] | None) -> str:
    """The model card's sentence on differential privacy ('' without it)."""
    if not record:
        return ""
    who = ("each site clipped its update" if record.get("clipping") == "sites" else
           "the coordinator clipped every site's update")
    return (f"With differential privacy: {who} to norm {record['clipping_norm']:g}, the "
            "sites counted equally in the average and Gaussian noise (multiplier "
            f"{record['noise_multiplier']:g}) was added to each round's average; privacy "
            f"spent over {record['rounds']} round(s): "
            f"{epsilon_words(record.get('epsilon'), record['delta'])}, per site. ")


def planned_words(config: PrivacyConfig, rounds: int) -> str:
    """What the coordinator says before the first round (loads the accountant, so a
    missing dp-accounting is one message before any site joins)."""
    spent = epsilon(config.noise_multiplier, rounds, config.delta)
    return (f"Differential privacy: updates clipped to norm {config.clipping_norm:g} at the "
            f"{config.clipping}, noise multiplier {config.noise_multiplier:g}; privacy spent "
            f"after {rounds} rounds {epsilon_words(spent, config.delta)}")
