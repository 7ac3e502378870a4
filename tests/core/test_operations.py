"""User operations in core: each owns its transaction, returns Changes, and undoes and
redoes through the core history (no Qt anywhere)."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from workbench.core import project_operations
from workbench.core.data.importer import add_texts
from workbench.core.errors import WorkbenchError
from workbench.core.store import operations
from workbench.core.store.changes import Changes
from workbench.core.store.history import AnnotationHistory
from workbench.core.store.project import Project
from workbench.core.store.record_queries import (
    ANYONE,
    AnnotatorCounts,
    RecordFilter,
    filtered_ids,
    table_rows,
)

ME = "tester"  # tests/conftest.py sets WORKBENCH_ANNOTATOR


@pytest.fixture
def project(project_path):
    p = Project.create(project_path, ["billing", "delivery", "account"])
    add_texts(p, [f"record number {i}" for i in range(1, 7)])
    yield p
    p.close()


@pytest.fixture
def multi(tmp_path):
    p = Project.create(tmp_path / "multi.wbproj", ["x", "y", "z"], multi_label=True)
    add_texts(p, ["one", "two", "three"])
    yield p
    p.close()


def labels_of(project, record_id, annotator=ME):
    ann = project.get_annotation(record_id, annotator)
    return None if ann is None else (ann.labels, ann.status)


# ----------------------------------------------------------------- single operations
def test_annotate_returns_what_changed(project):
    changes = operations.annotate(project, 2, ["billing"])
    assert changes.kinds() == ("annotations",)
    assert changes.record_ids == {2}
    (step,) = changes.steps
    assert (step.record_id, step.annotator, step.before) == (2, ME, None)
    assert step.after.labels == ("billing",) and step.after.provenance == "manual"
    assert labels_of(project, 2) == (("billing",), "labelled")


def test_invalid_input_writes_nothing_and_records_nothing(project):
    history = AnnotationHistory(project)
    with pytest.raises(WorkbenchError):
        operations.annotate(project, 1, ["nope"], history=history)
    with pytest.raises(WorkbenchError):
        operations.annotate(project, 1, ["billing", "delivery"], history=history)
    assert project.get_annotation(1) is None
    assert not history.can_undo()


def test_skip_flag_comment_and_clear(project):
    assert operations.skip(project, 1).record_ids == {1}
    assert labels_of(project, 1) == ((), "skipped")
    operations.annotate(project, 2, ["delivery"], provenance="accepted suggestion")
    operations.flag(project, 2, ["delivery"])
    assert labels_of(project, 2) == (("delivery",), "flagged")
    changes = operations.comment(project, 2, "check the parcel")
    assert changes.annotations and changes.record_ids == {2}
    ann = project.get_annotation(2)
    assert (ann.comment, ann.status, ann.labels) == ("check the parcel", "flagged", ("delivery",))
    with pytest.raises(WorkbenchError, match="no annotation"):
        operations.comment(project, 3, "nothing to comment on")
    assert operations.clear(project, 2).record_ids == {2}
    assert project.get_annotation(2) is None
    assert not operations.clear(project, 2)  # nothing left: no change


def test_accept_suggestion_records_its_provenance(project):
    from workbench.core.assist.suggestions import Suggestion

    suggestion = Suggestion(("account",), 0.9, "a model")
    changes = operations.accept_suggestion(project, 4, suggestion)
    assert changes.steps[0].after.provenance == operations.ACCEPTED_PROVENANCE
    assert project.get_annotation(4).provenance == "accepted suggestion"


def test_multi_label_toggle_rule(multi):
    assert operations.toggled_labels(["x", "y"], "x") == ["y"]
    assert operations.toggled_labels(["y"], "x") == ["y", "x"]
    operations.toggle_label(multi, 1, "x")
    operations.toggle_label(multi, 1, "y")
    assert labels_of(multi, 1) == (("x", "y"), "labelled")
    operations.toggle_label(multi, 1, "x")
    assert labels_of(multi, 1) == (("y",), "labelled")
    changes = operations.toggle_label(multi, 1, "y")
    assert multi.get_annotation(1) is None, "removing the last label clears the record"
    assert changes.steps[0].after is None


# ----------------------------------------------------------------- many records
def test_relabel_many_is_one_transaction_and_one_undo_step(project):
    history = AnnotationHistory(project)
    operations.annotate(project, 1, ["billing"], comment="keep me", history=history)
    changes = operations.relabel_many(project, [1, 2, 3], "label", "account", history=history)
    assert changes.record_ids == {1, 2, 3}
    assert [labels_of(project, i) for i in (1, 2, 3)] == [(("account",), "labelled")] * 3
    assert project.get_annotation(1).comment == "keep me"
    assert history.undo_text() == "label 3 record(s)"
    history.undo()
    assert labels_of(project, 1) == (("billing",), "labelled")
    assert project.get_annotation(2) is None and project.get_annotation(3) is None
    history.redo()
    assert [labels_of(project, i) for i in (1, 2, 3)] == [(("account",), "labelled")] * 3

    operations.relabel_many(project, [1, 2], "flag", history=history)
    assert labels_of(project, 1) == (("account",), "flagged")
    operations.relabel_many(project, [1, 2], "skip", history=history)
    assert labels_of(project, 2) == ((), "skipped")
    changes = operations.relabel_many(project, [1, 2, 5], "clear", history=history)
    assert changes.record_ids == {1, 2}  # record 5 had nothing to clear
    assert project.get_annotation(1) is None


def test_relabel_many_lands_whole_or_not_at_all(project):
    operations.annotate(project, 1, ["billing"])
    with pytest.raises(WorkbenchError):
        operations.relabel_many(project, [1, 999], "label", "delivery")
    assert labels_of(project, 1) == (("billing",), "labelled")
    with pytest.raises(WorkbenchError, match="Unknown action"):
        operations.relabel_many(project, [1], "paint")


def test_relabel_many_toggles_in_a_multi_label_project(multi):
    operations.annotate(multi, 1, ["x", "y"])
    operations.relabel_many(multi, [1, 2], "label", "y")
    assert labels_of(multi, 1) == (("x",), "labelled")
    assert labels_of(multi, 2) == (("y",), "labelled")


# ----------------------------------------------------------------- undo and redo
def test_undo_and_redo_restore_exact_states_with_timestamps(project):
    history = AnnotationHistory(project)
    operations.annotate(project, 1, ["billing"], history=history)
    first = project.get_annotation(1)
    operations.annotate(project, 1, ["delivery"], comment="changed", history=history)
    second = project.get_annotation(1)
    assert history.undo_text() == "record 1: delivery"

    result = history.undo()
    assert result.changes.record_ids == {1} and result.errors == ()
    back = project.get_annotation(1)
    assert (back.labels, back.comment, back.created_at, back.updated_at) == (
        first.labels, first.comment, first.created_at, first.updated_at)
    history.undo()
    assert project.get_annotation(1) is None
    assert not history.can_undo() and history.redo_text() == "record 1: billing"
    assert history.undo() is None

    history.redo()
    history.redo()
    again = project.get_annotation(1)
    assert (again.labels, again.comment, again.updated_at) == (
        second.labels, second.comment, second.updated_at)
    assert history.redo() is None


def test_a_new_operation_drops_the_redo_side(project):
    history = AnnotationHistory(project)
    operations.annotate(project, 1, ["billing"], history=history)
    history.undo()
    assert history.can_redo()
    operations.skip(project, 1, history=history)
    assert not history.can_redo() and history.undo_text() == "record 1: skipped"


def test_undo_that_cannot_be_applied_is_reported_and_keeps_in_step(project):
    history = AnnotationHistory(project)
    operations.annotate(project, 1, ["account"], history=history)
    operations.annotate(project, 1, ["billing"], history=history)
    project.delete_label("account")
    result = history.undo()
    assert result.steps == () and "Cannot undo the change to record 1" in result.errors[0]
    assert labels_of(project, 1) == (("billing",), "labelled")
    assert history.can_redo()  # moved like a GUI undo stack does
    history.undo()
    assert project.get_annotation(1) is None


# ----------------------------------------------------------------- Changes and others
def test_changes_combine():
    a = Changes.of_annotations(())
    assert not a and repr(a) == "Changes(nothing; records [])"
    b = Changes(annotations=True, record_ids=frozenset({1}))
    c = Changes(final_labels=True, record_ids=frozenset({2}))
    assert (b | c).kinds() == ("annotations", "final_labels")
    assert (b | c).record_ids == {1, 2}
    assert (b | Changes.everything()).record_ids is None
    assert Changes.everything().touches("runs") and not b.touches("runs", "settings")
    with pytest.raises(ValueError):
        b.touches("colour")


def test_other_operations_say_what_changed(project):
    assert project_operations.rename_label(project, "account", "login").label_schema
    assert "login" in project.label_names()
    assert project_operations.set_final_rule(project, "majority").settings
    operations.annotate(project, 1, ["billing"], annotator="ann")
    changes = project_operations.adjudicate(project, 1, ["delivery"])
    assert changes.kinds() == ("final_labels",) and changes.record_ids == {1}
    assert project_operations.clear_adjudication(project, 1).final_labels
    assert project_operations.set_blind(project, False).settings
    _label, changes = project_operations.add_label(project, "refund")
    assert changes.label_schema and "refund" in project.label_names()


def test_record_queries_and_counts(project):
    operations.annotate(project, 1, ["billing"])
    operations.annotate(project, 2, ["billing"], annotator="bob")
    operations.skip(project, 3)
    assert filtered_ids(project, RecordFilter(annotator=ME, label="billing")) == [1]
    assert filtered_ids(project, RecordFilter(annotator=ANYONE, label="billing")) == [1, 2]
    assert filtered_ids(project, RecordFilter(annotator=ME, search='number "')) != []
    rows = table_rows(project, [2, 1], ANYONE, 240)
    assert [(r[0], r[2], r[3]) for r in rows] == [(2, "billing", "bob"), (1, "billing", ME)]
    counts = AnnotatorCounts()
    counts.load(project, ME)
    assert (counts.total, counts.labelled, counts.by_status["skipped"]) == (6, 1, 1)
    counts.apply_steps(operations.annotate(project, 4, ["account"]).steps, ME)
    assert counts.by_label == {"billing": 1, "delivery": 0, "account": 1}


def test_operations_and_history_need_no_qt(project_path):
    Project.create(project_path, ["a", "b"]).close()
    code = textwrap.dedent(f"""
        import sys
        from workbench.core.store import operations
        from workbench.core.store.history import AnnotationHistory
        from workbench.core.store.project import Project
        from workbench.core.data.importer import add_texts

        with Project.open({str(project_path)!r}) as project:
            add_texts(project, ["hello", "world"])
            history = AnnotationHistory(project)
            operations.annotate(project, 1, ["a"], history=history)
            operations.relabel_many(project, [1, 2], "label", "b", history=history)
            history.undo()
            history.undo()
            history.redo()
            print(project.get_annotation(1).labels, project.get_annotation(2))
        print("QT", sorted(m for m in sys.modules if m.startswith(("PySide6", "shiboken6"))))
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "('a',) None" in r.stdout and "QT []" in r.stdout, r.stdout


