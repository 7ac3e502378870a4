"""The vocabulary-trimming job: a new run with only the word pieces the project uses."""
from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from workbench.core.compress.common import (
    CompressEvent,
    CompressResult,
    check_method_supported,
    load_parent,
    project_texts,
    publish_run,
    staging_folder,
)
from workbench.core.errors import Cancelled, ModelError
from workbench.core.settings import Settings, setting

__all__ = ["TrimConfig", "trim_job", "LOGIT_TOLERANCE"]

#: The trimmed model's logits must equal the original's this closely (they are the same
#: computation on the same embedding rows, so in practice they are bitwise equal).
LOGIT_TOLERANCE = 1e-5


@dataclass
class TrimConfig(Settings):
    """Which run to trim, and how many project texts to compare logits on."""

    SETTINGS_NAME: ClassVar[str] = "trim"

    run: str | int = setting("latest", "The run whose vocabulary to trim: its number, or the newest run that saved a model.")
    check_texts: int = setting(
        512, "Compare the logits of the trimmed and the original model on up to this many project texts "
        "(every text's tokens are compared).", min=1, max=100000, label="Texts compared",
    )


def trim_job(project_path, config: TrimConfig, *, progress: Callable | None = None,
             should_stop: Callable[[], bool] | None = None) -> CompressResult:
    """Trim the vocabulary of run ``config.run`` to the pieces the project's texts use.

    The result is a new run (parent recorded) with the same test predictions. Raises
    :class:`ModelError` if any project text tokenizes differently or the logits differ.
    """
    from workbench.core.compress.vocab_trim import (
        check_same_tokens,
        kept_token_ids,
        remap_tokenizer_json,
        trim_model,
        write_tokenizer_folder,
    )
    from workbench.core.deploy import convert, verify
    from workbench.core.store.project import Project

    def step(n: int, message: str) -> None:
        if should_stop is not None and should_stop():
            raise Cancelled("Vocabulary trimming cancelled; nothing was written.")
        if progress is not None:
            progress(CompressEvent("trim", n, 5, message))

    step(0, "Reading the project's texts")
    parent = load_parent(project_path, config.run)
    texts = project_texts(project_path)
    step(1, "Collecting the word pieces in use")
    model, tokenizer = convert.load_classifier(parent.model_dir)
    check_method_supported(model)
    tok_json = json.loads((parent.model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    keep = kept_token_ids(tok_json, texts)
    new_json = remap_tokenizer_json(tok_json, keep)
    step(2, f"Checking that {len(texts)} texts tokenize the same")
    check_same_tokens(tok_json, new_json, keep, texts)
    max_length = int(parent.info.get("max_length") or 128)
    sample = texts[: config.check_texts]
    before = verify.torch_logits(model, tokenizer, sample, max_length)
    vocab_before = int(model.config.vocab_size)
    step(3, f"Keeping {len(keep)} of {vocab_before} word pieces")
    staging = staging_folder(parent.models_dir)
    try:
        trim_model(model, keep)
        model.save_pretrained(staging, safe_serialization=True)
        write_tokenizer_folder(parent.model_dir, staging, new_json, keep)
        shutil.copy2(parent.model_dir / "workbench_run.json", staging / "workbench_run.json")
        step(4, "Comparing the logits")
        new_model, new_tokenizer = convert.load_classifier(staging)
        after = verify.torch_logits(new_model, new_tokenizer, sample, max_length)
        diff = float(abs(after - before).max()) if len(sample) else 0.0
        if diff > LOGIT_TOLERANCE:
            raise ModelError(f"The trimmed model's logits differ by {diff:.2e}; nothing was written.")
        details = {"vocab_before": vocab_before, "vocab_after": len(keep), "texts_tokenized": len(texts),
                   "logit_texts": len(sample), "logit_max_abs_diff": diff}
        with Project.open(project_path) as project:
            rows = project.db.execute(
                "SELECT record_id, probs, label, confidence FROM predictions WHERE run_id = ?",
                [parent.run_id]).fetchall()
        predictions = [(r[0], json.loads(r[1]), r[2], r[3]) for r in rows]
        step(5, "Saving the run")
        metrics = {**parent.row["metrics"], "compression": details}
        run_config = {"base_model": parent.row["base_model"], "compression": details}
        run_id, folder = publish_run(parent, staging, method="trim", base_model=parent.row["base_model"] or "",
                                     config=run_config, metrics=metrics, predictions=predictions)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return CompressResult(run_id, parent.run_id, "trim", folder, metrics, details)
