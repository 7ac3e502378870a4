"""LoRA: parameter-efficient fine-tuning of a sequence classifier with peft.

Small low-rank matrices ("adapters") are added beside chosen weight matrices of the
encoder (query and value by default); the base weights stay fixed, and the classifier
head (and the pooler, where the model has one) is trained in full. Only the adapters and
the head need gradients and optimizer state, and only they are saved per run
(:mod:`.lora_folder`). Before export the adapters are merged into the base weights
(:func:`merge`), so the exported model is a plain transformers classifier.

The same helpers serve token classifiers (entity models, :mod:`workbench.core.spans`):
:func:`wrap` picks peft's task from the model's head (:func:`head_kind`), and the
token-classification head is trained in full like the sequence classifier's.

Public functions (also for code that exchanges only adapter tensors, e.g. between
machines): :func:`wrap`, :func:`head_kind`, :func:`is_wrapped`, :func:`adapter_state`,
:func:`load_adapter_state`, :func:`merge`, :func:`trainable_counts`, :func:`lora_settings`;
the training loop's hooks: :func:`wanted`, :func:`prepare`, :func:`snapshot_state`,
:func:`restore_state`; ``auto``'s rule: :func:`prefer_lora`.

peft is an optional dependency (``pip install "workbench[lora]"``); :func:`require_peft`
names it in one line when it is missing.
"""
from __future__ import annotations

from typing import Any

from workbench.core.errors import WorkbenchError
from workbench.core.training.config import LORA_TARGETS

__all__ = [
    "PEFT_MISSING", "TARGET_CHOICES", "require_peft", "peft_available", "target_modules", "head_modules",
    "lora_settings", "head_kind", "wrap", "is_wrapped", "adapter_state", "load_adapter_state", "merge",
    "trainable_counts", "wanted", "prepare", "snapshot_state", "restore_state",
    "auto_learning_rate", "prefer_lora", "summary", "LORA_SIZE_CLASSES",
]

PEFT_MISSING = ('LoRA training needs the peft package, which is not installed: '
                'pip install "workbench[lora]" (or pip install peft).')
#: Where adapters go: the attention's query and value projections (the LoRA paper's
#: choice), all attention projections, or every linear layer of the encoder.
TARGET_CHOICES = LORA_TARGETS
#: Base models of these sizes (see ``BaseModelInfo.size_class``) are trained with LoRA
#: when ``auto`` decides to fine-tune.
LORA_SIZE_CLASSES = ("base", "large")

# Module-name suffixes per model family: (query+value, other attention, feed-forward).
_BERT = (["query", "value"], ["key", "attention.output.dense"], ["intermediate.dense", "output.dense"])
_TARGETS: dict[str, tuple[list[str], list[str], list[str]]] = {
    "bert": _BERT, "roberta": _BERT, "xlm-roberta": _BERT, "camembert": _BERT,
    "electra": _BERT, "ernie": _BERT,
    "albert": (["query", "value"], ["key", "attention.dense"], ["ffn", "ffn_output"]),
    "distilbert": (["q_lin", "v_lin"], ["k_lin", "out_lin"], ["lin1", "lin2"]),
    "deberta-v2": (["query_proj", "value_proj"], ["key_proj", "attention.output.dense"],
                   ["intermediate.dense", "output.dense"]),
    "deberta": (["in_proj"], ["attention.output.dense"], ["intermediate.dense", "output.dense"]),
    "mpnet": (["q", "v"], ["k", "o"], ["intermediate.dense", "output.dense"]),
}
# Trained in full: the head (and what feeds it besides the encoder).
_HEADS = ("classifier", "pre_classifier", "pooler")


def require_peft() -> Any:
    """The ``peft`` module, or :class:`WorkbenchError` with :data:`PEFT_MISSING`."""
    try:
        import peft
    except ImportError:
        raise WorkbenchError(PEFT_MISSING) from None
    return peft


def peft_available() -> bool:
    """Whether peft can be imported (imports it: seconds, once)."""
    try:
        require_peft()
    except WorkbenchError:
        return False
    return True


