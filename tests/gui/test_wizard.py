"""The new-project wizard and the import dialog drive real imports in a worker thread."""
from __future__ import annotations

import sqlite3
import threading

import pytest
from PySide6.QtWidgets import QWizard

from workbench.core.data import importer
from workbench.core.data.importer import ImportProgress
from workbench.core.store.project import Project
from workbench.gui.project.import_dialog import ImportDialog
from workbench.gui.project.new_project_wizard import NewProjectWizard

pytestmark = pytest.mark.timeout(60)


def _db_rows(path, sql):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_wizard_previews_guesses_columns_and_creates_project(qtbot, support_csv, tmp_path):
    wizard = NewProjectWizard()
    qtbot.addWidget(wizard)
    wizard.show()
    mapper = wizard.data_page.mapper
    assert mapper.set_file(support_csv)
    assert mapper.preview.rowCount() == 12
    assert mapper.preview.columnCount() == 3
    assert mapper.preview.item(0, 1).text() == "Where is my parcel?"
    mapping = mapper.mapping()
    assert (mapping.text_col, mapping.id_col, mapping.label_col) == ("text", "id", "intent")
    assert wizard.data_page.project_path() == support_csv.with_suffix(".wbproj")
    assert wizard.data_page.isComplete()

    wizard.next()
    assert wizard.labels_page.add_from_column()
    assert wizard.labels_page.labels() == ["delivery", "billing", "account"]
    wizard.labels_page.labels_edit.setPlainText("account\nbilling\ndelivery\nother")
    wizard.next()
    assert wizard.currentPage() is wizard.import_page

    with qtbot.waitSignal(wizard.project_created, timeout=20_000) as blocker:
        wizard.button(QWizard.WizardButton.FinishButton).click()
    created = blocker.args[0]
    assert created == str(support_csv.with_suffix(".wbproj"))
    assert wizard.result() == QWizard.DialogCode.Accepted

    with Project.open(created) as project:
        assert project.label_names() == ["account", "billing", "delivery", "other"]
        assert project.record_count() == 12
        assert project.get_annotation(1, "tester").labels == ("delivery",)
        rec = project.get_record(2)
        assert rec.external_id == "A2" and rec.text == "I was charged twice"
    assert _db_rows(created, "PRAGMA integrity_check") == [("ok",)]


def test_wizard_without_label_column_creates_unlabelled_multilabel_project(qtbot, support_csv):
    wizard = NewProjectWizard(start_file=support_csv)
    qtbot.addWidget(wizard)
    wizard.show()
    wizard.data_page.mapper.set_mapping("text", None, None)
    wizard.data_page.multi_radio.setChecked(True)
    wizard.next()
    assert wizard.currentPage() is wizard.labels_page
    assert not wizard.labels_page.from_column_radio.isEnabled()
    assert not wizard.labels_page.add_from_column()
    assert not wizard.labels_page.isComplete()  # no labels typed yet
    wizard.labels_page.labels_edit.setPlainText("urgent\nangry\n\nurgent")
    assert wizard.labels_page.labels() == ["urgent", "angry"]
    wizard.next()
    with qtbot.waitSignal(wizard.project_created, timeout=20_000) as blocker:
        wizard.start_import()
    with Project.open(blocker.args[0]) as project:
        assert project.multi_label
        assert project.label_names() == ["urgent", "angry"]
        assert project.stats()["labelled"] == 0
        assert project.get_record(1).meta == {"id": "A1", "intent": "delivery"}


def test_wizard_refuses_existing_project_file_and_bad_mapping(qtbot, support_csv):
    support_csv.with_suffix(".wbproj").write_text("taken")
    wizard = NewProjectWizard(start_file=support_csv)
    qtbot.addWidget(wizard)
    page = wizard.data_page
    # The suggestion skips the taken name.
    assert page.project_path().name == "support-2.wbproj"
    page.project_edit.setText(str(support_csv.with_suffix(".wbproj")))
    assert "already exists" in page.problem() and not page.isComplete()
    page.project_edit.setText(str(support_csv.with_name("fresh.wbproj")))
    page.mapper.set_mapping("text", "text", None)
    assert "text column" in page.problem()
    assert wizard.start_import() is None
    assert not support_csv.with_name("fresh.wbproj").exists()


