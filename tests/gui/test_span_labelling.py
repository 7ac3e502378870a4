"""Span labelling in the real Label panel, driven by key presses and mouse drags; the
project file is read back after each step."""
from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QApplication

from workbench.core.data.importer import add_texts
from workbench.core.store.project import Project
from workbench.core.store.spans import Span
from workbench.gui.label.label_panel import LabelPanel
from workbench.gui.label.record_view import PREVIEW_CHARS

ME = "tester"
LABELS = ["drug", "dose", "condition"]  # keys 1, 2, 3
NOTE = "Aspirin 100 mg twice daily for headache; aspirin again."
CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier


def _spans_project(path, texts):
    project = Project.create(path, LABELS, task="spans")
    add_texts(project, texts)
    return project


@pytest.fixture
def project(tmp_path):
    proj = _spans_project(tmp_path / "notes.wbproj",
                          [NOTE, "Give aspirin for fever.", "No medication today."])
    yield proj
    proj.close()


@pytest.fixture
def panel(qtbot):
    widget = LabelPanel()
    widget.annotator = ME
    qtbot.addWidget(widget)
    widget.resize(1000, 700)
    with qtbot.waitActive(widget):
        widget.show()
        widget.activateWindow()
    return widget


def press(qtbot, key, modifier=Qt.KeyboardModifier.NoModifier):
    target = QApplication.focusWidget()
    assert target is not None
    qtbot.keyClick(target, key, modifier)


def spans(project, rid, who=ME):
    ann = project.get_annotation(rid, who)
    return [] if ann is None else sorted(ann.spans)


def point_of(editor, offset):
    """Viewport point in the middle of the character at ``offset`` (record-text offset)."""
    cursor = QTextCursor(editor.document())
    cursor.setPosition(editor.offsets.to_doc(offset))
    left = editor.cursorRect(cursor)
    cursor.setPosition(editor.offsets.to_doc(offset + 1))
    right = editor.cursorRect(cursor)
    if left.top() != right.top():
        return left.center() + QPoint(2, 0)
    return QPoint((left.center().x() + right.center().x()) // 2, left.center().y())


def drag(qtbot, editor, start, end):
    """Drag the mouse from the character at ``start`` to the one at ``end``."""
    viewport = editor.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=point_of(editor, start))
    qtbot.mouseMove(viewport, point_of(editor, end))
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=point_of(editor, end))


def test_spans_project_uses_the_span_editor(panel, project, small_project):
    panel.set_project(small_project)
    assert panel.record_text.editor is panel.record_text.plain_editor
    assert not panel.label_page.span_bar.isVisibleTo(panel)
    panel.set_project(project)
    editor = panel.record_text.editor
    assert editor is panel.record_text.span_editor
    assert panel.label_page.span_bar.isVisibleTo(panel)
    assert editor.toPlainText() == NOTE
    assert QApplication.focusWidget() is editor
    assert "Delete" in panel.help_view.toPlainText()


def test_keyboard_selection_and_label_key_add_a_span(qtbot, panel, project):
    panel.set_project(project)
    rid = panel.current.id
    editor = panel.record_text.editor
    editor.set_caret(0)
    press(qtbot, Qt.Key.Key_Right, CTRL | SHIFT)  # "Aspirin " (snapped to "Aspirin")
    press(qtbot, Qt.Key.Key_1)
    assert spans(project, rid) == [Span(0, 7, "drug")]
    assert panel.current.id == rid  # stays on the record
    # Move by word to "100", extend over "mg", label it dose.
    press(qtbot, Qt.Key.Key_Right, CTRL)
    assert editor.caret() == 8
    press(qtbot, Qt.Key.Key_Right, CTRL | SHIFT)
    press(qtbot, Qt.Key.Key_Right, CTRL | SHIFT)
    press(qtbot, Qt.Key.Key_2)
    assert spans(project, rid) == [Span(0, 7, "drug"), Span(8, 14, "dose")]
    assert [s.label for s in editor.spans] == ["drug", "dose"]
    assert len(editor.extraSelections()) == 2
    ann = project.get_annotation(rid, ME)
    assert ann.status == "labelled" and ann.labels == ("drug", "dose")


