"""The one-pass explainer graph of a bundle: leave-one-word-out at the last layer, checked
against the model itself in torch (the last layer's attention mask hides the word)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from deploy_fixtures import make_classifier

from workbench.core.deploy.explain import explain, has_fast_method, word_spans
from workbench.core.deploy.inference import Predictor
from workbench.core.deploy.onnx_export import export_model

TEXT = "please refund the double charge on my card"


@pytest.fixture(scope="module")
def fp32_bundle(tmp_path_factory, tiny_base_model):
    import torch

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("explainer")
    model_dir = make_classifier(tiny_base_model, root / "model")
    report = export_model(model_dir, root / "bundle", quantize=False)
    return model_dir, report.bundle_dir


def _torch_last_layer_drop(model_dir, predictor, text):
    """Reference: the model in torch with each word hidden from the LAST layer only (a
    pre-hook replaces that layer's attention mask), drop of the predicted label's
    probability, calibrated like the bundle."""
    import torch
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(
        str(model_dir), attn_implementation="eager").eval()
    enc = predictor.tokenizer.encode(text)
    n = len(enc.ids)
    inputs = {"input_ids": torch.tensor([enc.ids]), "attention_mask": torch.tensor([enc.attention_mask]),
              "token_type_ids": torch.tensor([enc.type_ids])}
    hidden = {"positions": []}

    def hide(_module, args, kwargs):
        mask = torch.zeros((1, 1, n, n))
        mask[..., hidden["positions"]] = torch.finfo(torch.float32).min
        return (args[0], mask, *args[2:]), kwargs

    last = model.bert.encoder.layer[-1]
    handle = last.register_forward_pre_hook(hide, with_kwargs=True)
    try:
        rows = []
        for positions in [[], *[p for _s, _e, p in word_spans(enc)]]:
            hidden["positions"] = positions
            with torch.no_grad():
                rows.append(model(**inputs).logits[0].numpy())
    finally:
        handle.remove()
    probs = predictor.probabilities(np.asarray(rows))
    j = int(np.argmax(probs[0]))
    return j, probs[0, j] - probs[1:, j]


def test_fast_explanation_is_leave_one_word_out_at_the_last_layer(fp32_bundle):
    model_dir, bundle_dir = fp32_bundle
    config = json.loads((bundle_dir / "bundle.json").read_text())
    assert config["explainer_file"] == "explainer.onnx"
    assert (bundle_dir / "explainer.onnx").is_file()
    predictor = Predictor.load(bundle_dir, threads=1)
    assert has_fast_method(predictor)
    label, fast = explain(predictor, TEXT)
    j, reference = _torch_last_layer_drop(model_dir, predictor, TEXT)
    assert label == predictor.labels[j]
    assert [TEXT[e["start"]:e["end"]] for e in fast] == TEXT.split()
    weights = np.array([e["weight"] for e in fast])
    np.testing.assert_allclose(weights, reference, atol=1e-5)
    assert np.abs(weights).max() > 1e-4  # the words do matter to the tiny model
    # The thorough method (full occlusion) is another answer, not the same numbers.
    _label, thorough = explain(predictor, TEXT, method="thorough")
    assert [(e["start"], e["end"]) for e in thorough] == [(e["start"], e["end"]) for e in fast]
    assert not np.allclose([e["weight"] for e in thorough], weights, atol=1e-5)
    with pytest.raises(ValueError, match="thorough"):
        explain(predictor, TEXT, method="gradients")


def test_a_bundle_without_explainer_explains_by_occlusion(fp32_bundle, tmp_path):
    import shutil

    _model_dir, bundle_dir = fp32_bundle
    copied = tmp_path / "old-bundle"
    shutil.copytree(bundle_dir, copied)
    (copied / "explainer.onnx").unlink()
    config = json.loads((copied / "bundle.json").read_text())
    config.pop("explainer_file")  # as a bundle exported before explainers existed
    (copied / "bundle.json").write_text(json.dumps(config))
    old = Predictor.load(copied, threads=1)
    assert not has_fast_method(old)
    assert explain(old, TEXT) == explain(Predictor.load(bundle_dir, threads=1), TEXT, method="thorough")


def test_mean_pooled_explainer_removes_each_word_from_the_mean(tiny_base_model):
    import torch
    from transformers import AutoModel, AutoTokenizer

    from workbench.core.deploy.explainer_export import explainer_module
    from workbench.core.training.methods.modules import EncoderHead

    torch.manual_seed(0)
    model = EncoderHead(AutoModel.from_pretrained(str(tiny_base_model), attn_implementation="eager"), 3).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_base_model))
    enc = tokenizer([TEXT], return_tensors="pt")
    n = enc["input_ids"].shape[1]
    keep = torch.ones((3, n))
    keep[1, 2] = 0.0
    keep[2, [3, 4]] = 0.0
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with explainer_module(model, names) as module, torch.no_grad():
        logits = module(*(enc[k] for k in names), keep)
        full = model(**{k: enc[k] for k in names}).logits
        hidden = model.encoder(**{k: enc[k] for k in names}).last_hidden_state[0]
    assert torch.allclose(logits[0], full[0], atol=1e-5)
    for row in (1, 2):
        kept = hidden[keep[row].bool()].mean(dim=0)
        expected = model.head(torch.nn.functional.normalize(kept, dim=-1))
        assert torch.allclose(logits[row], expected, atol=1e-5)
