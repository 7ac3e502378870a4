"""Sentence-encoder embeddings of record texts for the assistance features (label-error
review, the "diverse" queue), cached per text so reruns are fast.

The encoder is the bundled base model, frozen, mean-pooled and L2-normalised: exactly the
features of the ``linear`` training method
(:func:`workbench.core.training.methods.linear.embed_texts`). It is loaded once per process.
Vectors are cached per text (SHA-1 of the text) in memory and, when a folder is given, in
one ``.npz`` file per encoder beside the project (``<project>.models/embedding-cache/``),
written atomically.

When the encoder cannot be loaded (missing package, damaged files, no torch) the callers
fall back to TF-IDF features: :func:`text_embeddings` returns ``None`` and
:func:`encoder_problem` says why.
"""
from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FEATURE_CHOICES", "EMBEDDINGS", "TFIDF", "text_embeddings", "encoder_problem",
    "cache_folder", "feature_words", "MEMORY_LIMIT", "missing_count",
]

log = logging.getLogger(__name__)

EMBEDDINGS = "embeddings"
TFIDF = "tfidf"
#: ``auto``: the sentence encoder when it can be loaded, TF-IDF otherwise.
FEATURE_CHOICES = ("auto", EMBEDDINGS, TFIDF)
#: Texts kept in the in-memory cache of one process (384 floats each: ~75 MB).
MEMORY_LIMIT = 50_000
MAX_LENGTH = 128

_lock = threading.Lock()
_encoders: dict[str, tuple[Any, Any, str]] = {}
_problems: dict[str, str] = {}
_memory: dict[tuple[str, str], np.ndarray] = {}


def feature_words(kind: str) -> str:
    """Plain words for the features used, for reasons and progress messages."""
    return "sentence-encoder embeddings" if kind == EMBEDDINGS else "TF-IDF word features"


def cache_folder(models_dir: Path) -> Path:
    """Where a project's embedding cache lives (beside its trained models)."""
    return Path(models_dir) / "embedding-cache"


def _load(base_model: str) -> tuple[Any, Any, str] | None:
    """(model, tokenizer, tag) of the frozen encoder, or None (reason in ``_problems``)."""
    with _lock:
        if base_model in _encoders:
            return _encoders[base_model]
        if base_model in _problems:
            return None
        try:
            import torch
            from transformers import AutoModel
            from transformers.utils import logging as hf_logging

            from workbench.core.training.methods.modules import EncoderHead
            from workbench.core.training.models import load_tokenizer, validate_base_model

            info = validate_base_model(base_model)
            tok = load_tokenizer(info.path)
            verbosity = hf_logging.get_verbosity()
            hf_logging.set_verbosity_error()
            try:
                with torch.inference_mode():
                    enc = AutoModel.from_pretrained(str(info.path), use_safetensors=True,
                                                    trust_remote_code=False)
            finally:
                hf_logging.set_verbosity(verbosity)
            model = EncoderHead(enc, 2)
            model.eval()
            tag = _tag_of(info.path)
        except Exception as exc:  # optional: TF-IDF features take over
            _problems[base_model] = f"{type(exc).__name__}: {exc}"
            log.warning("Sentence encoder %r unavailable (%s); using TF-IDF features",
                        base_model, _problems[base_model])
            return None
        _encoders[base_model] = (model, tok, tag)
        return _encoders[base_model]


def encoder_problem(base_model: str = "bundled") -> str | None:
    """Why the encoder could not be loaded (None: loaded or not tried)."""
    return _problems.get(base_model)


def _tag_of(path: Any) -> str:
    return hashlib.sha1(str(path).encode()).hexdigest()[:12]


def missing_count(texts: Sequence[str], *, folder: Path | None = None,
                  base_model: str = "bundled") -> int:
    """How many distinct ``texts`` :func:`text_embeddings` would have to encode (cheap:
    no encoder is loaded; 0 when the encoder is known to be unavailable)."""
    if base_model in _problems:
        return 0
    if base_model in _encoders:
        tag = _encoders[base_model][2]
    else:
        try:
            from workbench.core.training.models import validate_base_model

            tag = _tag_of(validate_base_model(base_model, check_tokenizer=False).path)
        except Exception:  # text_embeddings will say why
            return 0
    keys = {_key(t) for t in texts} - {k for (t, k) in list(_memory) if t == tag}
    if keys and folder is not None and (Path(folder) / f"{tag}.npz").is_file():
        keys -= set(_read_disk(Path(folder) / f"{tag}.npz"))
    return len(keys)


def _key(text: str) -> str:
    return hashlib.sha1((text or "").encode("utf-8")).hexdigest()


def _read_disk(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            keys, vecs = data["keys"], data["vectors"]
    except (OSError, ValueError, KeyError):
        return {}
    return {str(k): vecs[i] for i, k in enumerate(keys)}


def _write_disk(path: Path, table: dict[str, np.ndarray]) -> None:
    if not table:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp.npz")
    keys = np.array(list(table), dtype="U40")
    vecs = np.stack(list(table.values())).astype(np.float32)
    try:
        np.savez(tmp, keys=keys, vectors=vecs)
        os.replace(tmp, path)
    except OSError as exc:  # a read-only folder: the cache is only an optimisation
        log.info("Embedding cache not written (%s)", exc)
        tmp.unlink(missing_ok=True)


def text_embeddings(
    texts: Sequence[str],
    *,
    folder: Path | None = None,
    base_model: str = "bundled",
    should_stop: Callable[[], bool] | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> np.ndarray | None:
    """(len(texts), dim) normalised embeddings, or None when the encoder is unavailable.

    Only texts missing from the caches are encoded; ``on_batch(done, total)`` counts those.
    Raises :class:`~workbench.core.errors.Cancelled` when ``should_stop()`` turns true.
    """
    loaded = _load(base_model)
    if loaded is None:
        return None
    model, tok, tag = loaded
    keys = [_key(t) for t in texts]
    disk_path = None if folder is None else Path(folder) / f"{tag}.npz"
    found: dict[str, np.ndarray] = {}
    for k in set(keys):
        vec = _memory.get((tag, k))
        if vec is not None:
            found[k] = vec
    disk: dict[str, np.ndarray] = {}
    if disk_path is not None and len(found) < len(set(keys)) and disk_path.is_file():
        disk = _read_disk(disk_path)
        found.update({k: disk[k] for k in set(keys) if k in disk and k not in found})
    missing = sorted({k: i for i, k in enumerate(keys) if k not in found}.items(), key=lambda x: x[1])
    if missing:
        from workbench.core.training.methods.linear import embed_texts

        todo = [texts[i] for _k, i in missing]
        done = [0]

        def tick(n: int) -> None:
            done[0] += n
            if on_batch is not None:
                on_batch(done[0], len(todo))

        vecs = embed_texts(model, tok, todo, max_length=MAX_LENGTH, should_stop=should_stop,
                           on_batch=tick)
        for (k, _i), vec in zip(missing, vecs, strict=True):
            found[k] = vec
        if disk_path is not None:
            disk = disk or (_read_disk(disk_path) if disk_path.is_file() else {})
            disk.update({k: found[k] for k, _i in missing})
            _write_disk(disk_path, disk)
    if len(_memory) + len(found) > MEMORY_LIMIT:
        _memory.clear()
    for k, vec in found.items():
        _memory[(tag, k)] = vec
    if not keys:
        return np.zeros((0, int(model.config.hidden_size)), np.float32)
    return np.stack([found[k] for k in keys]).astype(np.float32)
