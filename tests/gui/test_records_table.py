"""Records table: on-demand rows, filters, full-text search, opening and relabelling rows."""
from __future__ import annotations

import pytest
from PySide6.QtCore import QItemSelectionModel, Qt

from workbench.core.data.importer import import_rows
from workbench.core.store.project import Project
from workbench.gui.label import records_table
from workbench.gui.label.label_panel import LabelPanel
from workbench.gui.label.records_table import ANYONE, RecordFilter, RecordsTableModel

ME = "tester"
TEXTS = [
    "Where is my parcel?",
    "I was charged twice this month",
    "Cannot log in to my account",
    "The parcel tracking has not moved",
    "Refund the extra charge please",
    "Reset my password",
]


@pytest.fixture
def project(project_path):
    proj = Project.create(project_path, ["delivery", "billing", "account"])
    import_rows(proj, [{"text": t} for t in TEXTS], text_col="text")
    proj.annotate(1, ["delivery"], annotator=ME)
    proj.annotate(2, ["billing"], annotator=ME)
    proj.annotate(3, [], annotator=ME, status="skipped")
    proj.annotate(4, ["delivery"], annotator="bob")
    proj.annotate(2, ["account"], annotator="bob")
    yield proj
    proj.close()


def rows(model):
    return [model.record_id(r) for r in range(model.rowCount())]


def cell(model, row, col):
    return model.data(model.index(row, col))


def test_model_shows_my_annotation_per_record(project):
    model = RecordsTableModel()
    model.set_project(project, ME)
    assert model.rowCount() == 6 and model.columnCount() == 6
    assert rows(model) == [1, 2, 3, 4, 5, 6]
    assert cell(model, 1, 0) == "I was charged twice this month"
    assert cell(model, 1, 1) == "billing"
    assert cell(model, 1, 2) == ME
    assert cell(model, 1, 3) == "labelled"
    assert cell(model, 1, 4) == "unassigned"
    assert cell(model, 3, 1) == "", "bob's label is not mine"
    assert model.row_of(4) == 3


def test_filters_by_label_status_and_annotator(project):
    model = RecordsTableModel()
    model.set_project(project, ME)
    model.set_filter(RecordFilter(annotator=ME, label="delivery"))
    assert rows(model) == [1]
    model.set_filter(RecordFilter(annotator=ANYONE, label="delivery"))
    assert rows(model) == [1, 4]
    model.set_filter(RecordFilter(annotator=ME, status="unannotated"))
    assert rows(model) == [4, 5, 6]
    model.set_filter(RecordFilter(annotator=ME, status="skipped"))
    assert rows(model) == [3]
    model.set_filter(RecordFilter(annotator="bob", status="annotated"))
    assert rows(model) == [2, 4]
    assert cell(model, 0, 1) == "account" and cell(model, 0, 2) == "bob"
    model.set_filter(RecordFilter(annotator=ANYONE, status="annotated"))
    assert rows(model) == [1, 2, 3, 4]
    assert cell(model, 1, 2) == "bob, tester"
    assert cell(model, 1, 1) == "account (bob); billing (tester)"
    assert model.row_of(5) is None


def test_full_text_search_and_bad_syntax(project):
    model = RecordsTableModel()
    model.set_project(project, ME)
    model.set_filter(RecordFilter(annotator=ME, search="parcel"))
    assert rows(model) == [1, 4]
    model.set_filter(RecordFilter(annotator=ME, search="charge*"))
    assert rows(model) == [2, 5]
    model.set_filter(RecordFilter(annotator=ME, search='parcel "'))
    assert rows(model) == [1, 4], "a stray quote searches the words literally"
    model.set_filter(RecordFilter(annotator=ME, search="parcel", status="unannotated"))
    assert rows(model) == [4]


def test_ids_with_gaps_are_mapped_exactly(project):
    project.conn.execute("DELETE FROM main.records WHERE id = 3")
    model = RecordsTableModel()
    model.set_project(project, ME)
    assert rows(model) == [1, 2, 4, 5, 6]
    assert cell(model, 2, 0) == TEXTS[3]


def test_rows_are_fetched_in_pages_and_memory_is_bounded(project_path, monkeypatch):
    monkeypatch.setattr(records_table, "PAGE_ROWS", 50)
    monkeypatch.setattr(records_table, "MAX_PAGES", 4)
    proj = Project.create(project_path.with_name("many.wbproj"), ["a"])
    import_rows(proj, [{"text": f"row {i}"} for i in range(1, 2001)], text_col="text")
    model = RecordsTableModel()
    model.set_project(proj, ME)
    assert model.rowCount() == 2000
    assert model.cached_pages() == 0, "nothing is read before the view asks"
    for row in range(0, 2000, 7):
        assert cell(model, row, 0) == f"row {row + 1}"
        assert model.cached_pages() <= 4
    proj.close()


@pytest.fixture
def panel(qtbot, project):
    widget = LabelPanel()
    qtbot.addWidget(widget)
    widget.resize(1000, 700)
    with qtbot.waitActive(widget):
        widget.show()
        widget.activateWindow()
    widget.set_project(project)
    return widget


