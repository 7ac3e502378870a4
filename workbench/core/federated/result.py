"""The global model as a normal run: model folder, run record, test-split predictions.

Deploy, Inference and the model card read a federated run like any other: the folder has
the same files (safetensors weights, tokenizer, ``workbench_run.json``), and the run's
config keeps the federation under ``config["federation"]`` (role, sites, rounds, settings).
"""
from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from workbench.core.federated.accounting import privacy_sentence
from workbench.core.training.config import TrainConfig

__all__ = ["save_global_run", "evaluate_local", "method_summary"]


def evaluate_local(local: Any) -> tuple[dict[str, Any], Any]:
    """(full metrics, probabilities) of the local model on the local test split."""
    from workbench.core.training.evaluate import (
        compute_metrics,
        predict_proba,
        probs_to_predictions,
    )

    multi = local.schema.multi_label
    probs = predict_proba(local.model, local.tokenizer, [ex.text for ex in local.test],
                          max_length=local.max_length, multi_label=multi)
    y = local.targets(local.test).numpy()
    pred = probs_to_predictions(probs, multi_label=multi)
    return compute_metrics(y, pred, local.labels, multi_label=multi), probs


def method_summary(federation: dict[str, Any]) -> str:
    """The model card's sentence on how a federated model was trained."""
    settings = federation.get("settings") or {}
    how = "FedProx" if float(settings.get("proximal_mu") or 0) > 0 else "FedAvg"
    sites = federation.get("sites")
    who = (f"{len(sites)} sites ({', '.join(sites)})" if sites else "several sites")
    if federation.get("role") == "site":
        who = "several sites, this one included"
    return (f"Trained by federated learning (Flower, {how}) across {who} in "
            f"{federation.get('rounds', 0)} round(s): each site fine-tuned on its own records, "
            "which never left it"
            + ("; only LoRA adapters, the head and metric numbers travelled, and the adapters "
               "are merged into the base model's weights for export. "
               if settings.get("exchange") == "lora" else
               "; only weights and metric numbers travelled. ")
            + privacy_sentence(federation.get("privacy"))
            + ("With secure aggregation (Flower's SecAgg+), the coordinator saw only the sum of "
               "the sites' masked updates, never one site's. "
               if federation.get("secure_aggregation") else "")
            + "The training "
            "data above is this project's own, not the sites'.")


def _add_method_summary(folder: Path, federation: dict[str, Any]) -> None:
    import json

    info_file = folder / "workbench_run.json"
    info = json.loads(info_file.read_text(encoding="utf-8"))
    info["method_summary"] = method_summary(federation)
    info["federation"] = {k: federation[k] for k in ("role", "sites", "rounds", "privacy", "secure_aggregation") if k in federation}
    info_file.write_text(json.dumps(info, indent=2), encoding="utf-8")


def save_global_run(project_path: str | Path, local: Any, train: TrainConfig, *,
                    federation: dict[str, Any], metrics: dict[str, Any],
                    timings: dict[str, Any] | None = None) -> tuple[int, Path]:
    """Store ``local.model`` (already holding the global weights) as a completed run of the
    project; with test records there, they are evaluated and their predictions stored."""
    from workbench.core.store.project import Project
    from workbench.core.training.finish import prediction_rows, save_model
    from workbench.core.training.runs import create_run, finish_run, store_predictions

    t0 = time.perf_counter()
    multi = local.schema.multi_label
    thresholds = [0.5] * len(local.labels) if multi else None
    rows: list[Any] = []
    if local.test:
        own, probs = evaluate_local(local)
        metrics = {**own, **{k: v for k, v in metrics.items() if k not in own}}
        rows = prediction_rows(local.test, probs, local.labels, multi, thresholds)
    lora_info = getattr(local, "lora_info", None)
    method = "lora" if lora_info else "finetune"
    metrics = {**metrics, "thresholds": thresholds,
               "method": {"requested": "federated", "chosen": method}}
    config = {**train.to_dict(), "method": method, "federation": federation,
              "effective": {"max_length": local.max_length}}
    snapshot = getattr(local.data, "snapshot_hash", "") if local.data is not None else ""
    with Project.open(project_path) as project:
        models_dir = project.models_dir
        run_id = create_run(project, base_model=train.base_model, config=config,
                            snapshot_hash=f"federated:{snapshot}", device="cpu")
    job = SimpleNamespace(
        models_dir=models_dir, run_id=run_id, tmp_dir=None, max_length=local.max_length,
        thresholds=thresholds, temperature=1.0, config=train, info=local.info,
        lora_info=lora_info, method_info=None,
        data=SimpleNamespace(labels=local.labels, multi_label=multi),
    )
    final = save_model(job, local.model, local.tokenizer)
    _add_method_summary(final, federation)
    with Project.open(project_path) as project:
        if rows:
            store_predictions(project, run_id, rows)
        rel = final.relative_to(project.path.parent) if final.is_relative_to(project.path.parent) else final
        finish_run(project, run_id, status="completed", metrics=metrics, model_path=str(rel),
                   timings={**(timings or {}), "save_s": time.perf_counter() - t0}, config=config)
    return run_id, final