def test_mouse_selection_snaps_to_words(qtbot, panel, project):
    panel.set_project(project)
    rid = panel.current.id
    editor = panel.record_text.editor
    drag(qtbot, editor, NOTE.index("00 mg"), NOTE.index("wice"))  # mid-word to mid-word
    assert editor.selected_range() == (NOTE.index("100"), NOTE.index(" daily"))
    press(qtbot, Qt.Key.Key_2)
    assert spans(project, rid) == [Span(8, 20, "dose")]


def test_label_key_relabels_and_delete_removes_the_span_under_the_caret(qtbot, panel, project):
    panel.set_project(project)
    rid = panel.current.id
    editor = panel.record_text.editor
    editor.select_range(31, 39)  # "headache"
    press(qtbot, Qt.Key.Key_1)
    assert spans(project, rid) == [Span(31, 39, "drug")]
    qtbot.mouseClick(editor.viewport(), Qt.MouseButton.LeftButton, pos=point_of(editor, 34))
    assert editor.current == Span(31, 39, "drug")
    assert "headache" in panel.label_page.span_bar.info.text()
    press(qtbot, Qt.Key.Key_3)
    assert spans(project, rid) == [Span(31, 39, "condition")]
    press(qtbot, Qt.Key.Key_Delete)
    assert spans(project, rid) == []
    # Undo twice brings back the relabelled, then the first span; redo re-applies.
    press(qtbot, Qt.Key.Key_Z, CTRL)
    assert spans(project, rid) == [Span(31, 39, "condition")]
    press(qtbot, Qt.Key.Key_Z, CTRL)
    assert spans(project, rid) == [Span(31, 39, "drug")]
    press(qtbot, Qt.Key.Key_Z, CTRL | SHIFT)
    assert spans(project, rid) == [Span(31, 39, "condition")]
    assert [s.label for s in editor.spans] == ["condition"]


def test_overlaps_refused_until_turned_on_for_the_project(qtbot, panel, project):
    messages = []
    panel.status_message.connect(messages.append)
    panel.set_project(project)
    rid = panel.current.id
    editor = panel.record_text.editor
    editor.select_range(8, 14)  # "100 mg"
    press(qtbot, Qt.Key.Key_2)
    editor.select_range(12, 20)  # "mg twice" overlaps
    press(qtbot, Qt.Key.Key_1)
    assert spans(project, rid) == [Span(8, 14, "dose")]
    assert "overlap" in messages[-1]
    box = panel.label_page.span_bar.overlap_box
    assert not box.isChecked()
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton)
    assert project.allow_overlapping_spans
    editor = panel.record_text.editor
    editor.select_range(12, 20)
    press(qtbot, Qt.Key.Key_1)
    assert spans(project, rid) == [Span(8, 14, "dose"), Span(12, 20, "drug")]
    assert panel.record_text.span_editor.depths == [0, 1]
    assert len(editor.extraSelections()) == 2
    # A span holding others (nested) is a bar under its words, not a background.
    editor.select_range(0, 20)
    press(qtbot, Qt.Key.Key_3)
    assert Span(0, 20, "condition") in spans(project, rid)
    assert editor.outer == [True, False, False]
    assert len(editor.extraSelections()) == 2
    # Turning overlaps off while a record overlaps is refused, the box stays on.
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton)
    assert project.allow_overlapping_spans and box.isChecked()
    assert "overlapping" in messages[-1]


def test_every_occurrence_is_one_undoable_step(qtbot, panel, project):
    panel.set_project(project)
    rid = panel.current.id
    editor = panel.record_text.editor
    start = NOTE.index("aspirin again")
    editor.select_range(start, start + 7)
    press(qtbot, Qt.Key.Key_1)
    editor.set_caret(start + 2)
    press(qtbot, Qt.Key.Key_E, CTRL)
    other = next(r for r in project.search('"aspirin"', limit=10) if r != rid)
    assert spans(project, other) == [Span(5, 12, "drug")]
    # Case-sensitive: "Aspirin" at 0 is another text.
    assert spans(project, rid) == [Span(start, start + 7, "drug")]
    press(qtbot, Qt.Key.Key_Z, CTRL)
    assert spans(project, other) == []
    assert spans(project, rid) == [Span(start, start + 7, "drug")]


