"""Evaluating a trained span run on its project's test split or on a span file (CoNLL,
JSONL, Label Studio): entity micro/macro F1, per type, partial overlap and counts."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from workbench.core.errors import ModelError, WorkbenchError
from workbench.core.spans.span_import import read_span_file
from workbench.core.spans.span_metrics import entity_metrics
from workbench.core.spans.span_snapshot import resolved_spans
from workbench.core.store.project import Project
from workbench.core.store.spans import Span

__all__ = ["load_span_model", "evaluate_span_run", "span_run_dir"]


def span_run_dir(project: Project, run: str | int) -> tuple[int, Path]:
    """(run id, model folder) of a span run ("latest" or an id)."""
    from workbench.core.training.runs import get_run

    row = get_run(project, run)
    if not row.get("model_path"):
        raise ModelError(f"Run {row['id']} has no saved model (status: {row['status']}).")
    folder = Path(row["model_path"])
    if not folder.is_absolute():
        folder = project.path.parent / folder
    if not folder.is_dir():
        raise ModelError(f"The model folder of run {row['id']} is missing: {folder}")
    return int(row["id"]), folder


def load_span_model(folder: Path) -> tuple[Any, Any, dict[str, Any]]:
    """(model, tokenizer, workbench_run.json) of a saved span run; a LoRA run comes back
    merged (a plain token classifier)."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    info_path = folder / "workbench_run.json"
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ModelError(f"{info_path} is missing or damaged.") from None
    if info.get("task") != "spans":
        raise ModelError(f"Run {info.get('run_id')} is a classifier, not an entity model.")
    from workbench.core.training.methods import lora_folder

    if lora_folder.is_lora_folder(folder):  # LoRA: base model + adapters, merged
        model, tokenizer = lora_folder.load_merged(folder)
        return model, tokenizer, info
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False)
        model = AutoModelForTokenClassification.from_pretrained(
            str(folder), trust_remote_code=False, attn_implementation="eager")
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"Cannot load the model in {folder}: {first}") from None
    model.eval()
    return model, tokenizer, info


def evaluate_span_run(project_path: str | Path, run: str | int = "latest",
                      input_file: str | Path | None = None, *, fmt: str | None = None,
                      batch_size: int = 32) -> dict[str, Any]:
    """Metrics of a span run (see :func:`entity_metrics`) plus ``run_id``, ``source`` and
    ``skipped`` (gold spans of types the model does not know, not counted)."""
    from workbench.core.spans.span_predict import torch_spans

    with Project.open(project_path) as project:
        if not project.is_spans:
            raise WorkbenchError(f"{project.name} is not a span project.")
        run_id, folder = span_run_dir(project, run)
        records = None if input_file else [r for r in resolved_spans(project)
                                           if r.split == "test"]
    model, tokenizer, info = load_span_model(folder)
    types = list(info["labels"])
    if input_file:
        examples = [ex for ex in read_span_file(input_file, fmt) if ex.labelled]
        texts = [ex.text for ex in examples]
        gold_all = [list(ex.spans) for ex in examples]
        source = str(input_file)
        for ex in examples:
            for span in ex.spans:
                if span.start < 0 or span.end > len(ex.text) or span.start >= span.end:
                    raise WorkbenchError(f"{Path(input_file).name}, line {ex.line}: span "
                                         f"{span.start}-{span.end} does not match the text.")
    else:
        texts = [r.text for r in records or []]
        gold_all = [list(r.spans) for r in records or []]
        source = "test split"
    if not texts:
        raise WorkbenchError(f"No labelled records to evaluate on in the {source}.")
    gold: list[list[Span]] = [[s for s in g if s.label in types] for g in gold_all]
    skipped = sum(len(a) - len(b) for a, b in zip(gold_all, gold, strict=True))
    pred = torch_spans(model, tokenizer, texts, info["tags"],
                       max_length=int(info["max_length"]), stride=info.get("stride"),
                       alignment=info.get("alignment", "first"), batch_size=batch_size)
    metrics = entity_metrics(texts, gold, [[s for s, _ in p] for p, _u in pred], types)
    metrics.update({"run_id": run_id, "source": source, "skipped": skipped})
    return metrics
