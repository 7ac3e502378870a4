"""Fine-tuning from cached frozen layers: same losses as the plain loop, used when layers
are frozen, memory budget, cancel (real runs on the tiny 2-layer BERT, one layer frozen)."""
from __future__ import annotations

import json

import pytest
import torch

from workbench.core.store.project import Project
from workbench.core.training import TrainConfig, list_runs, train_project
from workbench.core.training.cached_finetune import (
    MAX_CACHE_BYTES,
    CachedLowerLayers,
    cache_budget,
    estimate_cache_bytes,
    layer_cache_for,
)


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    yield


@pytest.fixture(scope="module")
def models(tiny_base_model, tmp_path_factory):
    """The tiny 2-layer BERT as built (dropout 0.1) and a copy with every dropout off."""
    import shutil

    still = tmp_path_factory.mktemp("tiny_nodrop") / "model"
    shutil.copytree(tiny_base_model, still)
    cfg_path = still / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    cfg_path.write_text(json.dumps(cfg))
    return {"dropout": tiny_base_model, "no_dropout": still}


def _run(path, model, *, cache: bool, should_stop=None, **kw):
    losses: list[float] = []

    def progress(event):
        if event.phase == "train" and event.loss is not None:
            losses.append(event.loss)

    cfg = TrainConfig(method="finetune", base_model=str(model), threads=1, batch_size=8, device="cpu",
                      learning_rate=1e-3, freeze_layers=1, cache_frozen_layers=cache, early_stopping_patience=0,
                      **{"epochs": 3, **kw})
    result = train_project(path, cfg, progress=progress, should_stop=should_stop)
    with Project.open(path) as project:
        run = next(r for r in list_runs(project) if r["id"] == result.run_id)
    return result, run, losses