def test_cli_label_goes_through_the_operation(project, tmp_path):
    project.conn.execute("PRAGMA wal_checkpoint(FULL)")
    r = subprocess.run(
        [sys.executable, "-m", "workbench", "label", str(project.path), "--id", "3",
         "--label", "delivery", "--annotator", "cli"],
        capture_output=True, text=True, timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "Record 3: delivery (annotator cli)" in r.stdout
    assert labels_of(project, 3, "cli") == (("delivery",), "labelled")


def test_cli_relabel_many(project):
    project.conn.execute("PRAGMA wal_checkpoint(FULL)")
    r = subprocess.run(
        [sys.executable, "-m", "workbench", "relabel", str(project.path), "--ids", "1,2",
         "--ids", "4", "--action", "label", "--label", "account"],
        capture_output=True, text=True, timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "label: 3 of 3 record(s) changed" in r.stdout
    assert [labels_of(project, i) for i in (1, 2, 4)] == [(("account",), "labelled")] * 3
    r = subprocess.run(
        [sys.executable, "-m", "workbench", "relabel", str(project.path), "--ids", "1",
         "--action", "label"],
        capture_output=True, text=True, timeout=120,
    )
    assert r.returncode != 0 and "Choose the label" in r.stderr


def test_import_and_merge_say_what_changed(project, tmp_path):
    data = tmp_path / "more.csv"
    data.write_text("text,label\nbrand new text,refund\n", encoding="utf-8")
    report, changes = project_operations.import_file(project, data, label_col="label",
                                                     add_labels=True)
    assert report.new_ids and changes.records and changes.record_ids is None
    assert "refund" in project.label_names()
    project.conn.execute("PRAGMA wal_checkpoint(FULL)")
    mate = tmp_path / "mate.wbproj"
    mate.write_bytes(project.path.read_bytes())
    with Project.open(mate) as other:
        operations.annotate(other, 1, ["delivery"], annotator="dee")
    report, changes = project_operations.merge_projects(project, mate)
    assert report.changed and changes.touches("annotations", "records")
    assert labels_of(project, 1, "dee") == (("delivery",), "labelled")
