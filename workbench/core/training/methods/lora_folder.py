"""The model folder of a LoRA run: adapters and head only, merged on loading.

``config.json`` has ``model_type`` ``workbench-lora`` (transformers' Auto classes refuse
it instead of loading a random model) and names the base model, a fingerprint of its
weight files, the classifier's own config, its head (``"sequence"``, or ``"token"`` for
an entity model; folders without the key are sequence classifiers) and the adapter settings; ``model.safetensors``
holds only the tensors of :func:`.lora.adapter_state`. :func:`load_merged` rebuilds the
classifier from the base model, puts the adapters in and merges them, so evaluation,
export and everything after see a plain transformers classifier.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from workbench.core.errors import ModelError

__all__ = ["LORA_TYPE", "save_adapter_folder", "is_lora_folder", "load_wrapped", "load_merged", "base_fingerprint"]

LORA_TYPE = "workbench-lora"
_EDGE = 1 << 20  # bytes read from each end of a weight file for the fingerprint


def base_fingerprint(folder: Path) -> list[list[Any]]:
    """Names, sizes and a hash of the first and last MiB of the base model's weight
    files: tells whether the adapters are applied to the weights they were trained on
    (cheap even for large models)."""
    out = []
    files = sorted(Path(folder).glob("*.safetensors")) or sorted(Path(folder).glob("*.bin"))
    for path in files:
        size = path.stat().st_size
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            digest.update(fh.read(_EDGE))
            if size > _EDGE:
                fh.seek(max(_EDGE, size - _EDGE))
                digest.update(fh.read(_EDGE))
        out.append([path.name, size, digest.hexdigest()[:16]])
    return out


def save_adapter_folder(model: Any, folder: Path, *, base_model: str, base_path: Path,
                        settings: dict[str, Any]) -> None:
    """Write ``config.json`` and ``model.safetensors`` (adapters + head) of a wrapped
    model into ``folder`` (the caller adds the tokenizer and the run file)."""
    from safetensors.torch import save_file

    from workbench.core.training.methods.lora import adapter_state, head_kind

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(adapter_state(model), str(folder / "model.safetensors"))
    classifier = model.get_base_model().config.to_dict()
    cfg = {
        "model_type": LORA_TYPE, "base_model": base_model, "base_path": str(base_path),
        "base_fingerprint": base_fingerprint(base_path), "classifier": classifier, "lora": settings,
        "head": head_kind(model),
        "num_labels": int(classifier.get("num_labels") or len(classifier.get("id2label") or {})),
        "id2label": classifier.get("id2label"),
        "max_position_embeddings": int(classifier.get("max_position_embeddings", 512)),
    }
    (folder / "config.json").write_text(json.dumps(cfg, indent=2), encoding="utf-8")


def is_lora_folder(folder: Path) -> bool:
    """True for a folder written by :func:`save_adapter_folder`."""
    try:
        cfg = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(cfg, dict) and cfg.get("model_type") == LORA_TYPE


def _base_folder(cfg: dict[str, Any], folder: Path) -> Path:
    from workbench.core.training.models import validate_base_model

    tried = []
    for name in (cfg.get("base_model"), cfg.get("base_path")):
        if not name:
            continue
        try:
            path = validate_base_model(str(name), check_tokenizer=False).path
        except Exception as exc:  # noqa: BLE001 - the next candidate, then one message
            tried.append(f"{name}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
            continue
        if base_fingerprint(path) == cfg.get("base_fingerprint"):
            return path
        tried.append(f"{name}: its weights differ from those the adapters were trained on")
    raise ModelError(f"The LoRA model in {folder} needs its base model, which is not available "
                     f"unchanged ({'; '.join(tried) or 'none recorded'}).")


def load_wrapped(folder: Path, *, inference: bool = True) -> tuple[Any, Any]:
    """(classifier with the folder's adapters, not merged; tokenizer) of a LoRA folder:
    the base model rebuilt from its own folder (checked against the recorded
    fingerprint), wrapped with the saved settings and the saved adapter + head tensors
    put in. ``inference=False`` leaves the adapters trainable (to train on from them)."""
    from safetensors.torch import load_file
    from transformers import (
        AutoConfig,
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
    )
    from transformers.utils import logging as hf_logging

    from workbench.core.training.methods.lora import load_adapter_state, wrap
    from workbench.core.training.methods.modules import load_custom_tokenizer
    from workbench.core.training.models import check_model_folder

    folder = Path(folder)
    cfg = check_model_folder(folder)
    base = _base_folder(cfg, folder)
    inner = dict(cfg["classifier"])
    kind = inner.pop("model_type")
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the head is replaced by the saved one below
    try:
        config = AutoConfig.for_model(kind, **inner)
        config._attn_implementation = "eager"
        auto = AutoModelForTokenClassification if cfg.get("head") == "token" else AutoModelForSequenceClassification
        model = auto.from_pretrained(
            str(base), config=config, trust_remote_code=False, use_safetensors=(base / "model.safetensors").is_file(),
            ignore_mismatched_sizes=True, attn_implementation="eager")
        wrapped = wrap(model, dict(cfg["lora"]), inference=inference)
        load_adapter_state(wrapped, load_file(str(folder / "model.safetensors")))
    except ModelError:
        raise
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"Cannot load the LoRA model in {folder}: {first}") from None
    finally:
        hf_logging.set_verbosity(verbosity)
    return wrapped, load_custom_tokenizer(folder)


def load_merged(folder: Path) -> tuple[Any, Any]:
    """(merged classifier in eval mode with eager attention, tokenizer) of a LoRA folder:
    a plain transformers model (sequence or token classifier, as trained), as evaluation
    and export need."""
    from workbench.core.training.methods.lora import merge

    wrapped, tokenizer = load_wrapped(folder)
    merged = merge(wrapped)
    merged.eval()
    return merged, tokenizer
