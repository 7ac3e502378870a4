"""Freezing the lower layers: automatic choice, structure detection, and a real run."""
from __future__ import annotations

import pytest
import torch

from workbench.core.errors import WorkbenchError
from workbench.core.store.project import Project
from workbench.core.training import TrainConfig, data_summary, list_runs, train_project
from workbench.core.training.freezing import (
    auto_freeze_layers,
    encoder_parts,
    freeze_lower_layers,
)


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    yield


@pytest.fixture(scope="module")
def four_layer_model(tmp_path_factory):
    from tiny_model import make_tiny_base_model

    return make_tiny_base_model(tmp_path_factory.mktemp("tiny4"), layers=4)


def test_automatic_freezing_depends_on_device_and_depth():
    assert auto_freeze_layers(-1, 6, "cpu") == 3
    assert auto_freeze_layers(-1, 12, "cpu") == 6
    assert auto_freeze_layers(-1, 5, "cpu") == 2
    assert auto_freeze_layers(-1, 3, "cpu") == 0  # too shallow
    assert auto_freeze_layers(-1, 6, "cuda") == 0
    assert auto_freeze_layers(-1, 6, "mps") == 0
    assert auto_freeze_layers(0, 6, "cpu") == 0
    assert auto_freeze_layers(2, 6, "cuda") == 2
    assert auto_freeze_layers(40, 6, "cpu") == 6
    assert TrainConfig(method="finetune").freeze_layers == -1
    assert "Lower layers kept fixed" in TrainConfig.help("freeze_layers")
    with pytest.raises(WorkbenchError, match="freeze layers"):
        TrainConfig(method="finetune", freeze_layers=-2)
    assert TrainConfig.from_dict({"freeze_layers": "2"}).freeze_layers == 2


def test_freezing_finds_bert_and_distilbert_layers_and_skips_unknown_models():
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        DistilBertConfig,
        DistilBertForSequenceClassification,
    )

    bert = BertForSequenceClassification(BertConfig(
        vocab_size=50, hidden_size=16, num_hidden_layers=3, num_attention_heads=2,
        intermediate_size=32, num_labels=2))
    assert freeze_lower_layers(bert, 2) == 2
    frozen = {n for n, p in bert.named_parameters() if not p.requires_grad}
    assert any(n.startswith("bert.embeddings.") for n in frozen)
    assert any(n.startswith("bert.encoder.layer.1.") for n in frozen)
    assert not any(n.startswith("bert.encoder.layer.2.") for n in frozen)
    assert not any(n.startswith("classifier.") for n in frozen)

    distil = DistilBertForSequenceClassification(DistilBertConfig(
        vocab_size=50, dim=16, n_layers=3, n_heads=2, hidden_dim=32, num_labels=2))
    embeddings, layers = encoder_parts(distil)
    assert len(layers) == 3
    assert freeze_lower_layers(distil, 5) == 3  # capped at the number of layers
    assert not next(embeddings.parameters()).requires_grad
    assert all(p.requires_grad for p in distil.classifier.parameters())

    plain = torch.nn.Linear(4, 2)
    assert encoder_parts(plain) is None
    assert freeze_lower_layers(plain, 2) == 0
    assert all(p.requires_grad for p in plain.parameters())


def test_run_with_automatic_freezing_trains_upper_layers_and_saves_every_weight(
    tmp_path, four_layer_model
):
    from test_training import make_project
    from transformers import AutoModelForSequenceClassification, BertModel

    path = make_project(tmp_path / "p.wbproj")
    cfg = TrainConfig(method="finetune", base_model=str(four_layer_model), threads=1, epochs=1, batch_size=8,
                      device="cpu", learning_rate=1e-3)
    result = train_project(path, cfg)
    assert result.status == "completed"
    with Project.open(path) as project:
        run = list_runs(project)[0]
    assert run["config"]["freeze_layers"] == -1
    assert run["config"]["effective"]["freeze_layers"] == 2  # half of 4 layers, on CPU

    trained, info = AutoModelForSequenceClassification.from_pretrained(
        result.model_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    base = BertModel.from_pretrained(four_layer_model).state_dict()
    after = trained.bert.state_dict()
    for key in ("embeddings.word_embeddings.weight", "encoder.layer.0.attention.self.query.weight",
                "encoder.layer.1.output.dense.weight"):
        assert torch.equal(after[key], base[key]), key
    for key in ("encoder.layer.2.attention.self.query.weight", "encoder.layer.3.output.dense.weight"):
        assert not torch.equal(after[key], base[key]), key


def test_freeze_zero_trains_every_layer(tmp_path, four_layer_model):
    from test_training import make_project
    from transformers import AutoModelForSequenceClassification, BertModel

    path = make_project(tmp_path / "p.wbproj")
    cfg = TrainConfig(method="finetune", base_model=str(four_layer_model), threads=1, epochs=1, batch_size=8,
                      device="cpu", learning_rate=1e-3, freeze_layers=0)
    result = train_project(path, cfg)
    with Project.open(path) as project:
        assert list_runs(project)[0]["config"]["effective"]["freeze_layers"] == 0
    trained = AutoModelForSequenceClassification.from_pretrained(result.model_path)
    base = BertModel.from_pretrained(four_layer_model).state_dict()
    key = "encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(trained.bert.state_dict()[key], base[key])


def test_data_summary_states_the_final_label_rule(tmp_path):
    from test_training import make_project

    path = make_project(tmp_path / "p.wbproj")
    with Project.open(path) as project:
        s = data_summary(project)
    assert s.final_labels.startswith("80 labelled records (final rule:")
