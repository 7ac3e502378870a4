"""The Team panel: agreement tables, adjudication with keys and undo, settings, merge."""
from __future__ import annotations

import shutil

import pytest
from PySide6.QtCore import Qt

from workbench.core import team
from workbench.core.data.importer import add_texts
from workbench.core.store.project import Project

TEXTS = ["the app crashes on start", "refund please", "love the new update", "how do I log in"]


@pytest.fixture
def project(project_path):
    p = Project.create(project_path, ["bug", "billing", "praise"])
    add_texts(p, TEXTS)
    for rid, (a, b) in enumerate(
        [("bug", "bug"), ("billing", "praise"), ("praise", "praise"), ("bug", "billing")], start=1
    ):
        p.annotate(rid, [a], annotator="ann")
        p.annotate(rid, [b], annotator="bob")
    p.annotate(2, ["billing"], annotator="cy")  # record 2: majority billing
    yield p
    p.close()


@pytest.fixture
def panel(qtbot, project, monkeypatch):
    monkeypatch.setenv("WORKBENCH_ANNOTATOR", "lead")
    from workbench.gui.team.team_panel import TeamPanel

    widget = TeamPanel()
    widget.show_dialogs = False
    qtbot.addWidget(widget)
    with qtbot.waitSignal(widget.agreement_ready, timeout=20_000):
        widget.set_project(project)
    yield widget
    widget.shutdown()


def test_agreement_tables(panel, project):
    from sklearn.metrics import cohen_kappa_score

    rep = panel.report
    assert rep.overlap == 4
    table = panel.pairs_table
    rows = {(table.item(r, 0).text(), table.item(r, 1).text()): r for r in range(table.rowCount())}
    assert set(rows) == {("ann", "bob"), ("ann", "cy"), ("bob", "cy")}
    r = rows[("ann", "bob")]
    assert table.item(r, 2).text() == "4"
    expected = cohen_kappa_score(["bug", "billing", "praise", "bug"], ["bug", "praise", "praise", "billing"])
    assert table.item(r, 3).text() == f"{expected:.3f}"
    assert table.item(r, 4).text() == "50%"
    labels = panel.labels_table
    assert [labels.item(i, 0).text() for i in range(labels.rowCount())] == ["bug", "billing", "praise"]
    # The label names take the spare width; the figure columns fit their contents.
    from PySide6.QtWidgets import QHeaderView

    assert labels.horizontalHeader().sectionResizeMode(0) == QHeaderView.ResizeMode.Stretch
    assert labels.horizontalHeader().sectionResizeMode(4) == QHeaderView.ResizeMode.ResizeToContents
    assert "Fleiss" in panel.overall_label.text()
    assert "2 with disagreement" in panel.summary.text()


def test_adjudication_with_keys_buttons_and_undo(panel, project, qtbot):
    view = panel.adjudication
    assert view.record_list.count() == 2
    assert view.current_record_id() == 2
    # Annotators' labels side by side.
    votes = {view.votes.item(r, 0).text(): view.votes.item(r, 1).text() for r in range(view.votes.rowCount())}
    assert votes == {"ann": "billing", "bob": "praise", "cy": "billing"}
    assert view.suggestion_label.text() == "Majority: billing"
    assert view.buttons.buttons["billing"].text().endswith("· 2")  # two votes

    # Double-clicking a record opens it in the Label panel.
    with qtbot.waitSignal(panel.open_records) as opened:
        view.record_list.itemDoubleClicked.emit(view.record_list.item(0))
    assert opened.args == [[2]]

    # Accept the majority with the M key: saved, and the next record is shown.
    qtbot.keyClick(view.record_list, "m")
    assert team.get_final(project, 2).labels == ("billing",)
    assert team.get_final(project, 2).adjudicator == "lead"
    assert view.record_list.count() == 1 and view.current_record_id() == 4
    assert view.suggestion_label.text() == "Majority: none (a tie)"
    assert not view.accept_button.isEnabled()

    # Record 4 is a tie: the label's key (3 = praise) decides it.
    qtbot.keyClick(view.record_list, "1")
    with Project.open(project.path) as other:  # committed: another connection sees it
        assert team.get_final(other, 4).labels == ("bug",)
    assert view.record_list.count() == 0
    assert "No disagreements" in view.suggestion_label.text()

    view.undo_stack.undo()
    assert team.get_final(project, 4) is None
    assert view.record_list.count() == 1
    view.undo_stack.redo()
    assert team.get_final(project, 4).labels == ("bug",)

    # Showing adjudicated records, a button click changes a decision.
    view.show_resolved.setChecked(True)
    assert view.record_list.count() == 2
    assert view.select_record(2)
    assert "billing" in view.final_label.text()
    view.buttons.buttons["praise"].click()
    assert team.get_final(project, 2).labels == ("praise",)
    view.select_record(2)
    view.clear_button.click()
    assert team.get_final(project, 2) is None
    # The final rule summary follows the decisions.
    assert "1 adjudicated" in panel.rule_summary.text()


def test_multi_label_adjudication(qtbot, tmp_path):
    from workbench.gui.team.adjudication import AdjudicationView

    p = Project.create(tmp_path / "m.wbproj", ["a", "b", "c"], multi_label=True)
    add_texts(p, ["x"])
    p.annotate(1, ["a", "b"], annotator="ann")
    p.annotate(1, ["a"], annotator="bob")
    view = AdjudicationView()
    qtbot.addWidget(view)
    view.set_project(p)
    assert view.current_record_id() == 1
    qtbot.keyClick(view.record_list, "1")  # toggles a
    qtbot.keyClick(view.record_list, "3")  # toggles c
    assert team.get_final(p, 1) is None  # not saved until Enter
    qtbot.keyClick(view.record_list, "\r")
    assert team.get_final(p, 1).labels == ("a", "c")
    p.close()