def target_modules(model_type: str, targets: str = "query-value") -> list[str]:
    """Module-name suffixes that get adapters for a model family and a target choice."""
    if targets not in TARGET_CHOICES:
        raise WorkbenchError(f"LoRA targets must be one of {', '.join(TARGET_CHOICES)}, not {targets!r}.")
    family = _TARGETS.get(model_type)
    if family is None:
        raise WorkbenchError(f"LoRA is not available for model type {model_type!r} "
                             f"(supported: {', '.join(sorted(_TARGETS))}).")
    qv, attention, ffn = family
    return list(qv) + (list(attention) if targets != "query-value" else []) + (
        list(ffn) if targets == "all-linear" else [])


def head_modules(model: Any) -> list[str]:
    """Names of the classifier's head modules present in ``model`` (trained in full)."""
    names = {name.rsplit(".", 1)[-1] for name, _m in model.named_modules()}
    base = getattr(model, "base_model", None)
    heads = [h for h in _HEADS if h in names]
    if "pooler" in heads and getattr(base, "pooler", None) is None:
        heads.remove("pooler")
    return heads


def lora_settings(model: Any, *, rank: int = 8, alpha: int = 16, dropout: float = 0.1,
                  targets: str = "query-value", first_layer: int = 0) -> dict[str, Any]:
    """The adapter settings for ``model`` as a JSON-able dict (the arguments of peft's
    ``LoraConfig``); adapters go into encoder layers ``first_layer`` and up."""
    cfg = model.config
    n_layers = int(getattr(cfg, "num_hidden_layers", 0) or getattr(cfg, "n_layers", 0) or 0)
    settings: dict[str, Any] = {
        "r": int(rank), "lora_alpha": int(alpha), "lora_dropout": float(dropout),
        "target_modules": target_modules(cfg.model_type, targets),
        "modules_to_save": head_modules(model), "bias": "none",
    }
    if 0 < first_layer < n_layers:
        settings["layers_to_transform"] = list(range(first_layer, n_layers))
    return settings


def head_kind(model: Any) -> str:
    """``"token"`` for a token classifier (``...ForTokenClassification``: one prediction
    per token), ``"sequence"`` for a sequence classifier (one per text)."""
    base = model.get_base_model() if is_wrapped(model) else model
    return "token" if type(base).__name__.endswith("ForTokenClassification") else "sequence"


def wrap(model: Any, settings: dict[str, Any], *, inference: bool = False) -> Any:
    """``model`` (a transformers sequence or token classifier) with LoRA adapters: a peft
    model whose only trainable parameters are the adapters and the head."""
    import warnings

    peft = require_peft()
    task = peft.TaskType.TOKEN_CLS if head_kind(model) == "token" else peft.TaskType.SEQ_CLS
    config = peft.LoraConfig(task_type=task, inference_mode=inference, **settings)
    with warnings.catch_warnings():  # peft asks transformers a deprecated question; not ours
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing", category=FutureWarning)
        return peft.get_peft_model(model, config)


def is_wrapped(model: Any) -> bool:
    """True for a model made by :func:`wrap` (a peft model). Never imports peft (seconds):
    a model can only be a peft model once peft is loaded."""
    import sys

    peft = sys.modules.get("peft")
    return peft is not None and isinstance(model, peft.PeftModel)


def adapter_state(model: Any) -> dict[str, Any]:
    """The adapter and head tensors of a wrapped model (CPU copies), nothing of the base:
    what a run saves, and what needs exchanging to share a LoRA-trained model."""
    peft = require_peft()
    state = peft.get_peft_model_state_dict(model)
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in state.items()}


def load_adapter_state(model: Any, state: dict[str, Any]) -> None:
    """Put adapter/head tensors (from :func:`adapter_state`) into a wrapped model; the
    names and shapes must match exactly (:class:`WorkbenchError` otherwise)."""
    peft = require_peft()
    expected = peft.get_peft_model_state_dict(model)
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        raise WorkbenchError(f"The adapter tensors do not fit this model: {len(missing)} missing, "
                             f"{len(extra)} unexpected (e.g. {(missing + extra)[0]}).")
    wrong = [k for k, v in state.items() if tuple(v.shape) != tuple(expected[k].shape)]
    if wrong:
        raise WorkbenchError(f"The adapter tensor {wrong[0]} has shape {tuple(state[wrong[0]].shape)}, "
                             f"this model needs {tuple(expected[wrong[0]].shape)}.")
    peft.set_peft_model_state_dict(model, state)


