"""A site's side of a round: local fine-tuning from the global weights, local evaluation.

The site reads its own final labels once (the stored train/validation/test split, as a
training run would), builds the classifier with the federation's labels in the
federation's order, and then, each round, loads the weights it receives, trains for the
configured local epochs (FedProx adds its proximal term when asked) and evaluates on its
own test split. Only the travelling tensors and a few metric numbers leave this module.

The learning rate follows one schedule over the whole federation, the one a training run
uses over its epochs (warm-up over the first ``warmup_ratio`` of the steps, then a linear
decay to zero): round ``r`` trains on its slice of it (:func:`federation_lr_factor`), so
the rounds do not each warm up and decay again and the last round ends at a small step,
as centralised training does. LoRA adapters get LoRA's larger automatic learning rate.
A single-label site's softmax leaves out the labels it has no training records of
(:meth:`LocalModel._absent_labels`).
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.core.errors import Cancelled, WorkbenchError
from workbench.core.federated.exchange import ParameterExchange
from workbench.core.federated.schema import FederationSchema
from workbench.core.training.config import TrainConfig

__all__ = ["LocalModel", "SENT_METRICS", "federation_lr_factor"]

log = logging.getLogger(__name__)

#: The only metric names a site sends (numbers; nothing about single records).
SENT_METRICS = ("n", "loss", "accuracy", "macro_f1", "micro_f1", "weighted_f1", "train_loss",
                "n_train", "seconds")


def federation_lr_factor(step: int, *, round_no: int, rounds: int, steps_per_round: int,
                         warmup_ratio: float) -> float:
    """Learning-rate factor of local step ``step`` (0-based) of round ``round_no`` (1-based):
    the position on one warm-up + linear-decay schedule spanning ``rounds`` rounds of
    ``steps_per_round`` steps (the training run's schedule, see ``training/loop.py``).
    Without a known number of rounds (0) each round is its own schedule."""
    rounds = max(1, rounds)
    if round_no > rounds:  # a site that joins a longer federation than announced
        rounds, round_no = 1, 1
    total = max(1, rounds * steps_per_round)
    warmup = int(total * warmup_ratio)
    s = (max(1, round_no) - 1) * steps_per_round + step
    if s < warmup:
        return (s + 1) / max(1, warmup)
    return max(0.0, (total - s) / max(1, total - warmup))


class LocalModel:
    """The site's data, tokenizer and model, kept across rounds."""

    def __init__(self, project_path: str | Path, schema: FederationSchema, config: TrainConfig,
                 *, base_model: str = "", should_stop: Callable[[], bool],
                 need_data: bool = True, exchange: str = "full") -> None:
        import torch

        from workbench.core.store.project import Project
        from workbench.core.training.data import prepare_data
        from workbench.core.training.device import default_threads
        from workbench.core.training.freezing import auto_freeze_layers, freeze_lower_layers
        from workbench.core.training.models import (
            load_classifier,
            load_tokenizer,
            validate_base_model,
        )

        self.config = config
        self.schema = schema
        self.should_stop = should_stop
        self.data: Any = None
        with Project.open(project_path) as project:
            try:
                self.data = prepare_data(
                    project, validation_fraction=config.validation_fraction,
                    test_fraction=config.test_fraction, seed=config.seed,
                    reshuffle=False, augment=config.augment,
                )
            except WorkbenchError:
                if need_data:  # a site trains; the coordinator may hold no records at all
                    raise
            if self.data is not None and self.data.changed_splits:
                project.set_splits(self.data.changed_splits)
        self.labels = list(schema.labels)
        self.index = {name: i for i, name in enumerate(self.labels)}
        self.info = validate_base_model(base_model or config.base_model)
        self.tokenizer = load_tokenizer(self.info.path)
        torch.set_num_threads(config.threads or default_threads())
        torch.manual_seed(config.seed)
        self.model = load_classifier(self.info, self.labels, multi_label=schema.multi_label)
        first = auto_freeze_layers(config.freeze_layers, self.info.num_layers, "cpu")
        self.lora_info: dict[str, Any] | None = None
        if exchange == "lora":  # same settings on every site: the adapters' shapes match
            self.model = self._wrap_lora(first)
        else:
            freeze_lower_layers(self.model, first)
        self.max_length = min(config.max_length, self.info.max_positions)
        texts = [ex.text for ex in self.data.train] if self.data is not None else []
        self.train_ids = self.tokenizer(texts, truncation=True, max_length=self.max_length)["input_ids"] if texts else []
        self.test = (self.data.test or self.data.validation) if self.data is not None else []

    # ------------------------------------------------------------------ helpers
    def _wrap_lora(self, first: int) -> Any:
        """The classifier with LoRA adapters from the training settings (``lora_*``); the
        lower ``first`` layers get none, as in a LoRA training run."""
        from workbench.core.training.methods import lora

        first = min(first, max(0, self.info.num_layers - 1))
        if self.info.model_type == "albert":  # one shared layer: adapted everywhere
            first = 0
        cfg = self.config
        settings = lora.lora_settings(self.model, rank=cfg.lora_rank, alpha=cfg.lora_alpha,
                                      dropout=cfg.lora_dropout, targets=cfg.lora_targets,
                                      first_layer=first)
        wrapped = lora.wrap(self.model, settings)
        trainable, total = lora.trainable_counts(wrapped)
        self.lora_info = {"settings": settings, "trainable_params": trainable, "all_params": total}
        return wrapped

    def targets(self, examples: list[Any]) -> Any:
        import torch

        if self.schema.multi_label:
            y = torch.zeros((len(examples), len(self.labels)), dtype=torch.float32)
            for i, ex in enumerate(examples):
                for name in ex.labels:
                    y[i, self.index[name]] = 1.0
            return y
        return torch.tensor([self.index[ex.labels[0]] for ex in examples], dtype=torch.long)

    def _loss_fn(self, targets: Any) -> Any:
        import torch

        if self.schema.multi_label:
            return torch.nn.BCEWithLogitsLoss()
        weight = None
        if self.config.class_weighting == "balanced":
            counts = torch.bincount(targets, minlength=len(self.labels)).float().clamp(min=1)
            weight = (targets.numel() / (len(self.labels) * counts)).clamp(0.1, 10.0)
        return torch.nn.CrossEntropyLoss(weight=weight)

    def _absent_labels(self, targets: Any) -> Any:
        """Single-label: a mask of the labels without training records here, or None.

        A softmax over every label teaches a site to push the labels it never sees down for
        all its records; averaged across sites whose label mixes differ, each site then
        pulls the shared head away from the others' labels. Leaving those labels out of
        the site's softmax (restricted softmax, as in FedRS, Li & Zhan 2021) keeps what a
        site teaches to the labels it has; the others are taught by the sites that have
        them. Multi-label training keeps every label (each is its own yes/no)."""
        if self.schema.multi_label or not len(targets):
            return None
        import torch

        absent = torch.bincount(targets, minlength=len(self.labels)) == 0
        return absent if bool(absent.any()) else None

    # ------------------------------------------------------------------ a round
    def fit(self, exchange: ParameterExchange, arrays: list[Any], *, epochs: int,
            proximal_mu: float, round_no: int, rounds: int = 0
            ) -> tuple[list[Any], int, dict[str, float]]:
        """Train from the received weights; (new weights, training examples, metrics).
        ``rounds``: the federation's rounds, for the learning-rate schedule (0 = unknown:
        this round is a whole schedule)."""
        import time

        import torch

        from workbench.core.training.batching import (
            auto_learning_rate,
            collate,
            length_grouped_batches,
        )

        t0 = time.perf_counter()
        exchange.set(self.model, arrays)
        cfg = self.config
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        anchor = [p.detach().clone() for p in trainable] if proximal_mu > 0 else None
        if cfg.learning_rate:
            lr = cfg.learning_rate
        elif self.lora_info is not None:  # adapters start at zero: LoRA's larger step
            from workbench.core.training.methods import lora

            lr = lora.auto_learning_rate(self.info.size_class)
        else:
            lr = auto_learning_rate(self.info.size_class)
        decay = [p for n, p in self.model.named_parameters() if p.requires_grad and p.ndim >= 2 and "norm" not in n.lower()]
        rest = [p for n, p in self.model.named_parameters() if p.requires_grad and not (p.ndim >= 2 and "norm" not in n.lower())]
        optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                       {"params": rest, "weight_decay": 0.0}], lr=lr)
        targets = self.targets(self.data.train)
        loss_fn = self._loss_fn(targets)
        absent = self._absent_labels(targets)
        lengths = [len(x) for x in self.train_ids]
        pad = self.tokenizer.pad_token_id or 0
        per_epoch = len(length_grouped_batches(lengths, cfg.batch_size, cfg.seed))
        steps_per_round = per_epoch * epochs
        if cfg.max_steps:
            steps_per_round = min(steps_per_round, cfg.max_steps)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: federation_lr_factor(
            s, round_no=round_no, rounds=rounds, steps_per_round=steps_per_round,
            warmup_ratio=cfg.warmup_ratio))
        self.model.train()
        total, steps = 0.0, 0
        for epoch in range(epochs):
            batches = length_grouped_batches(lengths, cfg.batch_size, cfg.seed + 1000 * round_no + epoch)
            for idx in batches:
                if self.should_stop():
                    raise Cancelled("The site stopped during a round; nothing was sent.")
                ids, mask = collate(self.train_ids, idx, pad)
                logits = self.model(input_ids=ids, attention_mask=mask).logits.float()
                if absent is not None:  # restricted softmax: see _absent_labels
                    logits = logits.masked_fill(absent, -1e4)
                loss = loss_fn(logits, targets[idx])
                if anchor is not None:
                    prox = sum(((p - a) ** 2).sum() for p, a in zip(trainable, anchor, strict=True))
                    loss = loss + proximal_mu / 2 * prox
                loss.backward()
                torch.nn.utils.clip_grad_norm_(trainable, 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                total += float(loss.detach())
                steps += 1
                if steps >= steps_per_round:
                    break
            if steps >= steps_per_round:
                break
        metrics = {"train_loss": total / max(1, steps), "n_train": float(len(self.data.train)),
                   "seconds": time.perf_counter() - t0}
        return exchange.get(self.model), len(self.data.train), metrics

    def evaluate(self, exchange: ParameterExchange | None, arrays: list[Any] | None
                 ) -> tuple[float, int, dict[str, float], dict[str, Any]]:
        """Metrics of the received weights on this site's test split: (loss, n, the numbers
        that are sent, the full metrics kept here)."""
        import numpy as np

        from workbench.core.training.evaluate import (
            compute_metrics,
            predict_proba,
            probs_to_predictions,
        )

        if exchange is not None and arrays is not None:
            exchange.set(self.model, arrays)
        multi = self.schema.multi_label
        probs = predict_proba(self.model, self.tokenizer, [ex.text for ex in self.test],
                              max_length=self.max_length, multi_label=multi,
                              should_stop=self.should_stop)
        y = self.targets(self.test).numpy()
        pred = probs_to_predictions(probs, multi_label=multi)
        full = compute_metrics(y, pred, self.labels, multi_label=multi)
        eps = 1e-7
        if multi:
            p = np.clip(probs, eps, 1 - eps)
            loss = float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean()) if len(y) else 0.0
        else:
            loss = float(-np.log(np.clip(probs[np.arange(len(y)), y], eps, 1)).mean()) if len(y) else 0.0
        # Macro-F1 over the labels this site has test examples of: a label a site never
        # sees would otherwise count as 0 here (the coordinator weighs sites by size).
        present = [v["f1"] for v in (full.get("per_label") or {}).values() if v["support"] > 0]
        sent = {
            "n": float(full.get("n", 0)),
            "loss": loss if math.isfinite(loss) else 0.0,
            "accuracy": float(full.get("accuracy", 0.0)),
            "macro_f1": float(sum(present) / len(present)) if present else 0.0,
            "micro_f1": float(full.get("micro_f1", 0.0)),
            "weighted_f1": float(full.get("weighted_f1", 0.0)),
        }
        return sent["loss"], len(self.test), sent, full
