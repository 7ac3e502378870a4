"""Suggestions: the cold-start model, stored predictions, accepting a suggestion."""
from __future__ import annotations

import json

import numpy as np
import pytest

from workbench.core.assist import suggestions as assist
from workbench.core.data.importer import add_texts
from workbench.core.store.project import Project, now_iso

BILLING = ["I was charged twice for my order", "refund the payment on my card",
           "my invoice shows a wrong charge", "the bill is too high this month"]
DELIVERY = ["my package has not arrived", "the delivery is late again",
            "shipping is slow, where is my parcel", "the package arrived broken"]


@pytest.fixture
def project(tmp_path):
    proj = Project.create(tmp_path / "assist.wbproj", ["billing", "delivery"])
    ids = add_texts(proj, BILLING + DELIVERY + [
        "please refund the double charge on my card",
        "where is my package, delivery is late",
    ])
    for rid in ids[:4]:
        proj.annotate(rid, ["billing"])
    for rid in ids[4:8]:
        proj.annotate(rid, ["delivery"])
    proj.ids = ids  # type: ignore[attr-defined]
    yield proj
    proj.close()


def test_no_suggester_before_two_labels(tmp_path):
    proj = Project.create(tmp_path / "p.wbproj", ["a", "b"])
    ids = add_texts(proj, ["one text", "two text", "three"])
    proj.annotate(ids[0], ["a"])
    assert assist.ensure_predictions(proj) is None
    assert assist.coldstart_predict(proj) is None
    assert assist.suggestion_for(proj, ids[1]) is None
    assert "No suggestions yet" in assist.current_suggester(proj)
    proj.close()


def test_coldstart_suggests_and_is_named(project):
    run_id = assist.ensure_predictions(project)
    assert run_id is not None
    kind = project.db.execute("SELECT kind FROM runs WHERE id = ?", [run_id]).fetchone()[0]
    assert kind == "coldstart"
    assert assist.current_suggester(project).startswith("Cold-start model")
    billing_id, delivery_id = project.ids[8], project.ids[9]
    s1 = assist.suggestion_for(project, billing_id)
    s2 = assist.suggestion_for(project, delivery_id)
    assert s1.labels == ("billing",) and s2.labels == ("delivery",)
    assert 0.5 < s1.confidence <= 1.0
    assert s1.source.startswith("Cold-start")
    labels, confidence, source = s1  # usable as a plain (labels, confidence, source) tuple
    assert labels == ("billing",)
    # Labelled records get no stored prediction.
    assert assist.suggestion_for(project, project.ids[0]) is None


def test_accept_suggestion_saves_with_provenance(project):
    assist.ensure_predictions(project)
    ann = assist.accept_suggestion(project, project.ids[8], annotator="tester")
    assert ann is not None
    assert ann.labels == ("billing",)
    assert ann.provenance == assist.ACCEPTED_PROVENANCE == "accepted suggestion"
    assert ann.status == "labelled"
    stored = project.get_annotation(project.ids[8], "tester")
    assert stored.provenance == "accepted suggestion"


def test_coldstart_is_refreshed_after_new_labels(project):
    first = assist.ensure_predictions(project)
    assert assist.ensure_predictions(project) == first  # nothing new: reused
    extra = add_texts(project, [f"refund charge number {i}" for i in range(6)])
    for rid in extra:
        project.annotate(rid, ["billing"])
    assert assist.coldstart_is_stale(project)
    second = assist.ensure_predictions(project)
    assert second != first
    # Only one cold-start run is kept.
    assert project.db.execute("SELECT count(*) FROM runs WHERE kind = 'coldstart'").fetchone()[0] == 1


def test_trained_run_predictions_take_over(project):
    assist.ensure_predictions(project)
    project.db.execute(
        "INSERT INTO runs(id, kind, status, created_at, metrics, model_path) "
        "VALUES (50, 'train', 'completed', ?, ?, 'assist.models/run-50')",
        [now_iso(), json.dumps({"macro_f1": 0.875})],
    )
    rid = project.ids[9]
    assist.store_predictions(project, 50, [rid], ["billing", "delivery"], np.array([[0.8, 0.2]]))
    project.set_meta(assist.META_RUN, "50")
    assert assist.ensure_predictions(project) == 50  # a trained model is not replaced
    assert assist.current_suggester(project) == "Model of run 50 (int8 ONNX, macro-F1 0.88)"
    s = assist.suggestion_for(project, rid)
    assert s.labels == ("billing",) and s.confidence == pytest.approx(0.8)
    assert assist.latest_trained_run(project) == 50


def test_deleted_label_is_never_suggested(project):
    assist.ensure_predictions(project)
    project.delete_label("billing")
    s = assist.suggestion_for(project, project.ids[8])
    assert s is None or s.labels == ("delivery",)


def test_multilabel_coldstart(tmp_path):
    proj = Project.create(tmp_path / "m.wbproj", ["billing", "urgent"], multi_label=True)
    texts = BILLING + DELIVERY + ["urgent: refund my card now", "the parcel is late"]
    ids = add_texts(proj, texts)
    for rid in ids[:4]:
        proj.annotate(rid, ["billing", "urgent"] if rid == ids[0] else ["billing"])
    for rid in ids[4:8]:
        proj.annotate(rid, ["urgent"])
    assert assist.ensure_predictions(proj) is not None
    s = assist.suggestion_for(proj, ids[8])
    assert s is not None and "billing" in s.labels
    preds = assist.load_predictions(proj, record_ids=[ids[8], ids[9]])
    assert preds.multi_label and preds.probs.shape == (2, 2)
    proj.close()


