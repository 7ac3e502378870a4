"""Suggestions: the cold-start model, stored predictions, accepting a suggestion."""
from __future__ import annotations

import json

import numpy as np
import pytest

from workbench.core import assist
from workbench.core.project import Project, now_iso

BILLING = ["I was charged twice for my order", "refund the payment on my card",
           "my invoice shows a wrong charge", "the bill is too high this month"]
DELIVERY = ["my package has not arrived", "the delivery is late again",
            "shipping is slow, where is my parcel", "the package arrived broken"]


@pytest.fixture
def project(tmp_path):
    proj = Project.create(tmp_path / "assist.wbproj", ["billing", "delivery"])
    ids = proj.add_records(BILLING + DELIVERY + [
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
    ids = proj.add_records(["one text", "two text", "three"])
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
    extra = project.add_records([f"refund charge number {i}" for i in range(6)])
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
    ids = proj.add_records(texts)
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
