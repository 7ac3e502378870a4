"""Base model resolution and validation: clear errors before any training starts."""
from __future__ import annotations

import json
import shutil

import pytest

from workbench.core.errors import ModelError
from workbench.core.training.models import (
    BaseModelInfo,
    bundled_model_path,
    load_classifier,
    resolve_base_model,
    validate_base_model,
)


@pytest.fixture
def model_copy(tmp_path, tiny_base_model):
    folder = tmp_path / "model"
    shutil.copytree(tiny_base_model, folder)
    return folder


def test_bundled_model_is_found_and_valid():
    folder = bundled_model_path()
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    info = validate_base_model("bundled")
    assert info.path == folder and info.model_type == "bert"
    assert info.size_class == "small" and info.max_positions == 512 and info.safetensors


def test_tiny_folder_is_valid(tiny_base_model):
    info = validate_base_model(str(tiny_base_model))
    assert info.model_type == "bert" and info.hidden_size == 32 and info.num_layers == 2


def test_missing_config(model_copy):
    (model_copy / "config.json").unlink()
    with pytest.raises(ModelError, match="config.json is missing"):
        validate_base_model(str(model_copy))


def test_unparseable_config(model_copy):
    (model_copy / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelError, match="config.json cannot be read"):
        validate_base_model(str(model_copy))


def test_unsupported_model_type(model_copy):
    cfg = json.loads((model_copy / "config.json").read_text())
    cfg["model_type"] = "gpt2"
    (model_copy / "config.json").write_text(json.dumps(cfg), encoding="utf-8")
    with pytest.raises(ModelError, match="'gpt2'.*not supported"):
        validate_base_model(str(model_copy))


def test_no_weights(model_copy):
    (model_copy / "model.safetensors").unlink()
    with pytest.raises(ModelError, match="no model weights"):
        validate_base_model(str(model_copy))


def test_broken_tokenizer(model_copy):
    for name in ("tokenizer.json", "vocab.txt"):
        (model_copy / name).unlink(missing_ok=True)
    with pytest.raises(ModelError, match="tokenizer"):
        validate_base_model(str(model_copy))


def test_corrupt_tokenizer_json(model_copy):
    (model_copy / "vocab.txt").unlink(missing_ok=True)
    (model_copy / "tokenizer.json").write_text('{"version": "1.0", "model": 3}', encoding="utf-8")
    with pytest.raises(ModelError, match="tokenizer"):
        validate_base_model(str(model_copy))


def test_missing_folder_and_file(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        resolve_base_model(str(tmp_path / "nowhere"))
    f = tmp_path / "model.bin"
    f.write_bytes(b"x")
    with pytest.raises(ModelError, match="is a file"):
        resolve_base_model(str(f))


def test_hub_id_offline_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="cannot be downloaded.*bundled model or a local model folder"):
        validate_base_model("some-org/some-model")


def test_pickled_weights_load_with_weights_only(model_copy):
    import torch
    from safetensors.torch import load_file

    state = load_file(str(model_copy / "model.safetensors"))
    (model_copy / "model.safetensors").unlink()
    torch.save(state, model_copy / "pytorch_model.bin")
    info = validate_base_model(str(model_copy))
    assert not info.safetensors
    model = load_classifier(info, ["a", "b"], multi_label=False)
    emb = model.base_model.embeddings.word_embeddings.weight
    assert torch.equal(emb, state[next(k for k in state if "word_embeddings" in k)])
    assert model.config.id2label == {0: "a", 1: "b"}


def test_pickle_with_code_is_refused(model_copy):
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("this must not run",))

    (model_copy / "model.safetensors").unlink()
    with open(model_copy / "pytorch_model.bin", "wb") as fh:
        pickle.dump({"x": Evil()}, fh, protocol=2)
    # validate_base_model refuses it first (below); loading stays weights_only anyway.
    info = BaseModelInfo(name="evil", path=model_copy, model_type="bert", hidden_size=32,
                         num_layers=2, max_positions=128, safetensors=False)
    with pytest.raises(ModelError, match="cannot be loaded"):
        load_classifier(info, ["a", "b"], multi_label=False)


