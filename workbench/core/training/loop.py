"""The trainer: a plain PyTorch loop with dynamic padding and length-grouped batches.

One call of :func:`train_project` takes a snapshot of the labels, stores the split, trains,
keeps the weights with the best validation macro-F1, evaluates them on the test split and
writes the model folder ``<project>.models/run-<id>/`` atomically (a temporary folder
renamed at the end), so a crash or a cancel never leaves a half-written model and never
touches earlier runs.
"""
from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.core.errors import Cancelled
from workbench.core.jobs import never_stop, no_progress
from workbench.core.training.config import TrainConfig, TrainEvent, TrainResult
from workbench.core.training.estimate import eta_fields
from workbench.core.training.finish import brief, finish_run_output

__all__ = ["train_project", "train_job"]

log = logging.getLogger(__name__)

#: A running run's heartbeat is renewed this often (seconds).
HEARTBEAT_S = 60.0

def train_project(
    project_path: str | Path,
    config: TrainConfig | None = None,
    progress: Callable[[TrainEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Fine-tune a classifier on the project's labelled records; returns the run's result.

    Runs in the calling thread (call it from a worker thread in a GUI) and opens its own
    connection to the project. ``progress`` receives :class:`TrainEvent` objects;
    ``should_stop`` is checked before every step: training then stops, the best model so
    far is evaluated and saved, and the run ends with status ``"cancelled"`` (without a
    model if no evaluation had happened yet).

    Bad settings, a bad base model or too little data raise :class:`WorkbenchError`
    before anything is written. An unexpected error during training marks the run
    ``failed`` in the project and is raised again.
    """
    from workbench.core.training.device import dist_info

    config = config or TrainConfig()
    config.validate()
    if config.method == "lora":  # peft is optional: one message before anything is written
        from workbench.core.training.methods.lora import require_peft

        require_peft()
    from workbench.core.spans.span_training import is_span_project, train_spans

    if is_span_project(project_path):  # entities: token classification (core/spans)
        return train_spans(project_path, config, progress, should_stop)
    # Run tracking (tracking.py): the curve is stored with the run; TensorBoard / MLflow.
    from workbench.core.training.tracking import RunTracker

    tracker = RunTracker(progress or no_progress, config)
    job = _Job(Path(project_path), config, tracker, should_stop or never_stop, dist_info())
    return tracker.finish(job, job.run())


def train_job(
    project_path: str | Path,
    config: TrainConfig,
    *,
    progress: Callable[[TrainEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """The training job (see :mod:`workbench.core.jobs`): :func:`train_project`, but a
    cancelled run raises :class:`Cancelled` whose ``result`` is the run's
    :class:`TrainResult` (status ``"cancelled"``, with the best model kept if there was one).
    """
    result = train_project(project_path, config, progress=progress, should_stop=should_stop)
    if result.status == "cancelled":
        kept = "the best model so far was kept" if result.model_path else "no model was saved"
        raise Cancelled(f"Run #{result.run_id} cancelled; {kept}.", result=result)
    return result


class _Job:
    """State of one training run (kept together so the steps stay short functions)."""

    def __init__(self, path: Path, config: TrainConfig, progress: Any, should_stop: Any, dist: Any):
        self.path = path
        self.config = config
        self.progress = progress
        self.should_stop = should_stop
        self.dist = dist
        self.timings: dict[str, float] = {}
        self.run_id = 0
        self.tmp_dir: Path | None = None
        self._last_beat = time.monotonic()

    def _beat(self, now: float) -> None:
        from workbench.core.store.project import Project
        from workbench.core.training.runs import touch_run

        self._last_beat = now
        try:
            with Project.open(self.path) as project:
                touch_run(project, self.run_id)
        except Exception:  # a missed heartbeat only matters on a shared network folder
            log.warning("could not renew the heartbeat of run %s", self.run_id, exc_info=True)

    # ------------------------------------------------------------------ helpers
    def emit(self, event: TrainEvent) -> None:
        """Report ``event``; every step is reported, runners throttle (see
        :class:`workbench.core.jobs.Throttle`)."""
        if not self.dist.is_main:
            return
        now = time.monotonic()
        if self.run_id and now - self._last_beat > HEARTBEAT_S:
            self._beat(now)
        try:
            self.progress(event)
        except Exception:  # a broken progress display must not kill the run
            log.exception("progress callback failed")

    def _agree(self, flag: bool) -> bool:
        """The same decision on every process (any process saying yes wins)."""
        if not self.dist.distributed:
            return flag
        import torch
        import torch.distributed as tdist

        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        tdist.all_reduce(t, op=tdist.ReduceOp.MAX)
        return bool(t.item() > 0)

    # ------------------------------------------------------------------ main
    def run(self) -> TrainResult:
        import torch

        from workbench.core.training.device import (
            default_threads,
            init_distributed,
            pick_device,
        )
        from workbench.core.training.models import validate_base_model

        t0 = time.perf_counter()
        self.emit(TrainEvent("prepare", message="Reading the labelled records"))
        data = self._prepare_data() if self.dist.is_main else None
        self.emit(TrainEvent("prepare", message="Checking the base model"))
        self.info = validate_base_model(self.config.base_model)
        self.device = pick_device(self.config.device, self.dist)
        init_distributed(self.dist, self.device)
        old_threads = torch.get_num_threads()
        threads = self.config.threads or default_threads()
        if self.device.type == "cpu":
            # Per thread: this is the training thread, the GUI thread keeps its own setting.
            torch.set_num_threads(threads)
        try:
            if self.dist.is_main:
                self._start_run(data)
            if self.dist.distributed:
                import torch.distributed as tdist

                box = [data, self.run_id]
                tdist.broadcast_object_list(box, src=0)
                data, self.run_id = box
            self.data = data
            self.timings["prepare_s"] = time.perf_counter() - t0
            # Few-label methods (auto, linear, setfit): see core/training/methods.
            from workbench.core.training.methods.runner import after_finetune, train_with_method

            other = train_with_method(self, t0) if self.dist.is_main and not self.dist.distributed else None
            return other if other is not None else after_finetune(self, self._train_and_save(t0))
        except BaseException as exc:
            self._fail(exc)
            raise
        finally:
            torch.set_num_threads(old_threads)
            if self.dist.distributed:
                import torch.distributed as tdist

                if tdist.is_initialized():
                    tdist.destroy_process_group()

    def _prepare_data(self) -> Any:
        from workbench.core.store.project import Project
        from workbench.core.training.data import prepare_data

        with Project.open(self.path) as project:
            return prepare_data(
                project,
                validation_fraction=self.config.validation_fraction,
                test_fraction=self.config.test_fraction,
                seed=self.config.seed,
                reshuffle=self.config.reshuffle_split,
                augment=self.config.augment,
            )

    def _start_run(self, data: Any) -> None:
        from workbench.core.store.project import Project
        from workbench.core.training.runs import create_run

        with Project.open(self.path) as project:
            if data.changed_splits:
                project.set_splits(data.changed_splits)
            self.models_dir = project.models_dir
            self.run_id = create_run(
                project,
                base_model=self.config.base_model,
                config=self.config.to_dict(),
                snapshot_hash=data.snapshot_hash,
                device=str(self.device),
            )
        for warning in data.warnings:
            self.emit(TrainEvent("prepare", message=f"Note: {warning}"))

    def _fail(self, exc: BaseException) -> None:
        if self.tmp_dir is not None:
            shutil.rmtree(self.tmp_dir, ignore_errors=True)
        if not self.dist.is_main or not self.run_id:
            return
        from workbench.core.store.project import Project
        from workbench.core.training.runs import finish_run

        try:
            with Project.open(self.path) as project:
                finish_run(
                    project, self.run_id, status="failed", timings=self.timings,
                    error=f"{type(exc).__name__}: {exc}",
                )
        except Exception:
            log.exception("could not record the failure of run %s", self.run_id)

    # ------------------------------------------------------------------ training
    def _encode(self, tokenizer: Any) -> None:
        from workbench.core.training.batching import choose_max_length

        cfg, data = self.config, self.data
        t = time.perf_counter()
        train_texts = [ex.text for ex in data.train]
        cap = min(cfg.max_length, self.info.max_positions)
        probe = tokenizer(train_texts, truncation=True, max_length=cap)["input_ids"]
        self.max_length = choose_max_length([len(x) for x in probe], cfg.max_length, self.info.max_positions)
        self.train_ids = (
            probe
            if self.max_length == cap
            else tokenizer(train_texts, truncation=True, max_length=self.max_length)["input_ids"]
        )
        from workbench.core.training.long_records import plan_windows

        plan_windows(self, tokenizer, train_texts, cap)  # long records: windows or cut (long_records.py)
        self.timings["tokenize_s"] = time.perf_counter() - t

    def _targets(self, examples: list[Any]) -> Any:
        import torch

        index = self.data.label_index()
        if self.data.multi_label:
            y = torch.zeros((len(examples), len(index)), dtype=torch.float32)
            for i, ex in enumerate(examples):
                for name in ex.labels:
                    y[i, index[name]] = 1.0
            return y
        return torch.tensor([index[ex.labels[0]] for ex in examples], dtype=torch.long)

    def _loss_fn(self, targets: Any) -> Any:
        import torch

        k = len(self.data.labels)
        weighted = self.config.class_weighting == "balanced"
        if self.data.multi_label:
            pos = targets.sum(dim=0)
            neg = targets.shape[0] - pos
            pos_weight = (neg / pos.clamp(min=1)).clamp(1.0, 10.0) if weighted else None
            if pos_weight is not None:
                pos_weight = pos_weight.to(self.device)
            return torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
        weight = None
        if weighted:
            counts = torch.bincount(targets, minlength=k).float().clamp(min=1)
            # sklearn's "balanced" weights, capped so a label with 2 examples cannot dominate.
            weight = (targets.numel() / (k * counts)).clamp(0.1, 10.0).to(self.device)
        return torch.nn.CrossEntropyLoss(weight=weight)

    def _freeze(self, model: Any) -> int:
        """Keep the embeddings and the lower encoder layers fixed (the freeze_layers
        setting); returns the number of layers frozen."""
        from workbench.core.training.freezing import auto_freeze_layers, freeze_lower_layers

        wanted = auto_freeze_layers(self.config.freeze_layers, self.info.num_layers, self.device.type)
        frozen = freeze_lower_layers(model, wanted)
        if frozen:
            log.info("training with the embeddings and %d lower layer(s) frozen", frozen)
        return frozen

    def _optimizer(self, model: Any, lr: float) -> Any:
        import torch

        decay, no_decay = [], []
        for name, p in model.named_parameters():
            if not p.requires_grad:
                continue
            (no_decay if p.ndim < 2 or "norm" in name.lower() else decay).append(p)
        groups = [
            {"params": decay, "weight_decay": self.config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        try:  # fused AdamW is several times faster per step, on CPU as on GPU
            return torch.optim.AdamW(groups, lr=lr, fused=True)
        except (RuntimeError, TypeError, ValueError):
            return torch.optim.AdamW(groups, lr=lr)

    def evaluate(self, model: Any, tokenizer: Any, examples: list[Any], *, tune: bool,
                 cached: Any = None) -> tuple[dict, Any, Any]:
        """(metrics, probabilities, thresholds) of ``model`` on ``examples`` (with ``cached``,
        the frozen-layer cache, their lower layers run once per run: per-epoch validation)."""
        from workbench.core.training.evaluate import (
            compute_metrics,
            predict_proba,
            probs_to_predictions,
            tune_thresholds,
        )

        data = self.data
        y = self._targets(examples).numpy()
        probs = predict_proba(
            model, tokenizer, [ex.text for ex in examples], max_length=self.max_length,
            multi_label=data.multi_label, device=self.device,
            batch_size=max(32, self.config.batch_size * 2), autocast_dtype=self.amp_dtype,
            windows=getattr(self, "windows", None),
        ) if cached is None else cached.eval_probs(
            model, "validation", tokenizer, [ex.text for ex in examples], max_length=self.max_length,
            multi_label=data.multi_label, batch_size=max(32, self.config.batch_size * 2),
            windows=getattr(self, "windows", None))
        thresholds = self.thresholds
        if data.multi_label and tune and len(examples):
            thresholds = tune_thresholds(probs, y)
        pred = probs_to_predictions(probs, multi_label=data.multi_label, thresholds=thresholds)
        return compute_metrics(y, pred, data.labels, multi_label=data.multi_label), probs, thresholds

    def _train_and_save(self, t0: float) -> TrainResult:
        import torch

        from workbench.core.training.batching import (
            auto_epochs,
            auto_learning_rate,
            length_grouped_batches,
        )
        from workbench.core.training.cached_finetune import layer_cache_for
        from workbench.core.training.device import autocast_dtype
        from workbench.core.training.long_records import collate_records
        from workbench.core.training.models import load_classifier, load_tokenizer

        cfg, data, dist = self.config, self.data, self.dist
        self.emit(TrainEvent("prepare", message="Loading the base model"))
        tokenizer = load_tokenizer(self.info.path)
        self._encode(tokenizer)
        torch.manual_seed(cfg.seed)
        model = load_classifier(self.info, data.labels, multi_label=data.multi_label).to(self.device)
        from workbench.core.training.methods import lora  # LoRA: adapters instead of all weights

        use_lora = lora.wanted(self)
        model, frozen = lora.prepare(self, model) if use_lora else (model, self._freeze(model))
        self.amp_dtype = autocast_dtype(self.device)
        # Frozen lower layers computed once per record (core/training/cached_finetune.py).
        # (long records read in windows: kept per window)
        cached = layer_cache_for(model, self.train_ids, frozen, enabled=cfg.cache_frozen_layers, device=self.device,
                                 distributed=dist.distributed, amp=self.amp_dtype,
                                 windows=getattr(self, "train_windows", None))
        scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None
        self.thresholds: list[float] | None = [0.5] * len(data.labels) if data.multi_label else None
        train_model = model
        if dist.distributed:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            train_model = DistributedDataParallel(model, device_ids=ids)

        targets = self._targets(data.train)
        loss_fn = self._loss_fn(targets)
        lengths = [len(x) for x in self.train_ids]
        lr = cfg.learning_rate or (lora.auto_learning_rate if use_lora else auto_learning_rate)(self.info.size_class)
        epochs = cfg.epochs or auto_epochs(len(data.train), cfg.batch_size * dist.world_size)
        steps_per_epoch = len(
            length_grouped_batches(lengths, cfg.batch_size, cfg.seed, world_size=dist.world_size, rank=dist.rank)
        )
        total = steps_per_epoch * epochs
        if cfg.max_steps:
            total = min(total, cfg.max_steps)
        warmup = int(total * cfg.warmup_ratio)
        optimizer = self._optimizer(train_model, lr)
        trainable = [p for p in train_model.parameters() if p.requires_grad]
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer,
            lambda s: (s + 1) / max(1, warmup) if s < warmup else max(0.0, (total - s) / max(1, total - warmup)),
        )
        val = data.validation or data.train
        if not data.validation:
            self.emit(TrainEvent("prepare", message="Note: no validation records; the best model is chosen on the training data."))
        self.effective = {"learning_rate": lr, "epochs": epochs, "max_length": self.max_length,
                          "total_steps": total, "threads": torch.get_num_threads(),
                          "freeze_layers": frozen, "cached_layers": cached is not None,
                          "amp": str(self.amp_dtype).replace("torch.", "") if self.amp_dtype else None}
        if use_lora:
            self.effective["lora"] = self.lora_info
        self.emit(TrainEvent(
            "train", 0, total, epoch=0.0, learning_rate=lr,
            message=f"Training on {len(data.train)} records ({len(val)} validation) for up to "
                    f"{epochs} epoch(s), {total} steps, learning rate {lr:g}, "
                    f"max length {self.max_length}, on {self.device}",
        ))
        pad = tokenizer.pad_token_id or 0
        multiple = 8 if self.device.type == "cuda" else 1
        best_f1, best_state, best_epoch, bad = -1.0, None, 0, 0
        history: list[dict[str, Any]] = []
        step, samples, train_s, eval_s = 0, 0, 0.0, 0.0
        cancelled = stop = False
        train_model.train()
        for epoch in range(epochs):
            batches = length_grouped_batches(
                lengths, cfg.batch_size, cfg.seed + epoch, world_size=dist.world_size, rank=dist.rank
            )
            t_epoch = time.perf_counter()
            for n_in_epoch, idx in enumerate(batches):
                if self._agree(self.should_stop()):
                    cancelled = True
                    break
                ids, mask, pool = collate_records(self, idx, pad, multiple)  # long records: pooled windows
                y = targets[idx].to(self.device)
                with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
                    logits = pool(cached.logits(train_model, idx, ids, mask) if cached is not None else
                                  train_model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits)
                loss = loss_fn(logits.float(), y)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(trainable, 1.0)
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(trainable, 1.0)
                    optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                samples += len(idx) * dist.world_size
                elapsed = train_s + time.perf_counter() - t_epoch
                rate = samples / elapsed if elapsed > 0 else None
                self.emit(TrainEvent(
                    "train", step, total, epoch=epoch + (n_in_epoch + 1) / max(1, len(batches)),
                    loss=float(loss.detach()), learning_rate=scheduler.get_last_lr()[0],
                    samples_per_s=rate, **eta_fields(elapsed / step, step, total, len(batches), epoch,
                                                     cfg.early_stopping_patience, bad),
                ))
                if step >= total:
                    break
            train_s += time.perf_counter() - t_epoch
            if cancelled:
                break
            t_eval = time.perf_counter()
            stop = False
            if dist.is_main:
                self.emit(TrainEvent("evaluate", step, total, epoch=epoch + 1.0, message="Evaluating on validation"))
                metrics, _probs, thresholds = self.evaluate(model, tokenizer, val, tune=True, cached=cached)
                f1 = metrics.get("macro_f1", 0.0)
                history.append({"epoch": epoch + 1, "step": step, "macro_f1": f1, "accuracy": metrics.get("accuracy")})
                if f1 > best_f1 + 1e-6:
                    best_f1, best_epoch, bad = f1, epoch + 1, 0
                    best_state = lora.snapshot_state(model)  # adapters only for LoRA
                    if data.multi_label:
                        self.best_thresholds = thresholds
                else:
                    bad += 1
                stop = bool(cfg.early_stopping_patience and bad >= cfg.early_stopping_patience)
                # Nothing left to gain once validation is perfect (with early stopping on).
                stop = stop or bool(cfg.early_stopping_patience and best_f1 >= 1.0 - 1e-9)
                self.emit(TrainEvent(
                    "evaluate", step, total, epoch=epoch + 1.0, val_metrics=brief(metrics),
                    message=f"Epoch {epoch + 1}: validation macro-F1 {f1:.3f} (best {best_f1:.3f})"
                            + (", stopping early" if stop else ""),
                ))
            eval_s += time.perf_counter() - t_eval
            if self._agree(stop) or step >= total:
                break
            train_model.train()
        self.timings.update(train_s=train_s, eval_s=eval_s,
                            samples_per_s=samples / train_s if train_s > 0 else 0.0)
        if cached is not None:
            self.effective["layer_cache"] = cached.describe()
        status = "cancelled" if cancelled else "completed"
        if not dist.is_main:
            return TrainResult(self.run_id, status)
        return finish_run_output(self, model, tokenizer, best_state, status, t0,
                                 {"best_epoch": best_epoch, "history": history, "steps": step, "samples": samples,
                                  "stopped_early": bool(stop) and not cancelled})