def test_store_predictions_rejects_wrong_shape(project):
    from workbench.core.errors import WorkbenchError

    with pytest.raises(WorkbenchError, match="shape"):
        assist.store_predictions(project, 1, [1, 2], ["a", "b"], np.zeros((3, 2)))


# --------------------------------------------------------------------------- auto-retrain
from workbench.core.assist.autoretrain import (  # noqa: E402
    AutoRetrainPolicy,
    RetrainState,
    load_policy,
    retrain_and_refresh,
    retrain_state,
    save_policy,
)


def test_auto_retrain_is_on_by_default_once_every_label_has_ten():
    policy = AutoRetrainPolicy()
    short = RetrainState({"a": 10, "b": 9}, new_labels=80)
    assert not policy.enabled(short) and not policy.should_retrain(short)
    assert "still short: b" in policy.describe(short)
    ready = RetrainState({"a": 10, "b": 10}, new_labels=50)
    assert policy.enabled(ready) and policy.should_retrain(ready)
    assert not policy.should_retrain(RetrainState({"a": 10, "b": 10}, new_labels=49))
    assert policy.labels_until_next(RetrainState({"a": 12, "b": 30}, new_labels=38)) == 12
    assert policy.describe(RetrainState({"a": 12, "b": 30}, new_labels=38)) == (
        "Auto-retrain after 12 more labels."
    )


def test_auto_retrain_never_starts_twice_or_when_off():
    ready = RetrainState({"a": 40, "b": 40}, new_labels=60, running=True)
    assert not AutoRetrainPolicy().should_retrain(ready)
    off = AutoRetrainPolicy(mode="off")
    assert not off.should_retrain(RetrainState({"a": 40, "b": 40}, new_labels=60))
    assert off.labels_until_next(RetrainState({"a": 40, "b": 40}, new_labels=60)) is None
    # Switched on explicitly, the per-label minimum does not apply; the interval does.
    on = AutoRetrainPolicy(mode="on", every=5)
    assert on.should_retrain(RetrainState({"a": 2, "b": 3}, new_labels=5))
    assert not on.should_retrain(RetrainState({"a": 5, "b": 0}, new_labels=5))  # one label only
    with pytest.raises(Exception, match="mode"):
        AutoRetrainPolicy(mode="sometimes")


def test_retrain_state_counts_labels_since_the_last_run(project):
    state = retrain_state(project)
    assert state.label_counts == {"billing": 4, "delivery": 4}
    assert state.new_labels == 8
    project.db.execute(
        "INSERT INTO runs(kind, status, created_at) VALUES ('train', 'failed', '2000-01-01T00:00:00+00:00')"
    )
    assert retrain_state(project).new_labels == 8  # all labelled after that run started
    project.db.execute(
        "INSERT INTO runs(kind, status, created_at) VALUES ('train', 'running', '2999-01-01T00:00:00+00:00')"
    )
    assert retrain_state(project, running=True).new_labels == 0
    assert retrain_state(project, running=True).running


def test_policy_is_saved_in_the_project(project):
    assert load_policy(project) == AutoRetrainPolicy()
    save_policy(project, AutoRetrainPolicy(mode="off", every=20))
    assert load_policy(project) == AutoRetrainPolicy(mode="off", every=20)


def test_retrain_export_and_refresh_with_a_real_model(tmp_path, tiny_base_model):
    import torch

    from workbench.core.training import TrainConfig

    torch.set_num_threads(1)
    path = tmp_path / "real.wbproj"
    words = {"billing": ["refund", "charge", "card", "invoice"],
             "delivery": ["package", "late", "arrived", "shipping"]}
    with Project.create(path, list(words)) as proj:
        for label, keys in words.items():
            ids = add_texts(proj,
                [f"{keys[i % 4]} {keys[(i + 1) % 4]} please help {i}" for i in range(14)]
            )
            for rid in ids:
                proj.annotate(rid, [label])
        unlabelled = add_texts(proj, ["my card has a wrong charge", "the package is late"])
        assert AutoRetrainPolicy().should_retrain(retrain_state(proj)) is False  # 28 < 50
        assert AutoRetrainPolicy(every=28).should_retrain(retrain_state(proj))
    events = []
    outcome = retrain_and_refresh(
        path, events.append,
        config=TrainConfig(method="finetune", base_model=str(tiny_base_model), threads=1, epochs=1, batch_size=8,
                           max_length=32),
    )
    assert outcome.n_predicted == 2
    assert events[-1].phase == "done" and "Auto-retrain done" in events[-1].message
    assert {e.phase for e in events} >= {"train", "export", "predict"}
    bundle = path.with_name("real.models") / "exports" / f"run-{outcome.run_id}"
    assert (bundle / "model.onnx").is_file()
    with Project.open(path) as proj:
        assert assist.prediction_run_id(proj) == outcome.run_id
        assert assist.current_suggester(proj).startswith(f"Model of run {outcome.run_id}")
        s = assist.suggestion_for(proj, unlabelled[0])
        assert s is not None and s.labels[0] in words
        assert s.source == assist.current_suggester(proj)
        assert retrain_state(proj).new_labels == 0
        ann = assist.accept_suggestion(proj, unlabelled[0])
        assert ann.provenance == "accepted suggestion" and ann.labels == s.labels
        # A cold-start fit no longer replaces the trained model's suggestions.
        assert assist.ensure_predictions(proj) == outcome.run_id
    # Predicting again reuses the exported bundle.
    mtime = (bundle / "model.onnx").stat().st_mtime
    from workbench.core.assist.project_predictions import predict_project

    report = predict_project(path)
    assert report.run_id == outcome.run_id and report.n_predicted == 1
    assert (bundle / "model.onnx").stat().st_mtime == mtime
