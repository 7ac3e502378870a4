"""Configuration and result types of a training run (no torch import here)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.core.errors import WorkbenchError
from workbench.core.jobs import ProgressEvent

__all__ = ["TrainConfig", "TrainEvent", "TrainResult", "DataSummary", "PHASES"]

PHASES = ("prepare", "train", "evaluate", "save", "done")
CLASS_WEIGHTING = ("balanced", "none")
DEVICES = ("auto", "cpu", "cuda", "mps")


def _f(default: Any, help: str, advanced: bool = False, **extra: Any) -> Any:
    return field(default=default, metadata={"help": help, "advanced": advanced, **extra})


@dataclass
class TrainConfig:
    """Every setting of a training run, with help text (used by the GUI form and CLI)."""

    base_model: str = _f(
        "bundled",
        "Model to start from: 'bundled' (the built-in MiniLM, works offline), a folder with a "
        "Hugging Face model, or a Hugging Face Hub model id (needs internet the first time).",
    )
    epochs: int = _f(
        0,
        "Passes over the training data. 0 = automatic (enough steps for small data sets; "
        "training stops early when validation macro-F1 stops improving).",
    )
    learning_rate: float = _f(
        0.0,
        "Step size of the optimizer. 0 = automatic (1e-4 for small models, 5e-5 for "
        "base-sized ones, 2e-5 for large ones).",
    )
    batch_size: int = _f(16, "Texts per training step. Smaller uses less memory.")
    max_length: int = _f(
        128,
        "Longest text in tokens; longer texts are cut. The actual limit is chosen from the "
        "lengths of your texts, up to this value. 128 is enough for most classification "
        "tasks; longer limits make training slower.",
    )
    warmup_ratio: float = _f(
        0.1, "Fraction of the steps during which the learning rate ramps up from zero.", True
    )
    weight_decay: float = _f(0.01, "Weight decay (a mild regulariser) of the optimizer.", True)
    seed: int = _f(42, "Random seed for the split, the shuffling and the initial weights.", True)
    class_weighting: str = _f(
        "balanced",
        "'balanced' gives rare labels more weight so the model does not ignore them; "
        "'none' treats every example alike.",
        True,
        choices=CLASS_WEIGHTING,
    )
    early_stopping_patience: int = _f(
        3,
        "Stop after this many evaluations without a better validation macro-F1 "
        "(0 = never stop early). The best model is always the one kept.",
        True,
    )
    reshuffle_split: bool = _f(
        False,
        "Draw a new train/validation/test split. Off: keep the stored split so runs are "
        "compared on the same test records (new records are still assigned).",
        True,
    )
    device: str = _f(
        "auto",
        "Where to train: 'auto' (GPU if available, else CPU), 'cpu', 'cuda' or 'mps'.",
        True,
        choices=DEVICES,
    )
    threads: int = _f(
        0,
        "CPU threads used for training. 0 = automatic (one per spare core, so the rest of "
        "the machine stays responsive).",
        True,
    )
    freeze_layers: int = _f(
        -1,
        "Lower layers kept fixed (not trained): -1 = automatic, 0 = train every layer, N = "
        "freeze the embeddings and the first N encoder layers. Freezing half the layers "
        "trains about 1.5x faster on a CPU with the same accuracy on small data sets.",
        True,
    )
    max_steps: int = _f(
        0, "Stop after this many training steps (0 = no limit). For quick trial runs.", True
    )
    validation_fraction: float = _f(
        0.15, "Share of labelled records held out to choose the best model.", True
    )
    test_fraction: float = _f(
        0.15, "Share of labelled records held out to measure the final model.", True
    )

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`WorkbenchError` naming the first bad value."""
        checks = [
            (self.epochs >= 0, "epochs must be 0 (automatic) or more"),
            (self.learning_rate >= 0, "learning rate must be 0 (automatic) or positive"),
            (self.batch_size >= 1, "batch size must be at least 1"),
            (8 <= self.max_length <= 8192, "max length must be between 8 and 8192 tokens"),
            (0 <= self.warmup_ratio < 1, "warmup ratio must be between 0 and 1"),
            (self.weight_decay >= 0, "weight decay must not be negative"),
            (self.class_weighting in CLASS_WEIGHTING, "class weighting must be 'balanced' or 'none'"),
            (self.early_stopping_patience >= 0, "early stopping patience must not be negative"),
            (self.device in DEVICES, "device must be one of auto, cpu, cuda, mps"),
            (self.threads >= 0, "threads must be 0 (automatic) or more"),
            (self.freeze_layers >= -1, "freeze layers must be -1 (automatic), 0 or more"),
            (self.max_steps >= 0, "max steps must be 0 (no limit) or more"),
            (0 < self.validation_fraction < 0.5, "validation fraction must be between 0 and 0.5"),
            (0 < self.test_fraction < 0.5, "test fraction must be between 0 and 0.5"),
            (bool(str(self.base_model).strip()), "base model must not be empty"),
        ]
        for ok, message in checks:
            if not ok:
                raise WorkbenchError(f"Invalid training setting: {message}.")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from a dict; unknown keys are refused with a readable error."""
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise WorkbenchError(f"Unknown training setting(s): {', '.join(unknown)}")
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            kind = type(names[key].default)
            try:
                kwargs[key] = kind(value) if kind is not bool else _to_bool(value)
            except (TypeError, ValueError):
                raise WorkbenchError(f"Invalid value {value!r} for training setting {key}.") from None
        return cls(**kwargs)

    @staticmethod
    def help(name: str) -> str:
        """The help text of one field."""
        for f in dataclasses.fields(TrainConfig):
            if f.name == name:
                return str(f.metadata.get("help", ""))
        raise KeyError(name)


def _to_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


@dataclass
class TrainEvent(ProgressEvent):
    """A progress report from the trainer: ``done`` of ``total`` optimizer steps."""

    epoch: float = field(default=0.0, kw_only=True)
    loss: float | None = field(default=None, kw_only=True)
    learning_rate: float | None = field(default=None, kw_only=True)
    samples_per_s: float | None = field(default=None, kw_only=True)
    eta_s: float | None = field(default=None, kw_only=True)
    val_metrics: dict[str, Any] | None = field(default=None, kw_only=True)

    @property
    def step(self) -> int:
        """The optimizer step reached (``done``)."""
        return self.done

    @property
    def total_steps(self) -> int:
        """The planned number of optimizer steps (``total``)."""
        return self.total


@dataclass
class TrainResult:
    """Outcome of :func:`train_project`."""

    run_id: int
    status: str  # "completed" | "cancelled" | "failed"
    metrics: dict[str, Any] = field(default_factory=dict)
    model_path: Path | None = None
    error: str | None = None


@dataclass
class DataSummary:
    """What the training data looks like, with warnings for the user."""

    n_labelled: int = 0
    by_label: dict[str, int] = field(default_factory=dict)
    splits: dict[str, int] = field(default_factory=dict)
    ties: int = 0
    warnings: list[str] = field(default_factory=list)
    multi_label: bool = False
    labels: list[str] = field(default_factory=list)
    split_by_label: dict[str, dict[str, int]] = field(default_factory=dict)
    final_labels: str = ""
