"""The Data tab on a real project: preview, apply, undo; near-duplicate groups with their
labels; a bad setting refused with one message."""
from __future__ import annotations

from PySide6.QtCore import Qt

from workbench.core.data.importer import add_texts
from workbench.core.store.project import Project
from workbench.core.store.record_queries import ANYONE
from workbench.gui.label.records_table import RecordsTableModel
from workbench.gui.prep.data_panel import DataPanel

TEXTS = [
    "Caf&eacute; <b>closed</b>, mail anna.smith@example.com",
    "Call +44 20 7946 0958 about the late parcel please",
    "Call +44 20 7946 0958 about the late parcel please!",
    "An unrelated message about a broken screen",
]


def make_panel(qtbot, tmp_path):
    project = Project.create(tmp_path / "d.wbproj", ["late", "broken"])
    ids = add_texts(project, TEXTS)
    project.annotate(ids[1], ["late"], annotator="ann")
    project.annotate(ids[2], ["broken"], annotator="ann")
    panel = DataPanel()
    qtbot.addWidget(panel)
    panel.set_project(project)
    return panel, project, ids


def run(qtbot, panel, button):
    with qtbot.waitSignal(panel.job_finished, timeout=60_000):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_preview_apply_undo(qtbot, tmp_path):
    panel, project, ids = make_panel(qtbot, tmp_path)
    try:
        assert not panel.apply_button.isEnabled() and not panel.undo_button.isEnabled()
        panel.select_step("mask")
        run(qtbot, panel, panel.preview_button)
        assert panel.plan is not None and panel.apply_button.isEnabled()
        top = [panel.tree.topLevelItem(i).text(0) for i in range(panel.tree.topLevelItemCount())]
        assert top == ["EMAIL: 1 record(s), 1 value(s)", "PHONE: 2 record(s), 2 value(s)"]
        assert project.get_record(ids[0]).text == TEXTS[0]  # preview writes nothing
        changes = []
        panel.changed.connect(changes.append)
        run(qtbot, panel, panel.apply_button)
        assert changes and changes[0].records
        assert project.get_record(ids[0]).text.endswith("mail <EMAIL>")
        assert "3 record(s) changed" in panel.summary.text()
        assert panel.history.count() == 1 and panel.undo_button.isEnabled()
        # The records table shows what was done to each record.
        model = RecordsTableModel()
        model.set_project(project, ANYONE)
        data_col = RecordsTableModel.COLUMNS.index("Data")
        assert model.data(model.index(0, data_col)) == "text changed"
        assert model.data(model.index(3, data_col)) == ""
        run(qtbot, panel, panel.undo_button)
        assert [project.get_record(i).text for i in ids] == TEXTS
        assert panel.summary.text() == "Undid mask: 3 text(s) put back."
        assert len(changes) == 2 and changes[1].records
        assert "(undone)" in panel.history.item(0).text()
    finally:
        panel.set_project(None)
        project.close()


def test_near_duplicate_groups_show_labels(qtbot, tmp_path):
    panel, project, ids = make_panel(qtbot, tmp_path)
    try:
        panel.select_step("near_duplicates")
        run(qtbot, panel, panel.preview_button)
        assert panel.tree.topLevelItemCount() == 1
        group = panel.tree.topLevelItem(0)
        assert "labels conflict" in group.text(0)
        rows = [(group.child(i).text(1), group.child(i).text(2)) for i in range(group.childCount())]
        assert rows == [(str(ids[1]), "late"), (str(ids[2]), "broken")]
        opened = []
        panel.open_records.connect(opened.append)
        panel.tree.itemDoubleClicked.emit(group.child(0), 0)
        assert opened == [[ids[1]]]
    finally:
        panel.set_project(None)
        project.close()


def test_bad_setting_and_step_change_drop_plan(qtbot, tmp_path):
    panel, project, _ids = make_panel(qtbot, tmp_path)
    try:
        panel.select_step("mask")
        panel.form_of["mask"].inputs["types"].setText("EMAIL,SHOE")
        qtbot.mouseClick(panel.preview_button, Qt.MouseButton.LeftButton)
        assert "Unknown kind" in panel.summary.text() and panel.plan is None
        panel.select_step("normalise")
        run(qtbot, panel, panel.preview_button)
        assert panel.plan is not None
        panel.select_step("filter")
        assert panel.plan is None and not panel.apply_button.isEnabled()
    finally:
        panel.set_project(None)
        project.close()


def test_cancel_leaves_project_unchanged(qtbot, tmp_path):
    panel, project, _ids = make_panel(qtbot, tmp_path)
    try:
        added = add_texts(project, [f"Record &amp; number {i}" for i in range(30_000)])
        panel.select_step("normalise")
        with qtbot.waitSignal(panel.job_finished, timeout=60_000):
            panel.start_preview()
            assert panel.cancel_button.isEnabled() and not panel.preview_button.isEnabled()
            qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
        assert panel.summary.text() == "Cancelled; nothing was changed."
        assert panel.plan is None and not panel.apply_button.isEnabled()
        assert project.get_record(added[0]).text == "Record &amp; number 0"
        assert project.db.execute("SELECT count(*) FROM prep_steps").fetchone()[0] == 0
    finally:
        panel.set_project(None)
        project.close()


def test_export_dialog_masked_only(qtbot, tmp_path):
    from workbench.gui.project.export_dialog import ExportDialog

    project = Project.create(tmp_path / "e.wbproj", ["late", "broken"])
    try:
        ids = add_texts(project, TEXTS)
        project.annotate(ids[0], ["late"])
        dialog = ExportDialog(project)
        qtbot.addWidget(dialog)
        out = tmp_path / "labels.csv"
        dialog.path_edit.setText(str(out))
        dialog.masked_check.setChecked(True)
        dialog.start_export()
        qtbot.waitUntil(lambda: dialog.job is None, timeout=20_000)
        assert "still holds personal data (EMAIL)" in dialog.progress_box.status.text()
        assert not out.exists()
    finally:
        project.close()
