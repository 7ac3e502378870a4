"""Queue strategies: import order, exclusions, undo, other connections, assignment filter."""
from __future__ import annotations

import pytest

from workbench.core.assist import navigation, queue
from workbench.core.data.importer import add_texts
from workbench.core.errors import WorkbenchError
from workbench.core.store.project import Project


@pytest.fixture
def project(project_path):
    proj = Project.create(project_path, ["a", "b"])
    add_texts(proj, [f"record number {i}" for i in range(1, 21)])
    queue.invalidate()
    yield proj
    proj.close()


def test_order_is_default_and_unknown_names_are_refused():
    assert navigation.available_strategies()[0] == "order"
    assert isinstance(navigation.get_strategy("order"), queue.ImportOrder)
    with pytest.raises(WorkbenchError, match="Unknown queue order 'nope'"):
        navigation.get_strategy("nope")


def test_import_order_skips_annotated_and_excluded(project):
    order = navigation.get_strategy("order")
    assert order.next_ids(project, "tester", 5) == [1, 2, 3, 4, 5]
    project.annotate(1, ["a"], annotator="tester")
    project.annotate(3, [], annotator="tester", status="skipped")
    project.annotate(2, ["b"], annotator="someone-else")
    assert order.next_ids(project, "tester", 4) == [2, 4, 5, 6]
    assert order.next_ids(project, "tester", 4, exclude={2, 5}) == [4, 6, 7, 8]
    assert order.next_ids(project, "someone-else", 2) == [1, 3]
    assert order.next_ids(project, "tester", 0) == []


def test_queue_runs_dry_when_everything_is_annotated(project):
    order = navigation.get_strategy("order")
    for rid in range(1, 21):
        project.annotate(rid, ["a"], annotator="tester")
    assert order.next_ids(project, "tester", 10) == []


def test_removed_annotation_comes_back_after_invalidate(project):
    order = navigation.get_strategy("order")
    for rid in range(1, 6):
        project.annotate(rid, ["a"], annotator="tester")
    assert order.next_ids(project, "tester", 1) == [6]
    project.restore_annotation(2, "tester", None)
    queue.invalidate(project)
    assert order.next_ids(project, "tester", 2) == [2, 6]


def test_change_from_another_connection_is_noticed(project):
    order = navigation.get_strategy("order")
    for rid in range(1, 6):
        project.annotate(rid, ["a"], annotator="tester")
    assert order.next_ids(project, "tester", 1) == [6]
    with Project.open(project.path) as other:
        other.delete_annotation(3, "tester")
    assert order.next_ids(project, "tester", 2) == [3, 6]


def test_queue_query_uses_the_primary_key_not_a_scan(project):
    sql = (
        "EXPLAIN QUERY PLAN SELECT r.id FROM records r WHERE r.id >= ? AND "
        + queue._UNANNOTATED
        + " ORDER BY r.id LIMIT ?"
    )
    plan = " ".join(str(row[-1]) for row in project.conn.execute(sql, [10, "tester", 5]))
    assert "INTEGER PRIMARY KEY (rowid>?" in plan  # "AND rowid<?": pending imports hidden
    assert "USE TEMP B-TREE" not in plan


def test_assignment_filter_narrows_and_refills(project, monkeypatch):
    def filter_for_annotator(proj, annotator, ids):
        return [i for i in ids if i % 3 == 0]

    monkeypatch.setattr(navigation, "assignment_filter", lambda: filter_for_annotator)
    order = navigation.get_strategy("order")
    assert navigation.queue_ids(order, project, "tester", 4) == [3, 6, 9, 12]
    assert navigation.queue_ids(order, project, "tester", 10) == [3, 6, 9, 12, 15, 18]


def test_strategies_from_active_learning_are_offered(project, monkeypatch):
    class Reverse(queue.QueueStrategy):
        name = "reverse"

        def next_ids(self, proj, annotator, limit, exclude=()):
            rows = proj.conn.execute("SELECT id FROM records ORDER BY id DESC LIMIT ?", [limit])
            return [r[0] for r in rows]

    monkeypatch.setattr(navigation, "model_strategies", lambda: {"reverse": Reverse})
    assert navigation.available_strategies() == ["order", "reverse"]
    assert navigation.queue_ids(navigation.get_strategy("reverse"), project, "tester", 2) == [20, 19]


def test_navigator_history_requests_and_queue(project):
    nav = navigation.RecordNavigator(history_max=5, refill=3)
    assert nav.current is None and not nav.can_go_back()
    assert [nav.next(project, "tester") for _ in range(3)] == [1, 2, 3]
    assert nav.back() == 2 and nav.back() == 1 and nav.back() == 1
    assert nav.next(project, "tester") == 2, "forward walks through what was seen"
    # Records asked for come first; the unfinished current one comes back after them.
    nav.show_first([15, 17], requeue_current=True)
    assert nav.current == 15
    assert nav.history == [1, 2, 15], "opening drops the forward part of the history"
    assert nav.next(project, "tester") == 17
    assert nav.next(project, "tester") == 2
    project.annotate(4, ["a"], annotator="tester")  # e.g. labelled in another window
    assert nav.next(project, "tester") == 3, "3 left the history unannotated: served again"
    assert nav.next(project, "tester") == 5, "records seen or annotated are not served again"
    assert len(nav.history) == 5 and nav.history[0] == 15, "history is bounded"
    nav.focus(17)
    assert nav.current == 17
    nav.focus(20)
    assert nav.current == 20 and nav.history[-1] == 20


def test_navigator_runs_dry_and_steps_back_from_the_end(project):
    nav = navigation.RecordNavigator()
    for rid in range(1, 20):
        project.annotate(rid, ["a"], annotator="tester")
    assert nav.next(project, "tester") == 20
    assert nav.next(project, "tester") is None
    assert nav.current is None
    assert nav.back() == 20
