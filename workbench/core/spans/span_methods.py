"""Which training method an entity (span) run uses.

An entity model predicts a tag for every token, so only the methods that train the encoder
token by token apply: ``finetune`` (every weight of the model) and ``lora`` (small adapters
plus the fully trained token-classification head, :mod:`workbench.core.training.methods.lora`;
only adapters and head are saved, merged into the base model for export). ``setfit`` and
``linear`` classify whole texts; on a span project they are refused in one line before
anything is written.

``auto`` has no few-label comparison to make here (TF-IDF, embeddings and SetFit have no
token-level form), so it goes straight to the rule classification applies once it has
decided to fine-tune (:func:`~workbench.core.training.methods.lora.prefer_lora`): LoRA
for base- and large-sized models when peft is installed, full fine-tuning otherwise (the
bundled MiniLM included, so ``auto`` trains it as before).
"""
from __future__ import annotations

from typing import Any

from workbench.core.errors import WorkbenchError

__all__ = ["SPAN_METHODS", "check_span_method", "choose_span_method", "span_method_sentence"]

#: The methods an entity model can be trained with.
SPAN_METHODS = ("auto", "finetune", "lora")


def check_span_method(method: str) -> None:
    """Refuse a method entity models cannot use (one line); for ``lora``, a missing peft."""
    if method not in SPAN_METHODS:
        raise WorkbenchError(
            f"The method '{method}' classifies whole texts and cannot train an entity model; "
            "for a span project use 'finetune', 'lora' or 'auto' (fine-tuning, with LoRA for "
            "base- and large-sized models).")
    if method == "lora":
        from workbench.core.training.methods.lora import require_peft

        require_peft()


def choose_span_method(method: str, size_class: str) -> dict[str, Any]:
    """The run's method record (``requested``, ``chosen``, ``reason``) for ``method`` (one
    of :data:`SPAN_METHODS`) and a base model of size ``size_class``."""
    if method != "auto":
        return {"requested": method, "chosen": method, "reason": "chosen in the settings"}
    from workbench.core.training.methods.lora import peft_available, prefer_lora

    if not prefer_lora(size_class):
        return {"requested": "auto", "chosen": "finetune",
                "reason": f"a {size_class}-sized model is fine-tuned in full"}
    if not peft_available():
        return {"requested": "auto", "chosen": "finetune",
                "reason": f"full fine-tuning because peft (LoRA, used for a {size_class}-sized "
                          "model) is not installed"}
    return {"requested": "auto", "chosen": "lora", "reason": f"LoRA for a {size_class}-sized model"}


def span_method_sentence(info: dict[str, Any]) -> str:
    """One plain sentence for a fully fine-tuned entity model (LoRA runs use
    :func:`~workbench.core.training.methods.lora.summary`)."""
    if info.get("requested") == "auto":
        return f"Automatic choice: full fine-tuning of the entity model ({info.get('reason', '')})."
    return "Method: full fine-tuning of the entity model (every weight trained)."
