"""The suggestion status tells a user what is going on in each first-hour state."""

from __future__ import annotations

import json

from workbench.core.assist import suggestions as assist
from workbench.core.assist.suggestion_status import ALL_LABELLED, suggestion_status
from workbench.core.data.importer import add_texts
from workbench.core.store.project import Project


def _project(tmp_path, n=6):
    proj = Project.create(tmp_path / "p.wbproj", ["billing", "delivery"])
    texts = [
        f"charged twice invoice {i}" if i % 2 else f"parcel late tracking {i}" for i in range(n)
    ]
    return proj, add_texts(proj, texts)


def test_status_before_fit_when_all_labelled_and_after_training(tmp_path):
    proj, ids = _project(tmp_path)
    assert "No suggestions yet" in suggestion_status(proj)
    for i, rid in enumerate(ids[:4]):
        proj.annotate(rid, ["billing" if i % 2 else "delivery"])
    # Labels are there but the quick model has not been fitted yet: not "No suggestions yet".
    assert suggestion_status(proj) == "Preparing suggestions from the labelled records…"
    assert assist.ensure_predictions(proj) is not None
    assert suggestion_status(proj).startswith("Cold-start model")
    # A trained run without stored suggestions is named, with what to do.
    with proj.db.atomic():
        proj.db.execute(
            "INSERT INTO runs(kind, status, created_at, finished_at, base_model, config, metrics, "
            "model_path) VALUES ('train', 'completed', 'x', 'x', 'm', '{}', ?, 'models/run')",
            [json.dumps({"macro_f1": 0.8})],
        )
    assert "is trained" in suggestion_status(proj)
    # Every record labelled: no scikit-learn error, a finished message.
    for rid in ids[4:]:
        proj.annotate(rid, ["billing"])
    assert assist.coldstart_predict(proj) is None
    with proj.db.atomic():
        proj.db.execute("DELETE FROM runs")
    assert suggestion_status(proj) == ALL_LABELLED
    proj.close()