# ---------------------------------------------------------------- issue 11: hostile folders
def _one_line(exc_info) -> str:
    msg = str(exc_info.value)
    assert "\n" not in msg, msg
    return msg


def test_weight_index_naming_a_file_outside_is_refused(model_copy, tmp_path):
    outside = tmp_path / "outside.safetensors"
    (model_copy / "model.safetensors").rename(outside)
    index = {"metadata": {}, "weight_map": {"embeddings.word_embeddings.weight": "../outside.safetensors"}}
    (model_copy / "model.safetensors.index.json").write_text(json.dumps(index), encoding="utf-8")
    with pytest.raises(ModelError) as exc:
        validate_base_model(str(model_copy))
    msg = _one_line(exc)
    assert "../outside.safetensors" in msg and str(model_copy) in msg and "outside" in msg


def test_symlink_pointing_outside_is_refused(model_copy, tmp_path):
    secret = tmp_path / "secret.json"
    (model_copy / "config.json").rename(secret)
    (model_copy / "config.json").symlink_to(secret)
    with pytest.raises(ModelError) as exc:
        validate_base_model(str(model_copy))
    msg = _one_line(exc)
    assert "config.json" in msg and str(model_copy) in msg


def test_symlink_inside_the_folder_is_fine(model_copy):
    (model_copy / "model.safetensors").rename(model_copy / "weights.bin.real")
    (model_copy / "model.safetensors").symlink_to("weights.bin.real")
    assert validate_base_model(str(model_copy)).safetensors


def test_pickle_with_code_is_refused_by_validation(model_copy, capfd):
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("this must not run",))

    (model_copy / "model.safetensors").unlink()
    with open(model_copy / "pytorch_model.bin", "wb") as fh:
        pickle.dump({"x": Evil()}, fh, protocol=2)
    with pytest.raises(ModelError) as exc:
        validate_base_model(str(model_copy))
    msg = _one_line(exc)
    assert "pytorch_model.bin" in msg and "safetensors" in msg
    assert "this must not run" not in capfd.readouterr().out


def test_truncated_safetensors_is_refused(model_copy):
    data = (model_copy / "model.safetensors").read_bytes()
    (model_copy / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError) as exc:
        validate_base_model(str(model_copy))
    assert "model.safetensors" in _one_line(exc)


def test_config_json_list_and_huge_config(model_copy):
    (model_copy / "config.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ModelError, match="not a JSON object"):
        validate_base_model(str(model_copy))
    (model_copy / "config.json").write_text('{"model_type": "bert", "pad": "' + "x" * (11 << 20) + '"}')
    with pytest.raises(ModelError) as exc:
        validate_base_model(str(model_copy))
    assert "too large" in _one_line(exc)


def _hub_attempt(offline: bool):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update(HF_HUB_ETAG_TIMEOUT="1", HF_HUB_DOWNLOAD_TIMEOUT="1")
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    code = (
        "from workbench.core.training.models import validate_base_model\n"
        "from workbench.core.errors import ModelError\n"
        "try:\n    validate_base_model('distilbert-base-uncased')\n"
        "except ModelError as exc:\n    print(exc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    return proc.stdout.strip()


def test_hub_id_without_network_says_no_connection():
    msg = _hub_attempt(offline=False)
    assert "no network connection" in msg, msg
    assert "There is no model" not in msg


def test_hub_id_with_hub_offline_says_no_connection():
    msg = _hub_attempt(offline=True)
    assert "HF_HUB_OFFLINE" in msg and "There is no model" not in msg, msg


def test_hub_cache_snapshot_links_into_blobs_are_fine(tiny_base_model, tmp_path, monkeypatch):
    # A downloaded model's snapshot files are links into the cache's blobs folder: allowed.
    import huggingface_hub.constants as hf_constants

    repo = tmp_path / "hub" / "models--some-org--tiny"
    snapshot = repo / "snapshots" / ("a" * 40)
    (repo / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    for i, src in enumerate(sorted(p for p in tiny_base_model.iterdir() if p.is_file())):
        blob = repo / "blobs" / f"blob{i}"
        shutil.copyfile(src, blob)
        (snapshot / src.name).symlink_to(f"../../blobs/blob{i}")
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    info = validate_base_model("some-org/tiny")
    assert info.path == snapshot and info.safetensors
