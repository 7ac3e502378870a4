"""Configuration and result types of a training run (no torch import here)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from workbench.core.jobs import ProgressEvent
from workbench.core.settings import Settings, setting

__all__ = ["TrainConfig", "TrainEvent", "TrainResult", "DataSummary", "PHASES"]

PHASES = ("prepare", "train", "evaluate", "save", "done")
CLASS_WEIGHTING = ("balanced", "none")
DEVICES = ("auto", "cpu", "cuda", "mps")
METHODS = ("auto", "finetune", "setfit", "linear", "lora")
#: Where LoRA adapters go (see core/training/methods/lora.py).
LORA_TARGETS = ("query-value", "attention", "all-linear")
#: Records longer than the max length: see core/training/long_records.py.
LONG_RECORDS = ("auto", "windows", "truncate")
WINDOW_POOLING = ("mean", "max")


@dataclass
class TrainConfig(Settings):
    """Every setting of a training run, with help text and bounds (used by the GUI form,
    the CLI flags and JSON settings files alike; see :mod:`workbench.core.settings`)."""

    SETTINGS_NAME: ClassVar[str] = "training"

    base_model: str = setting(
        "bundled",
        "Model to start from: 'bundled' (the built-in MiniLM, works offline), a folder with a "
        "Hugging Face model, or a Hugging Face Hub model id (needs internet the first time).",
        not_blank=True,
        metavar="NAME|PATH",
    )
    method: str = setting(
        "auto",
        "How to train: 'auto' (chosen from your data: with tens of labels per class the "
        "methods below beat fine-tuning, compared on held-out data), 'finetune' (train the "
        "whole model), 'setfit' (few-shot: tune the sentence encoder on pairs, then a "
        "classifier), 'linear' (logistic regression on TF-IDF or on the frozen encoder's "
        "embeddings; fastest) or 'lora' (train small adapters instead of the whole model: "
        "less memory and much smaller saved models, for base- and large-sized models; "
        "needs the peft package). Entity (span) projects: 'auto', 'finetune' or 'lora'.",
        choices=METHODS,
    )
    epochs: int = setting(
        0,
        "Passes over the training data. 0 = automatic (enough steps for small data sets; "
        "training stops early when validation macro-F1 stops improving).",
        min=0, max=1000, special={0: "Automatic"},
    )
    learning_rate: float = setting(
        0.0,
        "Step size of the optimizer. 0 = automatic (1e-4 for small models, 5e-5 for "
        "base-sized ones, 2e-5 for large ones).",
        min=0.0, max=1.0, special={0.0: "Automatic"}, aliases=("--lr",), decimals=6, step=1e-5,
    )
    batch_size: int = setting(
        16, "Texts per training step. Smaller uses less memory.", min=1, max=4096
    )
    max_length: int = setting(
        128,
        "Longest text in tokens (word pieces; a word is one to three); longer texts are cut or "
        "read in overlapping windows of this length (see 'Long records'). The "
        "actual limit is chosen from the "
        "lengths of your texts, up to this value. 128 is enough for most classification "
        "tasks; longer limits make training slower.",
        min=8, max=8192, unit="tokens", label="Max length (tokens)",
    )
    long_records: str = setting(
        "auto",
        "Records longer than the max length: 'auto' (read in overlapping windows when more "
        "than 20% of the training records are longer, otherwise cut), 'windows' (always read "
        "them in overlapping windows, so words near the end count; slower on long texts) or "
        "'truncate' (cut at the max length).",
        advanced=True, choices=LONG_RECORDS, label="Long records",
    )
    window_pooling: str = setting(
        "max",
        "How the scores of a long record's windows are combined: 'max' (the strongest window "
        "per label; best when one part of the record decides it) or 'mean' (average).",
        advanced=True, choices=WINDOW_POOLING, label="Combine windows by",
    )
    warmup_ratio: float = setting(
        0.1,
        "Fraction of the steps during which the learning rate ramps up from zero.",
        advanced=True, min=0.0, max=1.0, max_exclusive=True,
    )
    weight_decay: float = setting(
        0.01, "Weight decay (a mild regulariser) of the optimizer.", advanced=True,
        min=0.0, max=1.0,
    )
    seed: int = setting(
        42, "Random seed for the split, the shuffling and the initial weights.", advanced=True,
        min=0, max=2**31 - 1,
    )
    class_weighting: str = setting(
        "balanced",
        "'balanced' gives rare labels more weight so the model does not ignore them; "
        "'none' treats every example alike.",
        advanced=True, choices=CLASS_WEIGHTING,
    )
    early_stopping_patience: int = setting(
        3,
        "Stop after this many evaluations without a better validation macro-F1 "
        "(0 = never stop early). The best model is always the one kept.",
        advanced=True, min=0, max=1000, special={0: "Never stop early"},
        label="Early-stopping patience",
    )
    reshuffle_split: bool = setting(
        False,
        "Draw a new train/validation/test split. Off: keep the stored split so runs are "
        "compared on the same test records (new records are still assigned).",
        advanced=True, aliases=("--reshuffle",), label="Draw a new train/validation/test split",
    )
    device: str = setting(
        "auto",
        "Where to train: 'auto' (GPU if available, else CPU), 'cpu', 'cuda' or 'mps'.",
        advanced=True, choices=DEVICES,
    )
    threads: int = setting(
        0,
        "CPU threads used for training. 0 = automatic (one per spare core, so the rest of "
        "the machine stays responsive).",
        advanced=True, min=0, max=256, special={0: "Automatic"},
    )
    freeze_layers: int = setting(
        -1,
        "Lower layers kept fixed (not trained): -1 = automatic, 0 = train every layer, N = "
        "freeze the embeddings and the first N encoder layers. Freezing half the layers "
        "trains about 1.5x faster on a CPU with the same accuracy on small data sets. "
        "With LoRA: the lower layers get no adapters.",
        advanced=True, min=-1, max=48, special={-1: "Automatic"}, label="Frozen lower layers",
    )
    cache_frozen_layers: bool = setting(
        True,
        "On a CPU, compute the frozen lower layers once per record (first epoch) and train "
        "the upper layers from those kept outputs in later epochs; uses up to a quarter of "
        "the free memory (at most 2 GiB). Off = run the whole model in every step.",
        advanced=True, label="Cache frozen layers",
    )
    max_steps: int = setting(
        0, "Stop after this many training steps (0 = no limit). For quick trial runs.",
        advanced=True, min=0, max=10**9, special={0: "No limit"}, label="Max steps",
    )
    augment: bool = setting(
        False,
        "Add the project's augmented rows (Data tab or 'workbench augment') of training "
        "records to the training split; never to validation or test.",
        advanced=True, label="Train on augmented rows",
    )
    # Run tracking (core/training/tracking.py); both off unless turned on.
    tensorboard: bool = setting(
        False,
        "Also write TensorBoard event files of the run's curves beside the project "
        "(<project>.models/tensorboard/); needs the 'tensorboard' package "
        "(pip install \"workbench[tracking]\").",
        advanced=True, label="Write TensorBoard event files",
    )
    mlflow: bool = setting(
        False,
        "Also write the run (settings, curves, figures) as an MLflow run folder beside the "
        "project (<project>.models/mlruns/; 'mlflow ui --backend-store-uri' shows it).",
        advanced=True, label="Write an MLflow run folder",
    )
    validation_fraction: float = setting(
        0.15, "Share of labelled records held out to choose the best model.", advanced=True,
        min=0.0, max=0.5, min_exclusive=True, max_exclusive=True,
    )
    test_fraction: float = setting(
        0.15, "Share of labelled records held out to measure the final model.", advanced=True,
        min=0.0, max=0.5, min_exclusive=True, max_exclusive=True,
    )
    # LoRA (method 'lora', or 'auto' with a base/large model): core/training/methods/lora.py
    lora_rank: int = setting(
        8, "LoRA: rank of the adapters (their size). Larger adapts more, uses more memory.",
        advanced=True, min=1, max=256, label="LoRA rank",
    )
    lora_alpha: int = setting(
        16, "LoRA: scaling of the adapters (their effect is alpha / rank).",
        advanced=True, min=1, max=1024, label="LoRA alpha",
    )
    lora_dropout: float = setting(
        0.1, "LoRA: dropout on the adapters' input during training.",
        advanced=True, min=0.0, max=0.9, label="LoRA dropout",
    )
    lora_targets: str = setting(
        "query-value",
        "LoRA: where adapters go: 'query-value' (the attention's query and value), "
        "'attention' (all attention weights) or 'all-linear' (also the feed-forward layers; "
        "more adaptable, slower).",
        advanced=True, choices=LORA_TARGETS, label="LoRA targets",
    )


@dataclass
class TrainEvent(ProgressEvent):
    """A progress report from the trainer: ``done`` of ``total`` optimizer steps."""

    epoch: float = field(default=0.0, kw_only=True)
    loss: float | None = field(default=None, kw_only=True)
    learning_rate: float | None = field(default=None, kw_only=True)
    samples_per_s: float | None = field(default=None, kw_only=True)
    eta_s: float | None = field(default=None, kw_only=True)
    eta_max_s: float | None = field(default=None, kw_only=True)  # without early stopping
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