def test_cached_loop_gives_the_plain_loops_losses_without_dropout(tmp_path, models):
    from test_training import make_project

    path = make_project(tmp_path / "p.wbproj")
    plain, plain_run, plain_losses = _run(path, models["no_dropout"], cache=False)
    cached, cached_run, cached_losses = _run(path, models["no_dropout"], cache=True)
    assert plain_run["config"]["effective"]["cached_layers"] is False
    eff = cached_run["config"]["effective"]
    assert eff["cached_layers"] is True and eff["freeze_layers"] == 1
    n_train = eff["layer_cache"]["records"]
    assert eff["layer_cache"]["kept"] == n_train > 0  # every training record kept once
    assert eff["layer_cache"]["bytes"] > 0
    # Three epochs: the first fills the cache, the later ones train from it only.
    assert len(cached_losses) == len(plain_losses) >= 3 * (n_train // 8)
    assert cached_losses == pytest.approx(plain_losses, abs=2e-4)
    assert plain_losses[0] != pytest.approx(plain_losses[-1], abs=1e-3)  # training did move
    assert cached.metrics["macro_f1"] == pytest.approx(plain.metrics["macro_f1"], abs=1e-6)
    assert set(cached.metrics) == set(plain.metrics)  # same metrics reported
    # The last layer ran for the first token only; per-epoch validation read the kept
    # lower layers of the validation records and gave the whole model's figures.
    assert eff["layer_cache"]["first_token_last_layer"] is True
    assert eff["layer_cache"]["evaluation_kept"]["validation"] > 0
    assert [h["macro_f1"] for h in cached.metrics["history"]] == pytest.approx(
        [h["macro_f1"] for h in plain.metrics["history"]], abs=1e-6)


def test_long_records_in_windows_train_from_kept_windows(tmp_path, models):
    from test_long_records import make_long_project

    path = make_long_project(tmp_path / "long.wbproj", per_label=12)
    kw = {"long_records": "windows", "max_length": 32, "epochs": 2}
    plain, plain_run, plain_losses = _run(path, models["no_dropout"], cache=False, **kw)
    cached, cached_run, cached_losses = _run(path, models["no_dropout"], cache=True, **kw)
    eff = cached_run["config"]["effective"]
    assert eff["cached_layers"] is True and plain_run["config"]["effective"]["cached_layers"] is False
    assert cached.metrics["long_records"]["windows"] is True
    n_windows = eff["layer_cache"]["records"]  # one cache entry per window: more than records
    assert n_windows > cached.metrics["long_records"]["records"]
    assert eff["layer_cache"]["kept"] == n_windows
    assert cached_losses == pytest.approx(plain_losses, abs=2e-4) and len(cached_losses) >= 4
    assert [h["macro_f1"] for h in cached.metrics["history"]] == pytest.approx(
        [h["macro_f1"] for h in plain.metrics["history"]], abs=1e-6)
    assert cached.metrics["macro_f1"] == pytest.approx(plain.metrics["macro_f1"], abs=1e-6)


def test_cache_is_used_by_default_when_layers_are_frozen_and_trains_only_the_upper_layers(tmp_path, models):
    from test_training import make_project
    from transformers import AutoModelForSequenceClassification, BertModel

    path = make_project(tmp_path / "p.wbproj")
    assert TrainConfig().cache_frozen_layers is True
    result, run, losses = _run(path, models["dropout"], cache=True, epochs=2)
    assert result.status == "completed" and run["config"]["effective"]["cached_layers"] is True
    assert all(x == x for x in losses)  # no NaN
    trained = AutoModelForSequenceClassification.from_pretrained(result.model_path)
    base = BertModel.from_pretrained(models["dropout"]).state_dict()
    after = trained.bert.state_dict()
    for key in ("embeddings.word_embeddings.weight", "encoder.layer.0.output.dense.weight"):
        assert torch.equal(after[key], base[key]), key
    assert not torch.equal(after["encoder.layer.1.output.dense.weight"], base["encoder.layer.1.output.dense.weight"])


def test_cancel_during_a_cached_epoch_keeps_the_best_model(tmp_path, models):
    from test_training import make_project

    path = make_project(tmp_path / "p.wbproj")
    steps = []

    def stop():
        steps.append(1)
        return len(steps) > 12  # epoch 1 has 9 steps: cancel in epoch 2, from the cache

    result, run, _ = _run(path, models["dropout"], cache=True, epochs=3, should_stop=stop)
    assert result.status == "cancelled" and result.model_path
    assert run["config"]["effective"]["cached_layers"] is True
    assert run["metrics"]["steps"] == 12


def _tiny_classifier(model_dir):
    from transformers import AutoModelForSequenceClassification

    from workbench.core.training.freezing import freeze_lower_layers

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(str(model_dir), num_labels=3)
    freeze_lower_layers(model, 1)
    return model


def test_memory_budget_keeps_what_fits_and_recomputes_the_rest(models):
    from workbench.core.training.batching import collate

    model = _tiny_classifier(models["dropout"])
    ids = [[2] + [7 + (i * j) % 40 for j in range(5 + i)] + [3] for i in range(10)]
    full = CachedLowerLayers(model, ids, 1)
    one = estimate_cache_bytes([len(ids[0])], model.config.hidden_size)
    small = CachedLowerLayers(model, ids, 1, budget_bytes=6 * one)
    assert full.usable and small.usable
    idx = list(range(10))
    want = full.cache.padded(idx)[0]
    got = small.cache.padded(idx)[0]
    assert small.cache.nbytes <= 6 * one and 0 < small.cache.cached < 10
    assert full.cache.cached == 10
    assert full.cache.nbytes == estimate_cache_bytes([len(x) for x in ids], model.config.hidden_size)
    assert torch.allclose(want, got, atol=1e-6)
    model.eval()
    ids_t, mask = collate(ids, idx, 0)
    with torch.no_grad():
        assert torch.allclose(small.logits(model, idx, ids_t, mask), model(input_ids=ids_t, attention_mask=mask).logits,
                              atol=1e-5)
    assert cache_budget(available=16 * 1024**3) == MAX_CACHE_BYTES
    assert cache_budget(available=4 * 1024**3) == 1024**3


class _MeanPooled(torch.nn.Module):
    """A classifier built like BERT whose head averages every position (not the first token)."""

    def __init__(self, bert_classifier):
        super().__init__()
        self.inner = bert_classifier
        self.config = bert_classifier.config

    @property
    def base_model(self):
        return self.inner.bert

    def forward(self, input_ids, attention_mask):
        hidden = self.inner.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        pooled = (hidden * attention_mask[..., None]).sum(1) / attention_mask.sum(1, keepdim=True)
        return type("Out", (), {"logits": self.inner.classifier(pooled)})()


def test_last_layer_for_the_first_token_only_is_exact_and_checked(tmp_path, models):
    from workbench.core.training.batching import collate
    from workbench.core.training.evaluate import predict_proba
    from workbench.core.training.first_token_layer import first_token_layer
    from workbench.core.training.models import load_tokenizer

    model = _tiny_classifier(models["dropout"])
    ids = [[2] + [7 + (i * j) % 40 for j in range(4 + 2 * i)] + [3] for i in range(6)]
    cached = CachedLowerLayers(model, ids, 1)
    assert cached.usable and cached.first_token_only
    idx = list(range(6))
    t, m = collate(ids, idx, 0)  # padded: the records differ in length
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    model.eval()  # no dropout: the same numbers as the whole model, gradients included
    grads = []
    for logits in (lambda: model(input_ids=t, attention_mask=m).logits, lambda: cached.logits(model, idx, t, m)):
        model.zero_grad()
        out = logits()
        torch.nn.functional.cross_entropy(out, y).backward()
        grads.append((out.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
    (full, g_full), (first, g_first) = grads
    assert torch.allclose(full, first, atol=1e-5)
    assert g_full.keys() == g_first.keys() and any("layer.1" in n for n in g_full)
    for name in g_full:
        assert torch.allclose(g_full[name], g_first[name], atol=1e-6), name
    # Evaluation from kept lower layers gives predict_proba's probabilities.
    tok = load_tokenizer(models["dropout"])
    texts = ["the parcel never arrived", "refund my card please", "app crashes on start", "ok"]
    want = predict_proba(model, tok, texts, max_length=16, multi_label=False, device=torch.device("cpu"))
    got = cached.eval_probs(model, "validation", tok, texts, max_length=16, multi_label=False)
    again = cached.eval_probs(model, "validation", tok, texts, max_length=16, multi_label=False)
    assert got == pytest.approx(want, abs=1e-5) and again == pytest.approx(want, abs=1e-5)
    assert cached.eval_caches["validation"].cached == len(texts)
    # A head that reads every position: the check catches it, the whole last layer runs.
    pooled = _MeanPooled(model)
    other = CachedLowerLayers(pooled, ids, 1)
    assert other.usable and not other.first_token_only
    assert first_token_layer(torch.nn.Linear(2, 2)) is None


def test_plain_loop_where_the_cache_does_not_apply(models):
    model = _tiny_classifier(models["dropout"])
    ids = [[2, 8, 9, 3], [2, 10, 3]]
    cpu = torch.device("cpu")
    assert layer_cache_for(model, ids, 1, enabled=True, device=cpu, distributed=False) is not None
    assert layer_cache_for(model, ids, 0, enabled=True, device=cpu, distributed=False) is None
    assert layer_cache_for(model, ids, 1, enabled=False, device=cpu, distributed=False) is None
    assert layer_cache_for(model, ids, 1, enabled=True, device=cpu, distributed=True) is None
    assert layer_cache_for(model, ids, 1, enabled=True, device=torch.device("meta"), distributed=False) is None
    assert layer_cache_for(torch.nn.Linear(2, 2), ids, 1, enabled=True, device=cpu, distributed=False) is None


def test_evaluation_names_say_where_the_figures_come_from():
    from workbench.core.training.evaluation_words import evaluated_records_title, evaluation_name

    cv = {"split": "cross-validation", "macro_f1_folds": [0.5, 0.6, 0.7, 0.8, 0.9]}
    assert evaluation_name(cv) == "5-fold cross-validation (out-of-fold predictions)"
    assert evaluation_name({"split": "test"}) == "test split"
    assert evaluation_name({"split": "validation"}) == "validation split"
    assert evaluation_name({}) == "test split"  # runs recorded before the split was stored
    assert evaluated_records_title([cv]) == "Records (out-of-fold)"
    assert evaluated_records_title([{"split": "test"}, {}]) == "Test records"
    assert evaluated_records_title([cv, {"split": "test"}]) == "Records evaluated"
