"""Structured pruning: remove the least important attention heads and feed-forward
neurons, then recover with a short distillation from the unpruned model.

Importance is measured on the validation records as the gradient of the loss times the
activation (summed absolute value over tokens) of each head's context vector and each
feed-forward neuron. Each layer keeps the same number of heads and of neurons (the most
important ones), so the result is a smaller dense model: narrower matrices, not masks,
and the ONNX and int8 exports gain from it.
"""
from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from workbench.core.compress.common import (
    CompressEvent,
    CompressResult,
    check_method_supported,
    load_parent,
    publish_run,
    staging_folder,
)
from workbench.core.compress.pruned_layout import HEADS_KEY, encoder_layers, narrow_attention
from workbench.core.errors import Cancelled, WorkbenchError
from workbench.core.settings import Settings, setting

__all__ = ["PruneConfig", "prune_job", "importance_scores", "prune_model"]

log = logging.getLogger(__name__)


@dataclass
class PruneConfig(Settings):
    """How much of a run to prune and how long to recover (the config of :func:`prune_job`)."""

    SETTINGS_NAME: ClassVar[str] = "pruning"

    run: str | int = setting("latest", "The run to prune: a run number, or the newest run that saved a model.")
    heads: float = setting(0.25, "Share of attention heads removed in every layer.", min=0.0, max=0.9,
                           label="Heads removed")
    ffn: float = setting(0.5, "Share of feed-forward neurons removed in every layer.", min=0.0, max=0.95,
                         label="Feed-forward neurons removed")
    epochs: int = setting(2, "Recovery passes (distillation from the unpruned model).", min=0, max=50)
    learning_rate: float = setting(5e-5, "Peak learning rate of the recovery.", min=1e-7, max=1.0, decimals=6)
    batch_size: int = setting(32, "Texts per step.", min=1, max=1024)
    use_unlabelled: bool = setting(True, "Also recover on the unpruned model's predictions for unlabelled records.")
    max_unlabelled: int = setting(20000, "Use at most this many unlabelled records.", min=0, max=10_000_000)
    temperature: float = setting(2.0, "Softening of the unpruned model's probabilities.", min=0.5, max=20.0)
    soft_weight: float = setting(0.7, "Weight of the soft targets against the hard labels.", min=0.0, max=1.0)
    max_steps: int = setting(0, "Stop the recovery after this many steps (0: no limit).", min=0, max=10_000_000,
                             advanced=True)
    seed: int = setting(42, "Random seed.", min=0, max=2**31 - 1, advanced=True)
    threads: int = setting(0, "CPU threads (0: one per spare core).", min=0, max=256, advanced=True)


def importance_scores(model: Any, tokenizer: Any, texts: Sequence[str], targets: Sequence[tuple[int, ...]],
                      *, multi_label: bool, max_length: int, batch_size: int = 16,
                      should_stop: Callable[[], bool] | None = None) -> tuple[Any, Any]:
    """(head importance [layers x heads], neuron importance [layers x ffn]) on ``texts``."""
    import torch
    import torch.nn.functional as F

    from workbench.core.training.batching import collate

    layers = encoder_layers(model)
    n_heads = int(layers[0].attention.self.num_attention_heads)
    width = int(layers[0].attention.self.attention_head_size)
    heads = torch.zeros(len(layers), n_heads)
    neurons = torch.zeros(len(layers), int(layers[0].intermediate.dense.out_features))
    seen: dict[tuple[str, int], Any] = {}

    def keep(kind: str, i: int) -> Callable[..., None]:
        def hook(_module: Any, _inputs: Any, output: Any) -> None:
            tensor = output[0] if isinstance(output, tuple) else output
            tensor.retain_grad()
            seen[(kind, i)] = tensor
        return hook

    handles = []
    for i, layer in enumerate(layers):
        handles.append(layer.attention.self.register_forward_hook(keep("att", i)))
        handles.append(layer.intermediate.register_forward_hook(keep("ffn", i)))
    enc = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    pad = tokenizer.pad_token_id or 0
    k = int(model.config.num_labels)
    model.eval()
    try:
        for start in range(0, len(enc), batch_size):
            if should_stop is not None and should_stop():
                raise Cancelled("Pruning cancelled; nothing was written.")
            idx = list(range(start, min(len(enc), start + batch_size)))
            ids, mask = collate(enc, idx, pad)
            logits = model(input_ids=ids, attention_mask=mask).logits.float()
            if multi_label:
                y = torch.zeros((len(idx), k))
                for row, i in enumerate(idx):
                    y[row, list(targets[i])] = 1.0
                loss = F.binary_cross_entropy_with_logits(logits, y)
            else:
                loss = F.cross_entropy(logits, torch.tensor([targets[i][0] for i in idx]))
            model.zero_grad(set_to_none=True)
            loss.backward()
            m = mask[:, :, None].float()
            with torch.no_grad():
                for i in range(len(layers)):
                    att = seen[("att", i)]
                    score = (att * att.grad * m).abs().sum(dim=(0, 1))
                    heads[i] += score.view(n_heads, width).sum(-1)
                    ffn = seen[("ffn", i)]
                    neurons[i] += (ffn * ffn.grad * m).abs().sum(dim=(0, 1))
            seen.clear()
    finally:
        for h in handles:
            h.remove()
        model.zero_grad(set_to_none=True)
    return heads, neurons


def prune_model(model: Any, head_scores: Any, neuron_scores: Any, *, heads_removed: float,
                ffn_removed: float) -> dict[str, Any]:
    """Remove the least important heads and neurons of every layer (in place)."""
    import torch
    from transformers.pytorch_utils import prune_linear_layer

    layers = encoder_layers(model)
    n_heads, n_ffn = head_scores.shape[1], neuron_scores.shape[1]
    keep_heads = max(1, n_heads - int(round(heads_removed * n_heads)))
    keep_ffn = max(1, n_ffn - int(round(ffn_removed * n_ffn)))
    kept: dict[str, Any] = {"heads": [], "ffn": keep_ffn}
    for i, layer in enumerate(layers):
        if keep_heads < n_heads:
            best = sorted(torch.topk(head_scores[i], keep_heads).indices.tolist())
            narrow_attention(layer, best)
            kept["heads"].append(best)
        if keep_ffn < n_ffn:
            index = torch.topk(neuron_scores[i], keep_ffn).indices.sort().values
            layer.intermediate.dense = prune_linear_layer(layer.intermediate.dense, index, dim=0)
            layer.output.dense = prune_linear_layer(layer.output.dense, index, dim=1)
    model.config.intermediate_size = keep_ffn
    if keep_heads < n_heads:
        setattr(model.config, HEADS_KEY, [keep_heads] * len(layers))
    return {"heads_per_layer": keep_heads, "heads_before": n_heads, "ffn_per_layer": keep_ffn,
            "ffn_before": n_ffn, "kept_heads": kept["heads"]}


def prune_job(project_path: str | Path, config: PruneConfig, *, progress: Callable | None = None,
              should_stop: Callable[[], bool] | None = None) -> CompressResult:
    """Prune run ``config.run`` and recover; the pruned model becomes a new run."""
    import copy

    import torch

    from workbench.core.compress.distill import gather_soft_data, prediction_rows_for, save_student
    from workbench.core.compress.soft_training import SoftSettings, train_on_soft_targets
    from workbench.core.deploy import convert
    from workbench.core.training.device import default_threads

    config.validate()
    if config.heads == 0 and config.ffn == 0:
        raise WorkbenchError("Nothing to prune: set a share of heads or of feed-forward neurons above 0.")
    emit = progress or (lambda _e: None)
    t0 = time.perf_counter()
    emit(CompressEvent("prepare", 0, 0, "Loading the model"))
    parent = load_parent(project_path, config.run)
    teacher, tokenizer = convert.load_classifier(parent.model_dir)
    check_method_supported(teacher)
    data, snapshot = gather_soft_data(project_path, parent, use_unlabelled=config.use_unlabelled,
                                      max_unlabelled=config.max_unlabelled)
    old_threads = torch.get_num_threads()
    torch.set_num_threads(config.threads or default_threads())
    try:
        emit(CompressEvent("importance", 0, 0, f"Measuring importance on {len(data.val_texts)} validation texts"))
        student = copy.deepcopy(teacher)
        head_scores, neuron_scores = importance_scores(
            student, tokenizer, data.val_texts, data.val_targets, multi_label=data.multi_label,
            max_length=data.max_length, should_stop=should_stop)
        details = prune_model(student, head_scores, neuron_scores, heads_removed=config.heads,
                              ffn_removed=config.ffn)
        details["teacher_params"] = sum(p.numel() for p in teacher.parameters())
        details["student_params"] = sum(p.numel() for p in student.parameters())
        emit(CompressEvent("prune", 0, 0, f"Kept {details['heads_per_layer']} of {details['heads_before']} heads and "
                           f"{details['ffn_per_layer']} of {details['ffn_before']} neurons per layer"))
        outcome = train_on_soft_targets(
            teacher, student, tokenizer, data,
            SoftSettings(temperature=config.temperature, soft_weight=config.soft_weight,
                         epochs=max(1, config.epochs), learning_rate=config.learning_rate,
                         batch_size=config.batch_size,
                         max_steps=config.max_steps if config.epochs else 1, seed=config.seed, phase="recover"),
            thresholds=parent.info.get("thresholds"), progress=emit, should_stop=should_stop)
    finally:
        torch.set_num_threads(old_threads)
    if should_stop is not None and should_stop():
        raise Cancelled("Pruning cancelled; nothing was written.")
    details.update(agreement_with_teacher=outcome.agreement, teacher_macro_f1=outcome.teacher_f1,
                   seconds=round(time.perf_counter() - t0, 1), heads=config.heads, ffn=config.ffn)
    metrics = {**outcome.metrics, "split": "test", "compression": details}
    staging = staging_folder(parent.models_dir)
    try:
        save_student(staging, student, tokenizer, parent, data, outcome.thresholds)
        run_config = {**config.to_dict(), "base_model": parent.row["base_model"], "compression": details}
        run_id, folder = publish_run(parent, staging, method="prune", base_model=parent.row["base_model"] or "",
                                     config=run_config, metrics=metrics,
                                     predictions=prediction_rows_for(data, outcome), snapshot_hash=snapshot)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    emit(CompressEvent("done", 1, 1, f"Run {run_id}: pruned from run {parent.run_id}, test macro-F1 "
                       f"{metrics.get('macro_f1', 0):.3f}"))
    return CompressResult(run_id, parent.run_id, "prune", folder, metrics, details)