def test_enter_confirms_a_record_without_spans_and_moves_on(qtbot, panel, project):
    panel.set_project(project)
    first = panel.current.id
    press(qtbot, Qt.Key.Key_Return)
    ann = project.get_annotation(first, ME)
    assert ann.status == "labelled" and ann.spans == ()
    assert panel.current.id != first
    # Flag keeps the spans marked so far.
    rid = panel.current.id
    panel.record_text.editor.select_range(5, 12)
    press(qtbot, Qt.Key.Key_1)
    press(qtbot, Qt.Key.Key_F)
    ann = project.get_annotation(rid, ME)
    assert ann.status == "flagged" and ann.spans == (Span(5, 12, "drug"),)


def test_a_1mb_record_loads_and_takes_a_span_at_its_end(qtbot, panel, tmp_path):
    words = "Aspirin 100 mg daily. " * 48_000  # about 1 MB
    text = words + "Ends with warfarin"
    project = _spans_project(tmp_path / "long.wbproj", [text])
    try:
        panel.set_project(project)
        record_text = panel.record_text
        assert record_text.truncated
        assert len(record_text.editor.toPlainText()) == PREVIEW_CHARS
        record_text.show_all()
        editor = record_text.editor
        assert editor.document().characterCount() == len(text) + 1
        start = text.index("warfarin")
        relaid = []  # the text is never set again while spans change
        editor.document().contentsChange.connect(lambda *args: relaid.append(args))
        editor.select_range(start + 2, start + 5)
        press(qtbot, Qt.Key.Key_1)
        assert spans(project, panel.current.id) == [Span(start, start + 8, "drug")]
        editor.select_range(0, 3)
        press(qtbot, Qt.Key.Key_1)
        assert len(spans(project, panel.current.id)) == 2
        assert len(editor.extraSelections()) == 2
        press(qtbot, Qt.Key.Key_Z, CTRL)
        assert len(spans(project, panel.current.id)) == 1
        assert relaid == []
    finally:
        project.close()


@pytest.mark.parametrize("text, word", [
    ("المريض يتناول الأسبرين يوميا", "الأسبرين"),
    ("החולה מקבל אספירין כל יום", "אספירין"),
    ("Note 😀 then\r\nwarfarin 5 mg", "warfarin"),
])
def test_right_to_left_and_shifted_offsets_stay_correct(qtbot, panel, tmp_path, text, word):
    project = _spans_project(tmp_path / "rtl.wbproj", [text])
    try:
        panel.set_project(project)
        editor = panel.record_text.editor
        start = text.index(word)
        drag(qtbot, editor, start + 1, start + len(word) - 2)
        assert editor.selected_range() == (start, start + len(word))
        press(qtbot, Qt.Key.Key_1)
        got = spans(project, panel.current.id)
        assert got == [Span(start, start + len(word), "drug")]
        assert text[got[0].start:got[0].end] == word
    finally:
        project.close()


def _store_suggestions(project, record_id, predicted):
    from workbench.core.assist.span_suggestions import store_span_predictions
    from workbench.core.training.runs import create_run, finish_run

    run_id = create_run(project, base_model="tiny", config={}, snapshot_hash="x", device="cpu")
    finish_run(project, run_id, status="completed", model_path="model")
    store_span_predictions(project, run_id, [(record_id, predicted, 0.2)])
    return run_id


def test_suggested_spans_are_dashed_and_enter_accepts_them(qtbot, panel, project):
    _store_suggestions(project, 1, [(Span(0, 7, "drug"), 0.9), (Span(8, 14, "dose"), 0.7)])
    panel.set_project(project)
    assert panel.current.id == 1
    editor = panel.record_text.editor
    assert [s for s, _p in editor.suggestions] == [Span(0, 7, "drug"), Span(8, 14, "dose")]
    assert editor.extraSelections() == []  # suggestions are outlines, not spans
    info = panel.label_page.span_bar.info
    editor.set_caret(30)
    assert "Suggested" not in info.text()
    editor.set_caret(10)  # on "100 mg"
    assert info.text().startswith("Suggested dose (8–14)") and "Enter accepts" in info.text()
    press(qtbot, Qt.Key.Key_Return)
    ann = project.get_annotation(1, ME)
    assert ann.spans == (Span(8, 14, "dose"),) and ann.provenance == "accepted suggestion"
    assert [s for s, _p in editor.suggestions] == [Span(0, 7, "drug")]
    editor.set_caret(30)  # on no suggestion: Enter accepts every one left
    press(qtbot, Qt.Key.Key_Return)
    assert spans(project, 1) == [Span(0, 7, "drug"), Span(8, 14, "dose")]
    assert editor.suggestions == [] and panel.current.id == 1
    press(qtbot, Qt.Key.Key_Return)  # nothing left to accept: done, next record
    assert panel.current.id != 1
    press(qtbot, Qt.Key.Key_Z, CTRL)  # undo shows the record again, without the last accept
    assert panel.current.id == 1
    assert spans(project, 1) == [Span(8, 14, "dose")]
    assert [s for s, _p in editor.suggestions] == [Span(0, 7, "drug")]


def test_records_table_shows_span_counts_per_label(qtbot, panel, project):
    panel.set_project(project)
    editor = panel.record_text.editor
    for (start, end), key in (((0, 7), Qt.Key.Key_1), ((8, 14), Qt.Key.Key_2),
                              ((41, 48), Qt.Key.Key_1)):
        editor.select_range(start, end)
        press(qtbot, key)
    press(qtbot, Qt.Key.Key_Return)  # done with record 1
    press(qtbot, Qt.Key.Key_Return)  # record 2 done without entities
    panel.tabs.setCurrentWidget(panel.browser)
    model = panel.browser.model
    assert model.headerData(1, Qt.Orientation.Horizontal) == "Spans"
    shown = {model.record_id(r): model.data(model.index(r, 1)) for r in range(model.rowCount())}
    assert shown == {1: "drug 2, dose 1", 2: "(no entities)", 3: ""}
    messages = []
    panel.status_message.connect(messages.append)
    panel.browser.select_record(1)
    panel.browser.view.setFocus()
    press(qtbot, Qt.Key.Key_3)
    assert "open it" in messages[-1]
    assert spans(project, 1) == [Span(0, 7, "drug"), Span(8, 14, "dose"), Span(41, 48, "drug")]


def test_caret_word_selection_delete_and_ctrl_enter(qtbot, panel, project):
    messages = []
    panel.status_message.connect(messages.append)
    panel.set_project(project)
    rid = panel.current.id
    editor = panel.record_text.editor
    editor.set_caret(NOTE.index("headache") + 3)  # no selection: the word under the caret
    press(qtbot, Qt.Key.Key_3)
    editor.set_caret(NOTE.index("twice"))
    press(qtbot, Qt.Key.Key_Right, CTRL | SHIFT)
    press(qtbot, Qt.Key.Key_Right, CTRL | SHIFT)
    press(qtbot, Qt.Key.Key_2)
    assert spans(project, rid) == [Span(15, 26, "dose"), Span(31, 39, "condition")]
    editor.set_caret(NOTE.index("; ") + 1)  # between words: nothing to label
    before = panel.undo_stack.count()
    press(qtbot, Qt.Key.Key_1)
    assert panel.undo_stack.count() == before and "Select some words" in messages[-1]
    editor.select_range(0, NOTE.index(";"))  # Delete removes every span inside a selection
    press(qtbot, Qt.Key.Key_Delete)
    assert spans(project, rid) == []
    press(qtbot, Qt.Key.Key_Return, CTRL)
    assert project.get_annotation(rid, ME).status == "labelled"
    assert panel.current.id != rid
