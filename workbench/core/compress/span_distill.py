"""Distilling an entity (span) run into a smaller student, on token logits.

The same shape of job as for classifiers (:mod:`workbench.core.compress.distill`): the
student is built from the teacher's own weights (fewer layers, narrower), the teacher's
logits are computed once for every token of every training window, on the labelled
training records and on the project's unlabelled records, and the loss per token is

    soft_weight * T^2 * KL(softmax(teacher / T) || softmax(student / T))   (every real token)
    + (1 - soft_weight) * cross-entropy(student, BIO tag)         (labelled windows' targets)

The student with the best validation entity F1 (strict) is kept, measured on the test
split (entity F1 and span agreement with the teacher) and published as a span run whose
parent is the teacher; nothing is written before that (a cancel leaves no run).
"""
from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.core.compress.common import (
    CompressEvent,
    CompressResult,
    check_method_supported,
    publish_run,
)
from workbench.core.errors import Cancelled, WorkbenchError

__all__ = ["distill_spans"]


def _data(project_path: Path, parent: Any, config: Any) -> tuple[Any, list[str]]:
    from workbench.core.deploy.project_data import unlabelled_records
    from workbench.core.spans.span_data import prepare_span_data
    from workbench.core.store.project import Project
    from workbench.core.training.config import TrainConfig
    from workbench.core.training.runs import get_run

    with Project.open(project_path) as project:
        cfg = get_run(project, parent.run_id).get("config") or {}
        train_cfg = TrainConfig(validation_fraction=float(cfg.get("validation_fraction", 0.15)),
                                test_fraction=float(cfg.get("test_fraction", 0.15)), seed=int(cfg.get("seed", 42)))
        data = prepare_span_data(project, train_cfg)
        unlabelled = [t for _r, t in unlabelled_records(project)][:config.max_unlabelled] \
            if config.use_unlabelled else []
    return data, unlabelled


def _evaluate(model: Any, tokenizer: Any, records: list[Any], info: dict[str, Any], types: list[str]
              ) -> tuple[dict[str, Any], list[Any]]:
    from workbench.core.spans.span_metrics import entity_metrics
    from workbench.core.spans.span_predict import torch_spans

    texts = [r.text for r in records]
    pred = torch_spans(model, tokenizer, texts, info["tags"], max_length=int(info["max_length"]),
                       stride=info.get("stride"), alignment=info.get("alignment", "first"), batch_size=32)
    gold = [[s for s in r.spans if s.label in types] for r in records]
    return entity_metrics(texts, gold, [[s for s, _ in p] for p, _u in pred], types), pred


