"""Shared test setup: offscreen Qt, isolated settings, small helpers."""
from __future__ import annotations

import gc
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Never touch the user's real settings, caches or data folders."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("WORKBENCH_ANNOTATOR", "tester")
    yield


@pytest.fixture(autouse=True)
def _collect_garbage_in_the_gui_thread(request):
    """Widget tests run worker threads; Python's cyclic collector runs in whichever thread
    allocates, and a Qt object freed from a worker thread can crash the process. As the app
    does (pyqtgraph's GarbageCollector in ``gui/app.py``), collect only in this thread:
    before the test, with the automatic collector off during it, and after it."""
    if "qtbot" not in request.fixturenames:
        yield
        return
    gc.collect()
    gc.freeze()  # what lives now is never scanned again: the collections below stay cheap
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect()


@pytest.fixture
def one_torch_thread():
    """Torch on one thread for the test (restored after): steady timings on shared cores."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def project_path(tmp_path):
    return tmp_path / "test.wbproj"


@pytest.fixture(scope="session")
def tiny_base_model(tmp_path_factory):
    """Folder of a tiny random BERT base model (hidden 32, 2 layers) with its tokenizer."""
    from tiny_model import make_tiny_base_model

    return make_tiny_base_model(tmp_path_factory.mktemp("tiny_bert"))
