"""The Team tab on a spans project: pairwise entity F1 per type and adjudication that picks
spans from each annotator's version (real project file, real core operations)."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from workbench.core.data.importer import add_texts
from workbench.core.spans.span_team import final_spans, span_agreement_report
from workbench.core.store import span_operations as ops
from workbench.core.store.project import Project
from workbench.core.store.spans import Span
from workbench.gui.team.team_panel import TeamPanel

TEXTS = ["Aspirin 100 mg for headache.", "Warfarin 5 mg daily.", "No medication."]


@pytest.fixture
def project(tmp_path):
    p = Project.create(tmp_path / "team.wbproj", ["drug", "dose", "condition"], task="spans")
    add_texts(p, TEXTS)
    ops.set_spans(p, 1, [Span(0, 7, "drug"), Span(8, 14, "dose")], annotator="alice")
    ops.set_spans(p, 1, [Span(0, 7, "drug"), Span(19, 27, "condition")], annotator="bob")
    ops.set_spans(p, 2, [Span(0, 8, "drug")], annotator="alice")
    ops.set_spans(p, 2, [Span(0, 8, "drug")], annotator="bob")
    ops.set_spans(p, 3, [], annotator="alice")
    yield p
    p.close()


@pytest.fixture
def panel(qtbot):
    widget = TeamPanel()
    widget.show_dialogs = False
    qtbot.addWidget(widget)
    widget.resize(1100, 700)
    widget.show()
    yield widget
    widget.shutdown()


def test_entity_agreement_per_pair_and_type(panel, project):
    panel.set_project(project)
    views = panel.span_views
    titles = {panel.tabs.tabText(i): panel.tabs.isTabVisible(i) for i in range(panel.tabs.count())}
    assert titles["Entity agreement"] and titles["Span adjudication"]
    assert not titles["Agreement"]
    report = span_agreement_report(project)
    table = views.agreement.pairs_table
    assert [table.item(0, c).text() for c in range(4)] == \
        ["alice", "bob", "2", f"{report['pairs'][0]['f1']:.3f}"]
    types = views.agreement.types_table
    shown = {types.item(r, 0).text(): types.item(r, 1).text() for r in range(types.rowCount())}
    assert shown == {t: f"{v:.3f}" for t, v in report["per_type"].items()}
    assert shown["drug"] == "1.000"
    assert "Mean pairwise entity F1" in views.agreement.summary.text()


def test_adjudication_picks_spans_from_each_annotator(qtbot, panel, project):
    panel.set_project(project)
    view = panel.span_views.adjudication
    assert view.record_list.count() == 1  # record 2 agrees, record 3 has one version
    assert view.current_record_id() == 1
    items = {view.spans_list.item(i).text(): view.spans_list.item(i)
             for i in range(view.spans_list.count())}
    assert len(items) == 4
    # The span both gave is ticked; the others are not.
    ticked = {text for text, item in items.items() if item.checkState() == Qt.CheckState.Checked}
    assert ticked == {"alice: “Aspirin” drug (0–7)", "bob: “Aspirin” drug (0–7)"}
    items["bob: “headache” condition (19–27)"].setCheckState(Qt.CheckState.Checked)
    items["alice: “100 mg” dose (8–14)"].setCheckState(Qt.CheckState.Checked)
    assert len(view.preview.extraSelections()) == 3
    qtbot.mouseClick(view.save_button, Qt.MouseButton.LeftButton)
    assert final_spans(project, 1) == (Span(0, 7, "drug"), Span(8, 14, "dose"),
                                       Span(19, 27, "condition"))
    assert view.record_list.item(0).text().endswith("final")
    # Classification projects keep the classification pages.
    other = Project.create(project.path.with_name("c.wbproj"), ["a", "b"])
    try:
        panel.set_project(other)
        titles = {panel.tabs.tabText(i): panel.tabs.isTabVisible(i)
                  for i in range(panel.tabs.count())}
        assert titles["Agreement"] and not titles["Entity agreement"]
    finally:
        panel.set_project(None)
        other.close()