def distill_spans(project_path: str | Path, config: Any, parent: Any, *, progress: Callable | None = None,
                  should_stop: Callable[[], bool] | None = None) -> CompressResult:
    """Distil the span run ``parent`` into a student (``config``: a ``DistillConfig``)."""
    import torch
    import torch.nn.functional as F

    from workbench.core.compress.student import build_student, describe_student, parse_student_spec
    from workbench.core.deploy.span_runtime import encode_windows
    from workbench.core.spans.span_evaluate import load_span_model
    from workbench.core.spans.span_export_onnx import span_agreement
    from workbench.core.spans.span_predict import torch_window_logits
    from workbench.core.spans.token_align import non_overlapping, window_targets
    from workbench.core.training.batching import length_grouped_batches
    from workbench.core.training.device import default_threads

    emit = progress or (lambda _e: None)
    stop = should_stop or (lambda: False)
    t0 = time.perf_counter()
    teacher, tokenizer, info = load_span_model(parent.model_dir)
    check_method_supported(teacher)
    plan = parse_student_spec(config.student, teacher.config)
    data, unlabelled = _data(Path(project_path), parent, config)
    types, tags = [str(t) for t in info["labels"]], [str(t) for t in info["tags"]]
    if not data.train:
        raise WorkbenchError("The teacher's training split has no labelled records left to distil from.")
    tag_index = {t: i for i, t in enumerate(tags)}
    backend = tokenizer.backend_tokenizer
    max_length, stride = int(info["max_length"]), info.get("stride")
    texts = [r.text for r in data.train] + unlabelled
    windows = encode_windows(backend, texts, max_length, stride)
    n_lab = len(data.train)
    spans = [non_overlapping([s for s in r.spans if s.label in types]) for r in data.train]
    targets = [window_targets(w, spans[w.text_index], tag_index, info.get("alignment", "first"))
               if w.text_index < n_lab else None for w in windows]
    student = build_student(teacher, plan)
    emit(CompressEvent("distill", 0, 0, f"Student: {describe_student(plan)}; teacher token logits on "
                       f"{len(windows)} windows ({n_lab} labelled and {len(unlabelled)} unlabelled texts)"))
    old_threads = torch.get_num_threads()
    torch.set_num_threads(config.threads or default_threads())
    try:
        soft = torch_window_logits(teacher, windows, pad_id=tokenizer.pad_token_id or 0, should_stop=stop)
        if stop():
            raise Cancelled("Distillation cancelled; nothing was written.")
        lengths = [len(w.ids) for w in windows]
        total = len(length_grouped_batches(lengths, config.batch_size, config.seed)) * config.epochs
        if config.max_steps:
            total = min(total, config.max_steps)
        torch.manual_seed(config.seed)
        optimizer = torch.optim.AdamW(student.parameters(), lr=config.learning_rate, weight_decay=0.01)
        warmup = max(1, int(0.06 * total))
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: (s + 1) / warmup if s < warmup else max(0.0, (total - s) / max(1, total - warmup)))
        T, w_soft, pad = float(config.temperature), float(config.soft_weight), tokenizer.pad_token_id or 0
        best_f1, best_state, history, step = -1.0, None, [], 0
        for epoch in range(config.epochs):
            student.train()
            for idx in length_grouped_batches(lengths, config.batch_size, config.seed + epoch):
                if stop():
                    raise Cancelled("Distillation cancelled; nothing was written.")
                width = max(lengths[i] for i in idx)
                ids = torch.full((len(idx), width), pad, dtype=torch.long)
                mask = torch.zeros((len(idx), width), dtype=torch.bool)
                teach = torch.zeros((len(idx), width, len(tags)))
                y = torch.full((len(idx), width), -100, dtype=torch.long)
                for row, i in enumerate(idx):
                    n = lengths[i]
                    ids[row, :n] = torch.as_tensor(windows[i].ids)
                    mask[row, :n] = True
                    teach[row, :n] = torch.as_tensor(soft[i])
                    if targets[i] is not None:
                        y[row, :n] = torch.as_tensor(targets[i])
                logits = student(input_ids=ids, attention_mask=mask.long()).logits.float()
                kl = F.kl_div(F.log_softmax(logits[mask] / T, -1), F.softmax(teach[mask] / T, -1),
                              reduction="batchmean") * T * T
                loss = w_soft * kl
                if bool((y != -100).any()) and w_soft < 1.0:
                    loss = loss + (1.0 - w_soft) * F.cross_entropy(logits.reshape(-1, len(tags)), y.reshape(-1),
                                                                    ignore_index=-100)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                emit(CompressEvent("distill", step, total, "", {"loss": float(loss.detach()), "epoch": epoch + 1}))
                if step >= total:
                    break
            metrics, _p = _evaluate(student, tokenizer, data.validation or data.train, info, types)
            f1 = float(metrics["entity_f1"])
            history.append({"epoch": epoch + 1, "step": step, "entity_f1": f1})
            emit(CompressEvent("distill", step, total, f"Epoch {epoch + 1}: validation entity F1 {f1:.3f}"))
            if f1 > best_f1 + 1e-6 or best_state is None:
                best_f1 = f1
                best_state = {n: v.detach().clone() for n, v in student.state_dict().items()}
            if step >= total:
                break
        student.load_state_dict(best_state)
        student.eval()
        test = data.test or data.validation
        metrics, pred = _evaluate(student, tokenizer, test, info, types)
        teacher_metrics, teacher_pred = _evaluate(teacher, tokenizer, test, info, types)
    finally:
        torch.set_num_threads(old_threads)
    if stop():
        raise Cancelled("Distillation cancelled; nothing was written.")
    agreement = span_agreement([[s for s, _ in p] for p, _u in teacher_pred], [[s for s, _ in p] for p, _u in pred])
    details = {"student": config.student, "plan": plan, "temperature": config.temperature,
               "soft_weight": config.soft_weight, "labelled_texts": n_lab, "unlabelled_texts": len(unlabelled),
               "windows": len(windows), "teacher_params": sum(p.numel() for p in teacher.parameters()),
               "student_params": sum(p.numel() for p in student.parameters()),
               "agreement_with_teacher": agreement, "agreement_kind": "span F1 of the student against the teacher",
               "teacher_entity_f1": teacher_metrics["entity_f1"], "seconds": round(time.perf_counter() - t0, 1)}
    metrics = {**metrics, "split": "test" if data.test else "validation", "history": history, "steps": step,
               "validation": {"entity_f1": best_f1}, "compression": details}
    staging = _save(parent, student, tokenizer, info)
    try:
        from workbench.core.assist.span_suggestions import store_span_predictions

        run_config = {**config.to_dict(), "task": "spans", "base_model": parent.row["base_model"],
                      "compression": details}
        run_id, folder = publish_run(
            parent, staging, method="distill", base_model=parent.row["base_model"] or "", config=run_config,
            metrics=metrics, snapshot_hash=data.snapshot_hash,
            after=lambda project, rid: store_span_predictions(
                project, rid, [(r.record_id, p, u) for r, (p, u) in zip(test, pred, strict=True)]))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    emit(CompressEvent("done", 1, 1, f"Run {run_id}: student of span run {parent.run_id}, test entity F1 "
                       f"{metrics['entity_f1']:.3f} (teacher {teacher_metrics['entity_f1']:.3f})"))
    return CompressResult(run_id, parent.run_id, "distill", folder, metrics, details)


def _save(parent: Any, student: Any, tokenizer: Any, info: dict[str, Any]) -> Path:
    from workbench.core.compress.common import staging_folder

    staging = staging_folder(parent.models_dir)
    try:
        student.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        keep = ("task", "labels", "tags", "max_length", "stride", "alignment", "base_model", "multi_label",
                "thresholds")
        out = {"run_id": None, **{k: info.get(k) for k in keep}}
        (staging / "workbench_run.json").write_text(json.dumps(out, indent=2), encoding="utf-8")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging
