"""Span projects from the window: the New project wizard makes one (from a CoNLL file or
plain records), File > Import reads span files with one clear message on bad input (the
project unchanged), and a comment (Ctrl+M) on a record keeps its spans. Real widgets, real
project files, imports in the worker thread."""
from __future__ import annotations

import json
import sqlite3

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QWizard

from workbench.core.data.importer import add_texts
from workbench.core.store import span_operations
from workbench.core.store.project import Project
from workbench.core.store.spans import Span
from workbench.gui.label.label_panel import LabelPanel
from workbench.gui.project.import_dialog import ImportDialog
from workbench.gui.project.new_project_wizard import NewProjectWizard

pytestmark = pytest.mark.timeout(60)

CONLL = """-DOCSTART- O

Take O
aspirin B-drug
100 B-dose
mg I-dose
for O
headache B-condition
. O

Metformin B-drug
twice O
daily O
"""
LABELS = ["drug", "dose", "condition"]


def entities(path):
    """(text, [(entity text, label), ...]) of every record, in record order."""
    with Project.open(path) as project:
        out = []
        for rid in range(1, project.max_record_id() + 1):
            text = project.get_record(rid).text
            spans = sorted({s for a in project.annotations_for(rid) for s in a.spans})
            out.append((text, [(text[s.start:s.end], s.label) for s in spans]))
        return out


def integrity(path):
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchall()
    finally:
        conn.close()


# --------------------------------------------------------------------- the wizard
def test_wizard_creates_a_span_project_from_a_conll_file(qtbot, tmp_path):
    src = tmp_path / "notes.conll"
    src.write_text(CONLL, encoding="utf-8")
    wizard = NewProjectWizard()
    qtbot.addWidget(wizard)
    wizard.show()
    page = wizard.data_page
    assert page.single_radio.isChecked()
    assert page.mapper.set_file(src)
    # A CoNLL file holds entities: the spans task is chosen, the preview shows them.
    assert page.spans_radio.isChecked() and page.task() == "spans"
    assert page.mapper.preview.rowCount() == 2
    assert page.mapper.preview.item(0, 0).text() == "Take aspirin 100 mg for headache."
    assert page.mapper.preview.item(0, 1).text() == (
        "aspirin (drug), 100 mg (dose), headache (condition)")
    assert not page.mapper.text_combo.isVisibleTo(wizard)
    assert page.isComplete()
    # Switching to a classification task with this file is refused with a plain reason.
    page.single_radio.setChecked(True)
    assert not page.isComplete()
    assert "Spans (entities in the text)" in page.problem_label.text()
    page.spans_radio.setChecked(True)
    assert page.isComplete()

    wizard.next()
    labels_page = wizard.labels_page
    assert labels_page.labels() == LABELS
    assert labels_page.add_from_column()
    labels_page.labels_edit.setPlainText("drug\ndose")  # condition comes from the file
    wizard.next()
    assert "spans (entities in the text)" in wizard.import_page.summary.text()
    with qtbot.waitSignal(wizard.project_created, timeout=20_000) as blocker:
        wizard.button(QWizard.WizardButton.FinishButton).click()
    created = blocker.args[0]
    with Project.open(created) as project:
        assert project.task == "spans" and project.is_spans
        assert project.label_names() == ["drug", "dose", "condition"]
    assert entities(created) == [
        ("Take aspirin 100 mg for headache.",
         [("aspirin", "drug"), ("100 mg", "dose"), ("headache", "condition")]),
        ("Metformin twice daily", [("Metformin", "drug")]),
    ]
    assert integrity(created) == [("ok",)]


def test_wizard_span_project_from_plain_records_and_a_bad_file(qtbot, tmp_path):
    plain = tmp_path / "notes.txt"
    plain.write_text("Give aspirin for fever.\nNo medication today.\n", encoding="utf-8")
    wizard = NewProjectWizard()
    qtbot.addWidget(wizard)
    wizard.show()
    page = wizard.data_page
    assert page.mapper.set_file(plain)
    assert page.single_radio.isChecked()
    page.spans_radio.setChecked(True)
    # Plain records: a text column to choose, no label column in a span project.
    assert page.mapper.text_combo.isVisibleTo(wizard)
    assert not page.mapper.label_combo.isVisibleTo(wizard)
    wizard.next()
    assert not wizard.labels_page.from_column_radio.isEnabled()
    assert not wizard.labels_page.isComplete()
    wizard.labels_page.labels_edit.setPlainText("drug\ncondition")
    wizard.next()
    with qtbot.waitSignal(wizard.project_created, timeout=20_000) as blocker:
        wizard.button(QWizard.WizardButton.FinishButton).click()
    created = blocker.args[0]
    with Project.open(created) as project:
        assert project.is_spans and project.label_names() == ["drug", "condition"]
        assert project.record_count() == 2 and project.stats()["labelled"] == 0

    # A CoNLL file whose span names a label not listed (and "only these labels"):
    # one clear message, no project file left behind.
    bad = tmp_path / "bad.conll"
    bad.write_text(CONLL, encoding="utf-8")
    wizard2 = NewProjectWizard()
    qtbot.addWidget(wizard2)
    wizard2.show()
    assert wizard2.data_page.mapper.set_file(bad)
    target = wizard2.data_page.project_path()
    wizard2.next()
    wizard2.labels_page.labels_edit.setPlainText("drug\ndose")
    wizard2.labels_page.typed_radio.setChecked(True)
    wizard2.next()
    assert wizard2.start_import() is not None
    qtbot.waitUntil(lambda: wizard2.job is None, timeout=20_000)
    message = wizard2.import_page.progress_box.status.text()
    assert "'condition'" in message and "line 8" in message
    assert "plus any other label found" in message
    assert "No project was created." in message and "--" not in message
    assert not target.exists()
    assert wizard2.created_path is None


# --------------------------------------------------------------------- File > Import
@pytest.fixture
def spans_project(tmp_path):
    path = tmp_path / "notes.wbproj"
    with Project.create(path, LABELS, task="spans") as project:
        add_texts(project, ["Already here."])
    return path


def _import(qtbot, dialog, src):
    assert dialog.mapper.set_file(src), dialog.mapper.error_label.text()
    assert dialog.import_button.isEnabled()
    finished = []
    dialog.job_finished.connect(lambda: finished.append(True))
    dialog.import_button.click()
    qtbot.waitUntil(lambda: bool(finished), timeout=20_000)


FORMATS = {
    "conll": ("in.conll", CONLL),
    "spacy": ("in.jsonl", json.dumps({"text": "Give aspirin daily", "spans": [
        {"start": 5, "end": 12, "label": "drug"}]}) + "\n"
        + json.dumps({"text": "To label later"}) + "\n"),
    "doccano": ("in.jsonl", json.dumps({"id": 7, "text": "Give aspirin daily",
                                        "label": [[5, 12, "drug"]]}) + "\n"),
    "labelstudio": ("in.json", json.dumps([
        {"data": {"text": "Give aspirin daily"}, "annotations": [{"result": [
            {"value": {"start": 5, "end": 12, "text": "aspirin", "labels": ["drug"]},
             "from_name": "label", "to_name": "text", "type": "labels"}]}]},
        {"data": {"text": "To label later"}}])),
    "plain": ("in.csv", "id,text\nA1,Give aspirin daily\nA2,To label later\n"),
}
EXPECTED = {
    "conll": [("Take aspirin 100 mg for headache.",
               [("aspirin", "drug"), ("100 mg", "dose"), ("headache", "condition")]),
              ("Metformin twice daily", [("Metformin", "drug")])],
    "spacy": [("Give aspirin daily", [("aspirin", "drug")]), ("To label later", [])],
    "doccano": [("Give aspirin daily", [("aspirin", "drug")])],
    "labelstudio": [("Give aspirin daily", [("aspirin", "drug")]), ("To label later", [])],
    "plain": [("Give aspirin daily", []), ("To label later", [])],
}


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_import_dialog_reads_span_files(qtbot, tmp_path, spans_project, fmt):
    name, content = FORMATS[fmt]
    src = tmp_path / name
    src.write_text(content, encoding="utf-8")
    with Project.open(spans_project) as project:
        dialog = ImportDialog(project)
    qtbot.addWidget(dialog)
    dialog.show()
    with qtbot.waitSignal(dialog.imported, timeout=20_000):
        _import(qtbot, dialog, src)
    assert dialog.report is not None
    assert entities(spans_project) == [("Already here.", []), *EXPECTED[fmt]]
    with Project.open(spans_project) as project:
        labelled = sum(1 for _, found in EXPECTED[fmt] if found)
        assert project.stats()["labelled"] == labelled
    if fmt == "plain":
        assert dialog.mapper.text_combo.isVisibleTo(dialog)
        assert not dialog.add_labels_check.isEnabled()


