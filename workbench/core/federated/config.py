"""Settings, progress events and results of a federation (no torch or Flower import here)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from workbench.core.federated.privacy_config import PrivacyConfig
from workbench.core.jobs import ProgressEvent
from workbench.core.settings import Settings, setting
from workbench.core.training.config import TrainConfig

__all__ = [
    "DEFAULT_ADDRESS",
    "EXCHANGE_MODES",
    "FederationConfig",
    "SiteConfig",
    "ServeConfig",
    "JoinConfig",
    "FederationEvent",
    "FederationResult",
    "SiteResult",
]

DEFAULT_ADDRESS = "127.0.0.1:9092"
#: What travels each round: every weight ('full'), or only LoRA adapters and the head ('lora').
EXCHANGE_MODES = ("full", "lora")
#: How the coordinator applies the sites' average update (see federated/server_step.py):
#: Flower's FedAvgM ('sgd'), FedAdam, FedYogi, FedAdagrad.
SERVER_OPTIMIZERS = ("sgd", "adam", "yogi", "adagrad")


@dataclass
class FederationConfig(Settings):
    """How the coordinator runs a federation (the training settings are a TrainConfig)."""

    SETTINGS_NAME: ClassVar[str] = "federation"

    address: str = setting(
        DEFAULT_ADDRESS,
        "Address the coordinator listens on (host:port). Sites join with the same address.",
        not_blank=True, metavar="HOST:PORT",
    )
    rounds: int = setting(
        5, "Rounds of training: in each, every site trains locally and the coordinator "
        "averages their weights.", min=1, max=1000,
    )
    min_sites: int = setting(
        2, "Sites needed before a round starts; a round that ends with fewer results is "
        "repeated.", min=1, max=1000, label="Minimum sites",
    )
    start_sites: int = setting(
        0, "Sites to wait for before the first round (0 = the minimum sites); later rounds "
        "start with whoever is connected, as long as the minimum holds.", min=0, max=1000,
        advanced=True, special={0: "Minimum sites"}, label="Sites to start with",
    )
    local_epochs: int = setting(
        5, "Passes over its own training records each site makes per round. A round's "
        "exchange costs far more than a site's training on a few hundred records, so sites "
        "do several passes: with few, the first rounds stay poor and swing more. The "
        "learning rate follows one schedule across all rounds.", min=1, max=100,
    )
    proximal_mu: float = setting(
        0.0,
        "FedProx strength: keeps each site's weights close to the global ones (helps when "
        "sites' labels differ a lot). 0 = plain FedAvg.",
        advanced=True, min=0.0, max=100.0, decimals=4, step=0.01, label="FedProx mu",
    )
    server_optimizer: str = setting(
        "sgd",
        "How the coordinator moves the global model along the sites' average update each "
        "round: 'sgd' (Flower's FedAvgM: the update times the server learning rate, plus "
        "momentum; learning rate 1 without momentum is plain FedAvg) or an adaptive step "
        "per weight: 'adam', 'yogi', 'adagrad' (Flower's FedAdam, FedYogi, FedAdagrad).",
        advanced=True, choices=SERVER_OPTIMIZERS, label="Server optimizer",
    )
    server_learning_rate: float = setting(
        0.0,
        "Step of the server optimizer. With 'sgd', how far the global model moves along the "
        "sites' average update (1 = to the average). 0 = automatic: with 'sgd' as far as "
        "centralised training on all the sites' records moves in the same epochs (the number "
        "of sites when they are of equal size, about 1 when one site holds nearly every "
        "record); 0.001 with 'adam'/'yogi', 0.01 with 'adagrad'.",
        advanced=True, min=0.0, max=100.0, decimals=6, step=0.1, special={0.0: "Automatic"},
        label="Server learning rate",
    )
    server_momentum: float = setting(
        0.0,
        "Momentum of the server optimizer: the share of the previous rounds' update carried "
        "into this one (with 'adam'/'yogi'/'adagrad': their first-moment decay). 0 = none.",
        advanced=True, min=0.0, max=1.0, max_exclusive=True, decimals=3, step=0.05,
        label="Server momentum",
    )
    exchange: str = setting(
        "full",
        "What travels each round: 'full' (every weight) or 'lora' (only the adapters and the "
        "classification head, with the lora_* training settings; needs peft).",
        choices=EXCHANGE_MODES,
    )
    wait_s: float = setting(
        600.0, "How long to wait for enough sites before giving up (seconds).",
        advanced=True, min=1.0, max=7 * 86400.0, unit="s", label="Wait for sites",
    )
    round_timeout_s: float = setting(
        0.0, "A site that has not answered within this time is left out of the round "
        "(0 = wait as long as it takes).", advanced=True, min=0.0, max=7 * 86400.0,
        unit="s", special={0.0: "No limit"}, label="Round time limit",
    )
    max_retries: int = setting(
        3, "Rounds repeated in a row (too few sites answered) before the federation stops.",
        advanced=True, min=0, max=1000,
    )
    ca_cert: str = setting(
        "", "TLS: certificate of the authority that signed the coordinator's certificate "
        "(PEM file). With the two below, sites connect over TLS.", advanced=True, metavar="FILE",
        label="CA certificate",
    )
    server_cert: str = setting(
        "", "TLS: the coordinator's certificate (PEM file).", advanced=True, metavar="FILE",
        label="Coordinator certificate",
    )
    server_key: str = setting(
        "", "TLS: the coordinator's private key (PEM file).", advanced=True, metavar="FILE",
        label="Coordinator key",
    )
    resume: bool = setting(
        False, "Continue an interrupted federation of this project from its last completed "
        "round (same labels and settings); sites join again.", label="Resume",
    )
    traffic_log: str = setting(
        "", "File (JSON lines) recording what every site sent: tensor shapes and sizes and "
        "metric names and values, for an audit of what left the sites.",
        advanced=True, metavar="FILE",
    )


@dataclass
class SiteConfig(Settings):
    """How a site joins a federation."""

    SETTINGS_NAME: ClassVar[str] = "site"

    address: str = setting(
        DEFAULT_ADDRESS, "Address of the coordinator (host:port).", not_blank=True,
        metavar="HOST:PORT",
    )
    name: str = setting(
        "", "Name this site is shown under at the coordinator (default: the project's name).",
        metavar="NAME",
    )
    keep_model: bool = setting(
        True, "Store the final global model as a run of this site's project too.",
        label="Keep the global model",
    )
    base_model: str = setting(
        "", "Base model this site loads (default: the coordinator's). Only its architecture "
        "and tokenizer are used: the weights come from the coordinator.",
        advanced=True, metavar="NAME|PATH",
    )
    ca_cert: str = setting(
        "", "TLS: certificate of the authority that signed the coordinator's certificate "
        "(PEM file); without it the connection is not encrypted.", advanced=True,
        metavar="FILE", label="CA certificate",
    )
    connect_s: float = setting(
        60.0, "How long to keep trying to reach the coordinator (seconds).",
        advanced=True, min=1.0, max=86400.0, unit="s",
    )


@dataclass
class ServeConfig:
    """Everything the coordinator job needs: the federation and the training settings."""

    federation: FederationConfig = field(default_factory=FederationConfig)
    training: TrainConfig = field(default_factory=lambda: TrainConfig(method="finetune"))
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)


@dataclass
class JoinConfig:
    """Everything the site job needs."""

    site: SiteConfig = field(default_factory=SiteConfig)


@dataclass
class FederationEvent(ProgressEvent):
    """Progress of a federation: ``done`` of ``total`` rounds, with the sites and figures."""

    round: int = field(default=0, kw_only=True)
    sites: list[str] = field(default_factory=list, kw_only=True)
    metrics: dict[str, Any] | None = field(default=None, kw_only=True)
    per_site: dict[str, dict[str, float]] | None = field(default=None, kw_only=True)
    #: With differential privacy: the round's epsilon (and noise); see federated/privacy.py.
    privacy: dict[str, Any] | None = field(default=None, kw_only=True)


@dataclass
class FederationResult:
    """Outcome of the coordinator job."""

    run_id: int
    rounds: int
    history: list[dict[str, Any]]
    metrics: dict[str, Any]
    model_path: Path | None = None


@dataclass
class SiteResult:
    """Outcome of the site job."""

    rounds: int
    last_metrics: dict[str, float]
    run_id: int | None = None
    sent_bytes: int = 0