def test_settings_are_saved(panel, project):
    panel.name_edit.setText("ann")
    panel._add_annotator()
    panel.name_edit.setText("bob")
    panel._add_annotator()
    assert team.roster(project) == ["ann", "bob"]
    texts = [panel.roster_list.item(i).text() for i in range(panel.roster_list.count())]
    assert texts[0] == "ann  (4 annotations)" and "not on the list" in texts[2]

    panel.mode_combo.setCurrentIndex(1)  # k
    panel.k_spin.setValue(3)
    assert team.assignment(project) == ("k", 3)
    panel.mode_combo.setCurrentIndex(2)
    assert team.assignment(project) == ("split", 1)
    assert not panel.k_spin.isEnabled()

    panel.blind_check.setChecked(False)
    assert not team.is_blind(project)
    panel.rule_combo.setCurrentIndex(1)
    assert team.final_rule(project) == "majority"
    assert "final rule: majority" in panel.rule_summary.text()

    panel.roster_list.setCurrentRow(0)
    panel._remove_annotator()
    assert team.roster(project) == ["bob"]


def test_blind_setting_controls_the_label_view(panel, project, qtbot, monkeypatch):
    from workbench.gui.label.label_panel import LabelPanel

    monkeypatch.setenv("WORKBENCH_ANNOTATOR", "ann")
    labels = LabelPanel()
    qtbot.addWidget(labels)
    labels.set_project(project)
    labels.open_record(2)
    assert "bob" not in labels.annotation_label.text()  # blind by default
    panel.blind_check.setChecked(False)
    labels.refresh()
    labels.open_record(2)
    assert "bob" in labels.annotation_label.text()


def test_merge_from_the_panel(panel, project, qtbot, tmp_path):
    other_path = tmp_path / "mate.wbproj"
    project.conn.execute("PRAGMA wal_checkpoint(FULL)")
    shutil.copy(project.path, other_path)
    with Project.open(other_path) as mate:
        add_texts(mate, ["printer is on fire"])
        mate.annotate(5, ["bug"], annotator="dee")
        mate.annotate(3, ["bug"], annotator="ann")  # conflicts with ann's "praise"

    with qtbot.waitSignal(panel.merged, timeout=20_000) as blocker:
        panel.merge_file(other_path)
    report = blocker.args[0]
    assert (report.records_added, report.new, report.conflicting) == (1, 1, 1)
    assert panel.last_merge_report is report
    with qtbot.waitSignal(panel.agreement_ready, timeout=20_000) as blocker:
        pass  # the panel recomputes agreement in the background after a merge
    assert "dee" in blocker.args[0].annotators
    assert "dee" in panel.report.annotators
    assert 3 in [d.record_id for d in panel.adjudication._items]
    panel.adjudication.select_record(3)
    votes = [panel.adjudication.votes.item(r, 0).text() for r in range(panel.adjudication.votes.rowCount())]
    assert "ann (from mate.wbproj)" in votes

    odd = tmp_path / "odd.wbproj"
    Project.create(odd, ["bug", "other"]).close()
    with qtbot.waitSignal(panel.merge_failed, timeout=20_000) as blocker:
        panel.merge_file(odd)
    assert "Labels only in odd.wbproj: other" in blocker.args[0]


def test_no_project(qtbot):
    from workbench.gui.team.team_panel import TeamPanel

    widget = TeamPanel()
    qtbot.addWidget(widget)
    assert not widget.merge_button.isEnabled()
    widget.merge_dialog()  # does nothing without a project
    widget.refresh()


def test_refresh_keeps_the_adjudication_undo_history(panel, project, qtbot):
    # The window refreshes every panel when data changes; a decision must stay undoable.
    panel.changed.connect(panel.refresh)
    view = panel.adjudication
    qtbot.keyClick(view.record_list, "m")
    assert team.get_final(project, 2) is not None
    assert view.undo_stack.canUndo()
    project.rename_label("bug", "defect")
    panel.refresh()
    assert "defect" in view.buttons.buttons
    view.undo_stack.undo()
    assert team.get_final(project, 2) is None


def test_a_cancelled_merge_leaves_the_project_unchanged(panel, project, qtbot, tmp_path, monkeypatch):
    import threading

    from project_dump import project_dump

    other = tmp_path / "mate.wbproj"
    shutil.copy(project.path, other)
    with Project.open(other) as theirs:
        add_texts(theirs, ["a record only the teammate has"])
        theirs.annotate(1, ["bug"], annotator="zoe")
    gate = threading.Event()
    real = team.merge_job

    def gated(project_path, config, *, progress, should_stop):
        gate.wait(20)  # cancelled while it waits: the real merge stops before any record
        return real(project_path, config, progress=progress, should_stop=should_stop)

    monkeypatch.setattr(team, "merge_job", gated)
    before = project_dump(project.path)
    messages: list[str] = []
    panel.status_message.connect(messages.append)
    with qtbot.waitSignal(panel.merge_cancelled, timeout=20_000):
        handle = panel.merge_file(other)
        assert panel.cancel_merge_button.isVisibleTo(panel)
        qtbot.mouseClick(panel.cancel_merge_button, Qt.MouseButton.LeftButton)
        gate.set()
    assert handle.outcome == "cancelled"
    assert messages[-1] == "Merge cancelled; the project is unchanged."
    assert project_dump(project.path) == before
    qtbot.waitUntil(lambda: panel.merge_button.isEnabled(), timeout=5_000)
    assert not panel.cancel_merge_button.isVisibleTo(panel)