def _open_table(qtbot, panel):
    qtbot.keyClick(panel.record_text.editor, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert panel.tabs.currentWidget() is panel.browser
    assert panel.browser.search_edit.hasFocus()
    return panel.browser


def _select(browser, *record_ids):
    view = browser.view
    view.setFocus()
    sel = view.selectionModel()
    sel.clearSelection()
    for rid in record_ids:
        index = browser.model.index(browser.model.row_of(rid), 0)
        sel.select(index, QItemSelectionModel.SelectionFlag.Select
                   | QItemSelectionModel.SelectionFlag.Rows)
        sel.setCurrentIndex(index, QItemSelectionModel.SelectionFlag.NoUpdate)


def test_search_and_filter_from_the_widgets(qtbot, panel):
    browser = _open_table(qtbot, panel)
    assert browser.model.rowCount() == 6
    qtbot.keyClicks(browser.search_edit, "parcel")
    qtbot.keyClick(browser.search_edit, Qt.Key.Key_Return)
    assert rows(browser.model) == [1, 4]
    assert browser.count_label.text() == "2 records"
    browser.search_edit.clear()
    browser.status_combo.setCurrentIndex(browser.status_combo.findData("unannotated"))
    browser.status_combo.activated.emit(browser.status_combo.currentIndex())
    assert rows(browser.model) == [4, 5, 6]
    # Blind project: only my own annotations can be chosen.
    assert not browser.annotator_combo.isEnabled()


def test_activating_a_row_opens_the_record(qtbot, panel):
    browser = _open_table(qtbot, panel)
    _select(browser, 5)
    qtbot.keyClick(browser.view, Qt.Key.Key_Return)
    assert panel.tabs.currentWidget() is panel.label_page
    assert panel.current.id == 5
    qtbot.keyClick(panel.record_text.editor, Qt.Key.Key_2)
    assert panel.project.get_annotation(5, ME).labels == ("billing",)


def test_relabel_from_the_table_with_keys_and_undo(qtbot, panel, project):
    browser = _open_table(qtbot, panel)
    _select(browser, 1)
    qtbot.keyClick(browser.view, Qt.Key.Key_3)
    assert project.get_annotation(1, ME).labels == ("account",)
    assert cell(browser.model, 0, 1) == "account"
    assert panel.counts.by_label["account"] == 1 and panel.counts.by_label["delivery"] == 0
    _select(browser, 4, 5)
    qtbot.keyClick(browser.view, Qt.Key.Key_S)
    assert project.get_annotation(4, ME).status == "skipped"
    assert project.get_annotation(5, ME).status == "skipped"
    _select(browser, 2)
    qtbot.keyClick(browser.view, Qt.Key.Key_F)
    assert project.get_annotation(2, ME).status == "flagged"
    assert project.get_annotation(2, ME).labels == ("billing",)
    qtbot.keyClick(browser.view, Qt.Key.Key_Delete)
    assert project.get_annotation(2, ME) is None
    assert project.get_annotation(2, "bob").labels == ("account",), "others untouched"
    # One undo reverts one table action, even when it covered several rows.
    panel.undo_stack.undo()
    assert project.get_annotation(2, ME).status == "flagged"
    panel.undo_stack.undo()
    assert project.get_annotation(2, ME).status == "labelled"
    panel.undo_stack.undo()
    assert project.get_annotation(4, ME) is None and project.get_annotation(5, ME) is None
    panel.undo_stack.undo()
    assert project.get_annotation(1, ME).labels == ("delivery",)


def test_relabel_in_a_multi_label_project_toggles(qtbot, project_path):
    proj = Project.create(project_path.with_name("multi.wbproj"), ["x", "y"], multi_label=True)
    import_rows(proj, [{"text": "one"}, {"text": "two"}], text_col="text")
    proj.annotate(1, ["x"], annotator=ME)
    widget = LabelPanel()
    qtbot.addWidget(widget)
    with qtbot.waitActive(widget):
        widget.show()
        widget.activateWindow()
    widget.set_project(proj)
    browser = _open_table(qtbot, widget)
    _select(browser, 1)
    qtbot.keyClick(browser.view, Qt.Key.Key_2)
    assert set(proj.get_annotation(1, ME).labels) == {"x", "y"}
    qtbot.keyClick(browser.view, Qt.Key.Key_1)
    assert proj.get_annotation(1, ME).labels == ("y",)
    qtbot.keyClick(browser.view, Qt.Key.Key_2)
    assert proj.get_annotation(1, ME) is None, "removing the last label clears the record"
    widget.set_project(None)
    proj.close()


def test_annotator_filter_when_not_blind(qtbot, panel, project):
    project.set_meta("blind", "0")
    panel.refresh()
    browser = _open_table(qtbot, panel)
    names = [browser.annotator_combo.itemText(i) for i in range(browser.annotator_combo.count())]
    assert names == [f"Me ({ME})", "Anyone", "bob"]
    browser.annotator_combo.setCurrentIndex(2)
    browser.status_combo.setCurrentIndex(browser.status_combo.findData("annotated"))
    browser.apply_filter()
    assert rows(browser.model) == [2, 4]
    assert cell(browser.model, 1, 1) == "delivery"