def _snapshot(path):
    with Project.open(path) as project:
        return project.label_names(), project.record_count()


def test_import_dialog_errors_leave_the_project_unchanged(qtbot, tmp_path, spans_project):
    unknown = tmp_path / "unknown.jsonl"
    unknown.write_text(json.dumps({"text": "Ibuprofen for fever", "spans": [
        {"start": 0, "end": 9, "label": "drug"},
        {"start": 14, "end": 19, "label": "symptom"}]}) + "\n", encoding="utf-8")
    overlap = tmp_path / "overlap.jsonl"
    overlap.write_text(json.dumps({"text": "Ibuprofen 200 mg", "spans": [
        {"start": 0, "end": 16, "label": "drug"},
        {"start": 10, "end": 16, "label": "dose"}]}) + "\n", encoding="utf-8")
    broken = tmp_path / "broken.conll"
    broken.write_text("Take O\naspirin B-drug extra-column X\nfor\n", encoding="utf-8")
    before = _snapshot(spans_project)

    with Project.open(spans_project) as project:
        dialog = ImportDialog(project)
    qtbot.addWidget(dialog)
    dialog.show()
    assert "Add the new labels" in dialog.add_labels_check.text()
    _import(qtbot, dialog, unknown)
    message = dialog.progress_box.status.text()
    assert "'symptom'" in message and "line 1" in message
    assert "Add the new labels" in message and "--" not in message
    assert "Nothing was imported." in message
    assert _snapshot(spans_project) == before
    assert dialog.isVisible()

    _import(qtbot, dialog, overlap)
    message = dialog.progress_box.status.text()
    assert "overlap" in message and "Nothing was imported." in message
    assert _snapshot(spans_project) == before

    # A broken CoNLL file is named at preview time, before any import.
    assert not dialog.mapper.set_file(broken)
    assert "broken.conll" in dialog.mapper.error_label.text()
    assert not dialog.import_button.isEnabled()
    assert _snapshot(spans_project) == before

    # Ticking "Add the new labels" imports the file and its new label.
    dialog.add_labels_check.setChecked(True)
    with qtbot.waitSignal(dialog.imported, timeout=20_000):
        _import(qtbot, dialog, unknown)
    assert _snapshot(spans_project) == (LABELS + ["symptom"], 2)
    assert entities(spans_project)[1] == (
        "Ibuprofen for fever", [("Ibuprofen", "drug"), ("fever", "symptom")])
    assert integrity(spans_project) == [("ok",)]


# --------------------------------------------------------------------- Ctrl+M keeps spans
def test_comment_in_the_label_panel_keeps_spans(qtbot, tmp_path):
    note = "Aspirin 100 mg for headache."
    project = Project.create(tmp_path / "c.wbproj", LABELS, task="spans")
    add_texts(project, [note])
    spans = (Span(0, 7, "drug"), Span(8, 14, "dose"))
    span_operations.set_spans(project, 1, spans, annotator="tester")
    panel = LabelPanel()
    panel.annotator = "tester"
    qtbot.addWidget(panel)
    panel.resize(900, 600)
    with qtbot.waitActive(panel):
        panel.show()
        panel.activateWindow()
    panel.set_project(project)
    panel.show_record(1)
    messages = []
    panel.status_message.connect(messages.append)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier)
    assert panel.comment_edit.isVisible()
    qtbot.keyClicks(panel.comment_edit, "check the dose")
    qtbot.keyClick(panel.comment_edit, Qt.Key.Key_Return)
    ann = project.get_annotation(1, "tester")
    assert ann.comment == "check the dose"
    assert ann.spans == spans and ann.status == "labelled"
    assert messages[-1] == "Comment saved on record 1."
    assert not any("span project" in m for m in messages)
    project.close()
