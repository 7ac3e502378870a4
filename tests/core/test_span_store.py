"""Span projects in the store: spans ride in the annotation row, checked against the text,
labels and overlap setting; operations return Changes and undo through the core history."""
from __future__ import annotations

import pytest

from workbench.core.assist.span_suggestions import span_suggestions, store_span_predictions
from workbench.core.data.importer import add_texts
from workbench.core.errors import WorkbenchError
from workbench.core.store import span_operations as ops
from workbench.core.store.history import AnnotationHistory
from workbench.core.store.project import Project
from workbench.core.store.schema import SCHEMA_VERSION
from workbench.core.store.span_queries import span_counts
from workbench.core.store.spans import Span, check_spans, find_occurrences, snap_to_words

ME = "tester"
TEXTS = [
    "Started aspirin 81 mg daily for angina.",
    "No aspirin today; metformin 500 mg twice daily.",
    "Patient with asthma, aspirinate is not a drug.",
]


@pytest.fixture
def spans_project(tmp_path):
    p = Project.create(tmp_path / "s.wbproj", ["drug", "dose", "condition"], task="spans")
    add_texts(p, TEXTS)
    yield p
    p.close()


def test_task_and_overlap_setting(spans_project, tmp_path):
    p = spans_project
    assert p.task == "spans" and p.is_spans and not p.multi_label
    assert p.allow_overlapping_spans is False
    changes = ops.set_allow_overlap(p, True)
    assert changes.settings and p.allow_overlapping_spans
    classic = Project.create(tmp_path / "c.wbproj", ["a", "b"])
    assert classic.task == "single_label" and not classic.is_spans
    with pytest.raises(WorkbenchError, match="not a span project"):
        ops.add_span(classic, 1, Span(0, 1, "a"))
    classic.close()
    with pytest.raises(WorkbenchError, match="Unknown task"):
        Project.create(tmp_path / "x.wbproj", ["a"], task="boxes")


def test_snap_and_find():
    text = "Started aspirin 81 mg daily"
    assert snap_to_words(text, 10, 12) == (8, 15)
    assert snap_to_words(text, 7, 16) == (8, 15)  # surrounding spaces trimmed
    assert snap_to_words(text, 7, 8) == (8, 8) or snap_to_words(text, 7, 8) == (8, 15)
    assert find_occurrences(TEXTS[2], "aspirin") == []
    assert find_occurrences(TEXTS[2], "aspirin", whole_words=False) == [(21, 28)]
    assert find_occurrences(TEXTS[1], "aspirin") == [(3, 10)]


def test_check_spans_messages():
    text = "aspirin 81 mg"
    check_spans(text, [Span(0, 7, "drug"), Span(8, 13, "dose")], ["drug", "dose"], False)
    with pytest.raises(WorkbenchError, match="does not fit"):
        check_spans(text, [Span(0, 99, "drug")], ["drug"], False)
    with pytest.raises(WorkbenchError, match="Unknown label 'x'"):
        check_spans(text, [Span(0, 7, "x")], ["drug"], False)
    with pytest.raises(WorkbenchError, match="overlap"):
        check_spans(text, [Span(0, 7, "drug"), Span(5, 10, "dose")], ["drug", "dose"], False)
    check_spans(text, [Span(0, 7, "drug"), Span(5, 10, "dose")], ["drug", "dose"], True)


def test_add_remove_relabel_undo(spans_project):
    p = spans_project
    history = AnnotationHistory(p)
    c = ops.add_span(p, 1, Span(8, 15, "drug"), history=history)
    assert c.annotations and c.record_ids == {1}
    ops.add_span(p, 1, Span(16, 21, "dose"), history=history)
    ann = p.get_annotation(1, ME)
    assert ann.spans == (Span(8, 15, "drug"), Span(16, 21, "dose"))
    assert ann.labels == ("drug", "dose") and ann.status == "labelled"
    with pytest.raises(WorkbenchError, match="overlap"):
        ops.add_span(p, 1, Span(10, 18, "condition"), history=history)
    assert p.get_annotation(1, ME).spans == ann.spans  # nothing written
    ops.relabel_span(p, 1, Span(16, 21, "dose"), "condition", history=history)
    assert p.get_annotation(1, ME).labels == ("drug", "condition")
    ops.remove_span(p, 1, Span(8, 15, "drug"), history=history)
    assert p.get_annotation(1, ME).spans == (Span(16, 21, "condition"),)
    history.undo()
    history.undo()
    assert p.get_annotation(1, ME).spans == ann.spans
    history.redo()
    assert p.get_annotation(1, ME).labels == ("drug", "condition")
    assert span_counts(p) == {1: {"drug": 1, "condition": 1}}