def test_wizard_shows_unreadable_file_problem(qtbot, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\x00\x01\x02binary")
    wizard = NewProjectWizard()
    qtbot.addWidget(wizard)
    assert not wizard.data_page.mapper.set_file(bad)
    assert "binary" in wizard.data_page.mapper.error_label.text()
    assert wizard.data_page.mapper.mapping() is None
    assert not wizard.data_page.isComplete()


def _slow_import(gate: threading.Event, started: threading.Event):
    """Wrap import_file so it pauses after its first chunk until the test lets it go."""
    real = importer.import_file

    def slow(project, path, **kwargs):
        outer = kwargs["progress"]

        def progress(event: ImportProgress) -> None:
            outer(event)
            started.set()
            gate.wait(20)

        kwargs["progress"] = progress
        return real(project, path, **kwargs)

    return slow


def test_wizard_cancel_leaves_no_project(qtbot, support_csv, monkeypatch, tmp_path):
    gate, started = threading.Event(), threading.Event()
    monkeypatch.setattr(importer, "import_file", _slow_import(gate, started))
    wizard = NewProjectWizard(start_file=support_csv)
    qtbot.addWidget(wizard)
    wizard.show()
    wizard.next()
    wizard.next()
    target = wizard.data_page.project_path()
    job = wizard.start_import()
    assert started.wait(20)
    assert target.exists()  # the half-made project exists while the import runs
    with qtbot.waitSignal(job.cancelled, timeout=20_000):
        wizard.reject()  # Cancel while running: stops the import, keeps the wizard open
        gate.set()
    assert wizard.isVisible()
    assert "no project was created" in wizard.import_page.progress_box.status.text()
    assert not target.exists()
    assert not any(p.name.startswith(target.name) for p in tmp_path.iterdir())
    assert wizard.created_path is None


def test_import_dialog_adds_records_and_cancel_changes_nothing(qtbot, small_project, support_csv, monkeypatch):
    dialog = ImportDialog(small_project)
    qtbot.addWidget(dialog)
    assert not dialog.import_button.isEnabled()
    assert dialog.mapper.set_file(support_csv)
    assert dialog.import_button.isEnabled()

    # A cancelled import leaves the project as it was.
    gate, started = threading.Event(), threading.Event()
    monkeypatch.setattr(importer, "import_file", _slow_import(gate, started))
    dialog.start_import()
    assert started.wait(20)
    with qtbot.waitSignal(dialog.job.cancelled, timeout=20_000):
        dialog.reject()
        gate.set()
    assert small_project.record_count() == 5
    assert "nothing was imported" in dialog.progress_box.status.text()
    monkeypatch.undo()

    # Labels not in the project are refused unless the box is ticked.
    small_project.delete_label("account")
    dialog.mapper.set_mapping("text", "id", "intent")
    with qtbot.waitSignal(dialog.job_finished, timeout=20_000):
        dialog.start_import()
    assert dialog.job is None and dialog.report is None
    assert "'account'" in dialog.progress_box.status.text()
    assert "Nothing was imported" in dialog.progress_box.status.text()
    assert small_project.record_count() == 5

    dialog.add_labels_check.setChecked(True)
    with qtbot.waitSignal(dialog.imported, timeout=20_000) as blocker:
        dialog.start_import()
    report = blocker.args[0]
    # "Where is my parcel?", "I was charged twice" and "Reset my password" exist already.
    assert (report.added, report.duplicates) == (9, 3)
    assert report.new_labels == ["account"]
    assert dialog.result() == ImportDialog.DialogCode.Accepted
    assert small_project.record_count() == 14
    assert small_project.get_record(6).external_id == "A3"


def test_export_dialog_writes_final_labels(qtbot, small_project, tmp_path):
    from workbench.gui.project.export_dialog import ExportDialog

    small_project.annotate(1, ["delivery"])
    small_project.annotate(2, ["billing"])
    dialog = ExportDialog(small_project)
    qtbot.addWidget(dialog)
    out = tmp_path / "labels.csv"
    dialog.path_edit.setText(str(out))
    with qtbot.waitSignal(dialog.exported, timeout=20_000) as blocker:
        dialog.export_button.click()
    assert blocker.args[0].rows == 2
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3 and "Where is my parcel?" in lines[1] and "delivery" in lines[1]
    assert dialog.result() == ExportDialog.DialogCode.Accepted


def test_export_dialog_reports_bad_target(qtbot, small_project, tmp_path):
    from workbench.gui.project.export_dialog import ExportDialog

    dialog = ExportDialog(small_project)
    qtbot.addWidget(dialog)
    dialog.path_edit.setText(str(tmp_path / "labels.xlsx"))
    dialog.start_export()
    qtbot.waitUntil(lambda: dialog.job is None, timeout=20_000)
    assert "use .csv, .jsonl or .parquet" in dialog.progress_box.status.text()
    assert not (tmp_path / "labels.xlsx").exists()


def test_wizard_suggests_multilabel_and_a_writable_place(qtbot, tmp_path):
    data = tmp_path / "tags.jsonl"
    data.write_text(
        '{"body": "Late and rude driver", "tags": "delivery|complaint"}\n'
        '{"body": "Thanks, all good", "tags": "praise"}\n',
        encoding="utf-8",
    )
    wizard = NewProjectWizard(start_file=data)
    qtbot.addWidget(wizard)
    wizard.show()
    mapping = wizard.data_page.mapper.mapping()
    assert (mapping.text_col, mapping.label_col) == ("body", "tags")
    assert wizard.data_page.multi_radio.isChecked()
    wizard.next()
    assert wizard.currentPage() is wizard.labels_page
    assert wizard.labels_page.labels() == ["delivery", "complaint", "praise"]
    wizard.next()
    with qtbot.waitSignal(wizard.project_created, timeout=20_000) as blocker:
        wizard.start_import()
    with Project.open(blocker.args[0]) as project:
        assert project.multi_label
        assert project.get_annotation(1, "tester").labels == ("delivery", "complaint")
