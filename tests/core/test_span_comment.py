"""A comment or a flag on a record of a span project keeps its spans (and undo restores)."""
from __future__ import annotations

import pytest

from workbench.core.data.importer import add_texts
from workbench.core.errors import WorkbenchError
from workbench.core.store import operations, span_operations
from workbench.core.store.history import AnnotationHistory
from workbench.core.store.project import Project
from workbench.core.store.spans import Span

TEXT = "Started metformin 500 mg for diabetes."


@pytest.fixture
def project(tmp_path):
    p = Project.create(tmp_path / "notes.wbproj", ["drug", "dose", "condition"], task="spans")
    add_texts(p, [TEXT, "No medication today."])
    yield p
    p.close()


SPANS = (Span(8, 17, "drug"), Span(18, 24, "dose"), Span(29, 37, "condition"))


def test_comment_keeps_spans_and_undo_restores(project):
    history = AnnotationHistory(project)
    span_operations.set_spans(project, 1, SPANS, annotator="ann")
    operations.comment(project, 1, "check the dose", annotator="ann", history=history)
    after = project.get_annotation(1, "ann")
    assert after.spans == SPANS
    assert after.comment == "check the dose"
    assert after.labels == ("drug", "dose", "condition")
    assert after.status == "labelled"
    history.undo()
    undone = project.get_annotation(1, "ann")
    assert undone.comment is None and undone.spans == SPANS
    operations.comment(project, 1, None, annotator="ann")
    assert project.get_annotation(1, "ann").spans == SPANS


def test_comment_on_record_confirmed_without_spans(project):
    span_operations.confirm_spans(project, 2, annotator="ann")
    operations.comment(project, 2, "nothing here", annotator="ann")
    ann = project.get_annotation(2, "ann")
    assert ann.spans == () and ann.status == "labelled" and ann.comment == "nothing here"


def test_flag_from_the_table_keeps_spans(project):
    span_operations.set_spans(project, 1, SPANS, annotator="ann")
    operations.relabel_many(project, [1, 2], "flag", annotator="ann")
    assert project.get_annotation(1, "ann").spans == SPANS
    assert project.get_annotation(1, "ann").status == "flagged"
    assert project.get_annotation(2, "ann").status == "flagged"
    assert project.get_annotation(2, "ann").spans == ()


def test_comment_without_annotation_is_refused(project):
    with pytest.raises(WorkbenchError, match="no annotation"):
        operations.comment(project, 1, "x", annotator="ann")
    assert project.get_annotation(1, "ann") is None