def test_confirm_with_no_spans_counts_as_labelled(spans_project):
    p = spans_project
    ops.confirm_spans(p, 3)
    ann = p.get_annotation(3, ME)
    assert ann.status == "labelled" and ann.spans == () and ann.labels == ()
    assert p.stats()["labelled"] == 1


def test_label_all_occurrences_is_one_undo_step(spans_project):
    p = spans_project
    history = AnnotationHistory(p)
    ops.add_span(p, 2, Span(0, 10, "condition"), history=history)  # covers "No aspirin"
    changes = ops.label_all_occurrences(p, "aspirin", "drug", history=history)
    # record 2's occurrence overlaps an existing span; record 3 has only "aspirinate"
    assert changes.record_ids == {1}
    assert p.get_annotation(1, ME).spans == (Span(8, 15, "drug"),)
    ops.set_allow_overlap(p, True)
    changes = ops.label_all_occurrences(p, "aspirin", "drug", history=history)
    assert changes.record_ids == {2}
    with pytest.raises(WorkbenchError, match="overlapping spans"):
        ops.set_allow_overlap(p, False)
    history.undo()
    assert p.get_annotation(2, ME).spans == (Span(0, 10, "condition"),)
    ops.set_allow_overlap(p, False)


def test_suggestions_accept(spans_project):
    p = spans_project
    assert span_suggestions(p, 1) == []
    run_id = p.db.execute(
        "INSERT INTO runs(kind, status, created_at, model_path) "
        "VALUES ('train', 'completed', 'now', 'm') RETURNING id").fetchone()[0]
    p.conn.commit()
    store_span_predictions(p, run_id, [(1, [(Span(8, 15, "drug"), 0.9),
                                            (Span(16, 21, "dose"), 0.6)], 0.4)])
    sugg = span_suggestions(p, 1)
    assert sugg == [(Span(8, 15, "drug"), 0.9), (Span(16, 21, "dose"), 0.6)]
    ops.add_span(p, 1, Span(8, 18, "drug"))
    ops.accept_span_suggestions(p, 1, [s for s, _ in sugg])
    ann = p.get_annotation(1, ME)
    assert ann.spans == (Span(8, 18, "drug"),) or ann.spans == (Span(8, 18, "drug"),
                                                                 Span(8, 15, "drug"))
    assert Span(16, 21, "dose") not in ann.spans  # would overlap 8-18


def test_schema_and_reopen(spans_project):
    p = spans_project
    ops.set_spans(p, 1, [Span(8, 15, "drug")])
    path = p.path
    p.close()
    again = Project.open(path)
    assert again.get_annotation(1, ME).spans == (Span(8, 15, "drug"),)
    assert again.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    again.close()


def test_cli_new_spans(tmp_path, capsys):
    from workbench.cli import main

    path = tmp_path / "n.wbproj"
    assert main(["new", str(path), "--task", "spans", "--labels", "drug,dose"]) == 0
    assert "spans" in capsys.readouterr().out
    with Project.open(path) as p:
        assert p.is_spans and p.label_names() == ["drug", "dose"]


def test_whole_record_labels_are_refused_in_a_span_project(spans_project):
    from workbench.core.store import operations

    with pytest.raises(WorkbenchError, match="span project"):
        operations.annotate(spans_project, 1, ["drug"])
    assert spans_project.get_annotation(1, ME) is None
    operations.skip(spans_project, 1)  # skipping and flagging still work
    assert spans_project.get_annotation(1, ME).status == "skipped"
