"""Importing torch and transformers once, from any thread, without freezing the window.

transformers' lazy imports are not safe to run from two threads at once (one of them can
fail with "cannot import name 'AutoTokenizer'"), and ``import torch`` holds the interpreter
lock while it maps libtorch. Every code path that trains, exports or predicts with torch
calls :func:`preload_training_libraries` first: the first call imports, the others wait.
"""
from __future__ import annotations

import logging
import sys
import threading

__all__ = ["preload_training_libraries", "training_libraries_loaded"]

log = logging.getLogger(__name__)

#: Modules the trainer imports on its first run; the bundled model is a BERT.
_PRELOADED = False
_PRELOAD_LOCK = threading.Lock()


def preload_training_libraries() -> None:
    """Import torch, transformers and the trainer's modules once (any thread; thread-safe).

    The app trains and exports in a child process (:func:`workbench.core.jobs.run_in_process`),
    so its window never imports these; in any other process that trains in a thread, call
    it at start-up behind a loading state. Importing these inside a training run holds the interpreter lock
    long enough to freeze the window; transformers' lazy imports are also not safe to
    run from two threads at once, so every caller goes through one lock.
    """
    global _PRELOADED
    with _PRELOAD_LOCK:
        if _PRELOADED:
            return
        if "torch" not in sys.modules:
            _load_native_libraries()
        try:
            _import_training_modules()
        except ImportError:  # optional: imported (or reported) when really needed
            log.debug("could not preload the training libraries", exc_info=True)
        transformers = sys.modules.get("transformers")
        for attr in ("AutoConfig", "AutoTokenizer", "AutoModelForSequenceClassification"):
            getattr(transformers, attr, None)  # resolved lazily on first access
        _PRELOADED = True


def _import_training_modules() -> None:
    """The modules a training run or an export needs, imported in one place."""
    import safetensors.torch  # noqa: F401
    import sklearn.metrics  # noqa: F401
    import torch  # noqa: F401
    import transformers  # noqa: F401
    import transformers.models.auto.modeling_auto  # noqa: F401
    import transformers.models.auto.tokenization_auto  # noqa: F401
    import transformers.models.bert.modeling_bert  # noqa: F401
    import transformers.models.bert.tokenization_bert  # noqa: F401

    from workbench.core.training import batching, device, evaluate, loop, models  # noqa: F401


def _load_native_libraries() -> None:
    """Map torch's big shared libraries into the process without holding the interpreter lock.

    ``import torch`` loads libtorch_cpu (hundreds of MB) while holding the lock, which
    freezes the window for that long. Calling the C library's ``dlopen`` through ctypes
    releases the lock during the call; the later import then finds the libraries loaded.
    Best effort: where this is not possible the import simply does the loading.
    """
    import ctypes
    import importlib.util
    import os

    spec = importlib.util.find_spec("torch")
    if spec is None or spec.origin is None or not hasattr(os, "RTLD_LOCAL"):
        return
    lib = os.path.join(os.path.dirname(spec.origin), "lib")
    try:
        dlopen = ctypes.CDLL(None).dlopen
    except (OSError, AttributeError):
        return
    dlopen.restype = ctypes.c_void_p
    dlopen.argtypes = [ctypes.c_char_p, ctypes.c_int]
    for name in ("libc10.so", "libtorch_cpu.so", "libtorch.so", "libtorch_python.so"):
        path = os.path.join(lib, name)
        if os.path.isfile(path) and not dlopen(path.encode(), os.RTLD_NOW | os.RTLD_LOCAL):
            log.debug("could not preload %s", path)
            return


def training_libraries_loaded() -> bool:
    """Whether :func:`preload_training_libraries` has finished in this process."""
    return _PRELOADED
