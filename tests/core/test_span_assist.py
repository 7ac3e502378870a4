"""Span assistance and team work: pre-annotation from a bundle, uncertainty order, review
of likely span errors, pairwise entity-F1 agreement, adjudication picking spans, merge."""
from __future__ import annotations

import pytest

from workbench.core.assist.span_suggestions import span_suggestions, store_span_predictions
from workbench.core.data.importer import add_texts
from workbench.core.errors import WorkbenchError
from workbench.core.spans.span_assist import review_span_errors, uncertainty_order
from workbench.core.spans.span_snapshot import resolved_spans
from workbench.core.spans.span_team import (
    final_spans,
    pick_spans,
    span_agreement_report,
)
from workbench.core.store import span_operations as ops
from workbench.core.store.project import Project
from workbench.core.store.spans import Span

TEXTS = ["aspirin 81 mg daily", "metformin 500 mg BID for diabetes", "no drugs today"]
LABELS = ["drug", "dose", "condition"]


@pytest.fixture
def proj(tmp_path):
    p = Project.create(tmp_path / "a.wbproj", LABELS, task="spans")
    add_texts(p, TEXTS)
    yield p
    p.close()


def _run(project):
    run_id = project.db.execute(
        "INSERT INTO runs(kind, status, created_at, model_path) "
        "VALUES ('train', 'completed', 'now', 'm') RETURNING id").fetchone()[0]
    project.conn.commit()
    return run_id


def test_uncertainty_order(proj):
    run_id = _run(proj)
    store_span_predictions(proj, run_id, [(1, [], 0.1), (2, [], 0.7), (3, [], 0.4)])
    assert uncertainty_order(proj) == [2, 3, 1]
    ops.confirm_spans(proj, 2)
    assert uncertainty_order(proj) == [3, 1]


class FakeBundle:
    """Stands in for a span Predictor with fixed outputs (the real one is tested with an
    exported bundle in test_span_training)."""

    def __init__(self, outputs):
        self.outputs = outputs

    def predict(self, texts, **_kw):
        return [{"text": t, **self.outputs[t]} for t in texts]


def test_review_lists_confident_disagreements(proj):
    ops.set_spans(proj, 1, [Span(0, 7, "drug"), Span(8, 13, "dose")])
    ops.set_spans(proj, 2, [Span(0, 9, "condition")])
    ops.confirm_spans(proj, 3)
    out = {
        TEXTS[0]: {"spans": [{"start": 0, "end": 7, "label": "drug", "score": 0.99}],
                   "uncertainty": 0.05},  # confident and silent about the dose
        TEXTS[1]: {"spans": [{"start": 0, "end": 9, "label": "drug", "score": 0.95},
                             {"start": 10, "end": 16, "label": "dose", "score": 0.5}],
                   "uncertainty": 0.5},
        TEXTS[2]: {"spans": [{"start": 3, "end": 8, "label": "drug", "score": 0.9}],
                   "uncertainty": 0.1},
    }
    issues = review_span_errors(proj.path, 1, FakeBundle(out))
    kinds = {(i.record_id, i.kind) for i in issues}
    assert kinds == {(1, "unsupported"), (2, "wrong_type"), (3, "missing")}
    assert issues[0].score >= issues[-1].score


def test_agreement_and_adjudication(proj):
    ops.set_spans(proj, 1, [Span(0, 7, "drug"), Span(8, 13, "dose")], annotator="ann")
    ops.set_spans(proj, 1, [Span(0, 7, "drug"), Span(8, 10, "dose")], annotator="bob")
    ops.set_spans(proj, 2, [Span(0, 9, "drug")], annotator="ann")
    ops.set_spans(proj, 2, [Span(0, 9, "drug"), Span(24, 32, "condition")], annotator="bob")
    report = span_agreement_report(proj)
    (pair,) = report["pairs"]
    assert (pair["a"], pair["b"], pair["records"]) == ("ann", "bob", 2)
    # ann 3 spans, bob 4, 2 shared: F1 = 2*2/(3+4)
    assert pair["f1"] == pytest.approx(4 / 7)
    assert pair["per_type"]["drug"] == pytest.approx(1.0)
    assert pair["per_type"]["dose"] == pytest.approx(0.0)
    # Adjudication picks ann's dose and bob's drug; training then sees the final spans.
    changes = pick_spans(proj, 1, {"ann": [Span(8, 13, "dose")], "bob": [Span(0, 7, "drug")]})
    assert changes.final_labels and changes.record_ids == {1}
    assert final_spans(proj, 1) == (Span(0, 7, "drug"), Span(8, 13, "dose"))
    resolved = {r.record_id: r.spans for r in resolved_spans(proj)}
    assert resolved[1] == (Span(0, 7, "drug"), Span(8, 13, "dose"))
    with pytest.raises(WorkbenchError, match="has no span"):
        pick_spans(proj, 1, {"ann": [Span(8, 10, "dose")]})


def test_merge_span_projects(proj, tmp_path):
    from workbench.core.team.merge import merge_projects

    ops.set_spans(proj, 1, [Span(0, 7, "drug")], annotator="ann")
    other = Project.create(tmp_path / "b.wbproj", LABELS, task="spans")
    add_texts(other, TEXTS[:2] + ["a new note with aspirin"])
    ops.set_spans(other, 1, [Span(0, 7, "drug"), Span(8, 13, "dose")], annotator="bob")
    ops.set_spans(other, 1, [Span(0, 7, "drug")], annotator="ann")  # identical
    ops.set_spans(other, 3, [Span(16, 23, "drug")], annotator="bob")
    ops.set_spans(other, 2, [Span(0, 9, "condition")], annotator="ann")
    ops.set_spans(proj, 2, [Span(0, 9, "drug")], annotator="ann")  # conflicts
    other.close()
    report = merge_projects(proj, tmp_path / "b.wbproj")
    assert (report.new, report.identical, report.conflicting) == (2, 1, 1)
    bob = {r.text: r.spans for r in resolved_spans(proj, annotator="bob")}
    assert bob[TEXTS[0]] == (Span(0, 7, "drug"), Span(8, 13, "dose"))
    assert bob["a new note with aspirin"] == (Span(16, 23, "drug"),)
    conflict = proj.db.execute("SELECT spans FROM merge_conflicts").fetchone()[0]
    assert "condition" in conflict
    assert span_suggestions(proj, 1) == []
