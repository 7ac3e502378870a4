"""The Label panel driven with real key presses; the database is checked after each step."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from workbench.core.data.importer import import_rows
from workbench.core.store.project import Project
from workbench.core.textnorm import content_hash
from workbench.gui.label.label_panel import RESERVED_LABEL_KEYS, LabelPanel
from workbench.gui.label.record_view import PREVIEW_CHARS

ME = "tester"
LABELS = ["billing", "delivery", "account"]


def _make(path, n=10, multi=False):
    project = Project.create(path, LABELS, multi_label=multi)
    rows = [{"text": f"customer message number {i}", "channel": "email"} for i in range(1, n + 1)]
    import_rows(project, rows, text_col="text")
    return project


@pytest.fixture
def project(project_path):
    proj = _make(project_path)
    yield proj
    proj.close()


@pytest.fixture
def panel(qtbot):
    widget = LabelPanel()
    qtbot.addWidget(widget)
    widget.resize(1000, 700)
    with qtbot.waitActive(widget):
        widget.show()
        widget.activateWindow()
    return widget


def press(qtbot, key, modifier=Qt.KeyboardModifier.NoModifier):
    """A key press on whatever has keyboard focus, as a user would type it."""
    target = QApplication.focusWidget()
    assert target is not None
    qtbot.keyClick(target, key, modifier)


def ann(project, rid, who=ME):
    return project.get_annotation(rid, who)


def test_label_keys_save_and_move_on(qtbot, panel, project):
    seen = []
    panel.progress_changed.connect(lambda done, total: seen.append((done, total)))
    panel.set_project(project)
    assert panel.current.id == 1
    assert QApplication.focusWidget() is panel.record_text.editor
    press(qtbot, Qt.Key.Key_1)
    assert ann(project, 1).labels == ("billing",)
    assert ann(project, 1).status == "labelled"
    assert panel.current.id == 2
    press(qtbot, Qt.Key.Key_3)
    assert ann(project, 2).labels == ("account",)
    assert panel.current.id == 3
    assert seen[-1] == (2, 10)
    assert "Labelled <b>2</b> of 10" in panel.progress_label.text()
    assert panel.counts.by_label == {"billing": 1, "delivery": 0, "account": 1}
    assert "· 1" in panel.label_buttons.buttons["billing"].text()
    assert "[1]" in panel.label_buttons.buttons["billing"].text()


def test_clicking_a_label_button_saves(qtbot, panel, project):
    panel.set_project(project)
    qtbot.mouseClick(panel.label_buttons.buttons["delivery"], Qt.MouseButton.LeftButton)
    assert ann(project, 1).labels == ("delivery",)
    assert panel.current.id == 2


def test_multi_label_keys_toggle_and_enter_saves(qtbot, panel, project_path):
    project = _make(project_path, multi=True)
    panel.set_project(project)
    press(qtbot, Qt.Key.Key_Return)  # nothing chosen: nothing saved, no move
    assert ann(project, 1) is None and panel.current.id == 1
    press(qtbot, Qt.Key.Key_1)
    press(qtbot, Qt.Key.Key_3)
    press(qtbot, Qt.Key.Key_2)
    press(qtbot, Qt.Key.Key_3)  # toggled off again
    assert ann(project, 1) is None, "toggling does not save"
    assert panel.label_buttons.buttons["delivery"].isChecked()
    assert not panel.label_buttons.buttons["account"].isChecked()
    press(qtbot, Qt.Key.Key_Return)
    assert set(ann(project, 1).labels) == {"billing", "delivery"}
    assert panel.current.id == 2
    press(qtbot, Qt.Key.Key_2)
    press(qtbot, Qt.Key.Key_Enter)
    assert ann(project, 2).labels == ("delivery",)
    project.close()


def test_undo_and_redo(qtbot, panel, project):
    panel.set_project(project)
    press(qtbot, Qt.Key.Key_1)
    press(qtbot, Qt.Key.Key_2)
    assert panel.current.id == 3
    press(qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert ann(project, 2) is None
    assert ann(project, 1).labels == ("billing",)
    assert panel.current.id == 2, "undo shows the record that changed"
    assert panel.counts.labelled == 1
    press(qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert ann(project, 1) is None
    press(qtbot, Qt.Key.Key_Z,
          Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert ann(project, 1).labels == ("billing",)
    press(qtbot, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert ann(project, 2).labels == ("delivery",)
    assert panel.counts.labelled == 2
    # Relabel after undo: a new change drops the redo history.
    press(qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert panel.current.id == 2
    press(qtbot, Qt.Key.Key_3)
    assert ann(project, 2).labels == ("account",)
    assert not panel.undo_stack.canRedo()


def test_undo_restores_the_previous_label_not_just_deletes(qtbot, panel, project):
    panel.set_project(project)
    press(qtbot, Qt.Key.Key_1)
    press(qtbot, Qt.Key.Key_PageUp)
    assert panel.current.id == 1
    press(qtbot, Qt.Key.Key_2)
    assert ann(project, 1).labels == ("delivery",)
    press(qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert ann(project, 1).labels == ("billing",)


def test_skip_flag_and_comment(qtbot, panel, project):
    panel.set_project(project)
    press(qtbot, Qt.Key.Key_S)
    assert ann(project, 1).status == "skipped" and ann(project, 1).labels == ()
    assert panel.current.id == 2
    # A comment before the label is kept and saved with it.
    press(qtbot, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier)
    assert panel.comment_edit.isVisible()
    qtbot.keyClicks(panel.comment_edit, "unsure: two issues")
    press(qtbot, Qt.Key.Key_Return)
    assert not panel.comment_edit.isVisible()
    assert ann(project, 2) is None
    press(qtbot, Qt.Key.Key_2)
    assert ann(project, 2).labels == ("delivery",)
    assert ann(project, 2).comment == "unsure: two issues"
    # Flag record 3, then comment on an existing annotation: saved at once.
    press(qtbot, Qt.Key.Key_F)
    assert ann(project, 3).status == "flagged"
    press(qtbot, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    assert panel.current.id == 3
    press(qtbot, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(panel.comment_edit, "ask a colleague")
    press(qtbot, Qt.Key.Key_Return)
    assert ann(project, 3).comment == "ask a colleague"
    assert ann(project, 3).status == "flagged"
    # Escape cancels a comment without saving; keys work again afterwards.
    press(qtbot, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(panel.comment_edit, "1 2 3 s f")
    assert ann(project, 3).status == "flagged", "typing in the comment box labels nothing"
    press(qtbot, Qt.Key.Key_Escape)
    assert ann(project, 3).comment == "ask a colleague"
    press(qtbot, Qt.Key.Key_1)
    assert ann(project, 3).labels == ("billing",) and ann(project, 3).status == "labelled"
    assert ann(project, 3).comment == "ask a colleague", "relabelling keeps the comment"
    assert panel.counts.by_status == {"labelled": 2, "skipped": 1, "flagged": 0}


def test_back_and_forward(qtbot, panel, project):
    panel.set_project(project)
    for _ in range(3):
        press(qtbot, Qt.Key.Key_1)
    assert panel.current.id == 4
    press(qtbot, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    press(qtbot, Qt.Key.Key_PageUp)
    assert panel.current.id == 2
    assert panel.label_buttons.buttons["billing"].isChecked()
    press(qtbot, Qt.Key.Key_PageDown)
    assert panel.current.id == 3
    # Relabel a record seen before: saved, and the view moves forward to the next one seen.
    press(qtbot, Qt.Key.Key_2)
    assert ann(project, 3).labels == ("delivery",)
    assert panel.current.id == 4
    press(qtbot, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    assert panel.current.id == 5, "forward past the end takes the next queue record"
    assert ann(project, 4) is None
    press(qtbot, Qt.Key.Key_1)
    assert ann(project, 5).labels == ("billing",)
    assert panel.current.id == 6


def test_queue_runs_dry_then_shows_done(qtbot, panel, project_path):
    project = _make(project_path, n=2)
    panel.set_project(project)
    press(qtbot, Qt.Key.Key_1)
    press(qtbot, Qt.Key.Key_1)
    assert panel.current is None
    assert "No more records" in panel.record_text.editor.placeholderText()
    # A finished state that says what to do next, not "(this record has no text)".
    assert "What next: train a model" in panel.record_text.editor.placeholderText()
    assert panel.suggester_label.text().startswith("Suggestions: Every record is labelled")
    assert not panel.act_skip.isEnabled()
    press(qtbot, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    assert panel.current.id == 2
    project.close()


def test_show_records_then_back_to_queue(qtbot, panel, project):
    panel.set_project(project)
    panel.show_records([7, 9])
    assert panel.current.id == 7
    press(qtbot, Qt.Key.Key_2)
    assert ann(project, 7).labels == ("delivery",)
    assert panel.current.id == 9
    press(qtbot, Qt.Key.Key_2)
    assert panel.current.id == 1, "then the queue continues where it was"


def test_one_megabyte_record_and_empty_record(qtbot, panel, project):
    big = ("lorem ipsum dolor sit amet " * 40000)[:1_000_000]
    import_rows(project, [{"text": big}], text_col="text")
    big_id = project.max_record_id()
    # Imports skip empty texts; an empty record can still come from an older file.
    empty_id = big_id + 1
    project.conn.execute(
        "INSERT INTO main.records(id, text, hash) VALUES (?, '', ?)", [empty_id, content_hash("")]
    )
    panel.set_project(project)
    panel.show_records([big_id, empty_id])
    assert panel.record_text.truncated
    assert len(panel.record_text.shown_text()) == PREVIEW_CHARS
    assert panel.record_text.cut_bar.isVisibleTo(panel)
    qtbot.mouseClick(panel.record_text.show_all_button, Qt.MouseButton.LeftButton)
    assert len(panel.record_text.shown_text()) == len(big)
    press(qtbot, Qt.Key.Key_1)
    assert ann(project, big_id).labels == ("billing",)
    assert panel.current.id == empty_id
    assert panel.record_text.shown_text() == ""
    assert not panel.record_text.cut_bar.isVisibleTo(panel)
    press(qtbot, Qt.Key.Key_S)
    assert ann(project, empty_id).status == "skipped"


def test_right_to_left_text_reads_right_to_left(qtbot, panel, project):
    import_rows(project, [{"text": "مرحبا، لم أتلق طلبي بعد"}, {"text": "我的账户无法登录"}],
                text_col="text")
    panel.set_project(project)
    panel.show_records([11, 12])
    assert panel.record_text.editor.layoutDirection() == Qt.LayoutDirection.RightToLeft
    option = panel.record_text.editor.document().defaultTextOption()
    assert option.textDirection() == Qt.LayoutDirection.RightToLeft
    assert option.alignment() & Qt.AlignmentFlag.AlignRight
    press(qtbot, Qt.Key.Key_1)
    assert panel.record_text.shown_text() == "我的账户无法登录"
    assert panel.record_text.editor.layoutDirection() == Qt.LayoutDirection.LeftToRight
    option = panel.record_text.editor.document().defaultTextOption()
    assert option.alignment() & Qt.AlignmentFlag.AlignLeft


def test_blind_hides_other_annotators_unless_turned_off(qtbot, panel, project):
    project.annotate(1, ["account"], annotator="bob")
    panel.set_project(project)
    assert "bob" not in panel.annotation_label.text()
    project.set_meta("blind", "0")
    panel.refresh()
    assert "bob" in panel.annotation_label.text()
    assert "account" in panel.annotation_label.text()


def test_refresh_after_label_rename_keeps_annotations(qtbot, panel, project):
    panel.set_project(project)
    press(qtbot, Qt.Key.Key_1)
    project.rename_label("billing", "payments")
    panel.refresh()
    assert "payments" in panel.label_buttons.buttons
    assert panel.counts.by_label["payments"] == 1
    press(qtbot, Qt.Key.Key_1)
    assert ann(project, 2).labels == ("payments",)


def test_reserved_keys_are_not_default_label_shortcuts():
    from workbench.core.store.project import DEFAULT_SHORTCUTS

    assert not RESERVED_LABEL_KEYS & set(DEFAULT_SHORTCUTS)


def test_panel_without_project_is_inert(qtbot, panel):
    assert panel.current is None
    press(qtbot, Qt.Key.Key_1)
    press(qtbot, Qt.Key.Key_S)
    assert "Open or create a project" in panel.record_text.editor.placeholderText()


def test_queue_strategy_chooser_lists_strategies(qtbot, panel, project):
    from workbench.core.assist.navigation import available_strategies

    panel.set_project(project)
    names = [panel.queue_combo.itemText(i) for i in range(panel.queue_combo.count())]
    assert names == available_strategies()
    assert names[0] == "order"


def test_choosing_another_queue_order(qtbot, panel, project):
    from workbench.core.assist.navigation import available_strategies

    if "random" not in available_strategies():
        pytest.skip("no random queue order installed")
    panel.set_project(project)
    press(qtbot, Qt.Key.Key_1)
    panel.queue_combo.setCurrentIndex(panel.queue_combo.findText("random"))
    panel.queue_combo.activated.emit(panel.queue_combo.currentIndex())
    assert panel.nav.strategy.name == "random"
    seen = []
    while panel.current is not None:
        seen.append(panel.current.id)
        press(qtbot, Qt.Key.Key_2)
    assert sorted(seen) == list(range(2, 11)), "every remaining record, each once"
    assert project.stats()["by_annotator"] == {ME: 10}


def test_f1_shows_the_guidelines_on_first_press(qtbot, panel, project_path):
    project = _make(project_path, n=2)
    panel.set_project(project)
    assert panel.help_view.isVisible()
    press(qtbot, Qt.Key.Key_F1)
    assert panel.help_view.isVisible(), "the first F1 brings the guidelines up, not away"
    press(qtbot, Qt.Key.Key_F1)
    assert panel.help_view.isHidden()
    press(qtbot, Qt.Key.Key_F1)
    assert panel.help_view.isVisible()
    project.close()