def merge(model: Any) -> Any:
    """The plain transformers classifier (sequence or token) with the adapters added into its weights (and
    the trained head in place); exports and predicts like a fine-tuned model."""
    return model.merge_and_unload()


def trainable_counts(model: Any) -> tuple[int, int]:
    """(trainable parameters, all parameters) of a model."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------- training-loop hooks
def wanted(job: Any) -> bool:
    """Is this run trained with LoRA (chosen in the settings, or by ``auto``)?"""
    info = getattr(job, "method_info", None) or {}
    return job.config.method == "lora" or info.get("chosen") == "lora"


def auto_learning_rate(size_class: str) -> float:
    """Adapters start at zero and need a larger step than full fine-tuning (the LoRA
    paper used 4e-4 to 5e-4 for RoBERTa-base, 3e-4 for large)."""
    return {"small": 1e-3, "base": 5e-4}.get(size_class, 3e-4)


def prepare(job: Any, model: Any) -> tuple[Any, int]:
    """Wrap the run's fresh classifier with adapters from the run's settings; returns
    (wrapped model, encoder layers left without adapters). The ``freeze_layers`` setting
    applies as in fine-tuning: the lower layers get no adapters, so backpropagation stops
    above them."""
    from workbench.core.training.freezing import auto_freeze_layers

    cfg = job.config
    first = auto_freeze_layers(cfg.freeze_layers, job.info.num_layers, job.device.type)
    first = min(first, max(0, job.info.num_layers - 1))  # at least one layer adapts
    if job.info.model_type == "albert":  # one layer shared by all depths: adapt it everywhere
        first = 0
    settings = lora_settings(model, rank=cfg.lora_rank, alpha=cfg.lora_alpha, dropout=cfg.lora_dropout,
                             targets=cfg.lora_targets, first_layer=first)
    wrapped = wrap(model, settings).to(job.device)
    trainable, total = trainable_counts(wrapped)
    job.lora_info = {"settings": settings, "trainable_params": trainable, "all_params": total}
    from workbench.core.training.config import TrainEvent

    job.emit(TrainEvent("prepare", message=(
        f"LoRA: training {trainable:,} of {total:,} parameters ({100 * trainable / max(1, total):.1f} %): "
        f"rank-{cfg.lora_rank} adapters on {', '.join(settings['target_modules'])} of layers {first + 1}-"
        f"{job.info.num_layers}, and the head ({', '.join(settings['modules_to_save'])})")))
    return wrapped, first


def summary(job: Any) -> str:
    """One plain sentence for the model card: how a LoRA run was trained."""
    info = job.lora_info
    settings = info["settings"]
    share = 100 * info["trainable_params"] / max(1, info["all_params"])
    why = (getattr(job, "method_info", None) or {}).get("reason")
    return (f"Method: LoRA (rank-{settings['r']} adapters on {', '.join(settings['target_modules'])} "
            f"and a fully trained head; {share:.1f} % of the parameters trained"
            + (f"; automatic choice: {why}" if why and job.config.method == "auto" else "")
            + "), merged into the base model's weights for export.")


def snapshot_state(model: Any) -> dict[str, Any]:
    """CPU copy of what the best model needs: adapters and head for a wrapped model
    (the base never changes), every weight otherwise."""
    if is_wrapped(model):
        return adapter_state(model)
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def restore_state(model: Any, state: dict[str, Any]) -> None:
    """Load a :func:`snapshot_state` back into ``model``."""
    if is_wrapped(model):
        load_adapter_state(model, state)
    else:
        model.load_state_dict(state)


def prefer_lora(size_class: str) -> bool:
    """``auto``'s rule, applied when the data calls for fine-tuning: base- and
    large-sized encoders are trained with LoRA. Full fine-tuning of a base model needs
    its weights about four times over (weights, gradients, two optimizer moments: ~1.3 GB
    more for 110 M parameters) and saves every run in full (~440 MB); LoRA trains and
    stores about 1 % of that, and on classification with enough labels it is reported
    close to full fine-tuning (LoRA paper, RoBERTa base/large on GLUE). Small models
    (the bundled MiniLM) stay with full fine-tuning: they fit in memory anyway and
    their upper layers train fastest when the lower half is frozen."""
    return size_class in LORA_SIZE_CLASSES
