"""The label editor changes the real project and protects annotations."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from workbench.gui.label.label_editor import LabelEditorDialog

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def editor(qtbot, small_project):
    dialog = LabelEditorDialog(small_project)
    qtbot.addWidget(dialog)
    dialog.questions = []
    return dialog


def answer(dialog, reply: bool):
    def confirm(title, text):
        dialog.questions.append(text)
        return reply

    dialog.confirm = confirm


def test_lists_labels_with_keys(editor):
    texts = [editor.list.item(i).text() for i in range(editor.list.count())]
    assert texts == ["billing   [1]", "delivery   [2]", "account   [3]"]
    assert editor.name_edit.text() == "billing"
    assert editor.shortcut_edit.text() == "1"


def test_rename_keeps_annotations(editor, small_project):
    small_project.annotate(1, ["delivery"])
    with_signal = []
    editor.labels_changed.connect(lambda: with_signal.append(1))
    assert editor.rename_label("delivery", "parcel")
    assert small_project.get_annotation(1).labels == ("parcel",)
    assert with_signal
    # Through the form: select, type the new name, save.
    editor.list.setCurrentRow(1)
    editor.name_edit.setText("shipping")
    editor.apply_button.click()
    assert small_project.label_names() == ["billing", "shipping", "account"]
    assert small_project.get_annotation(1).labels == ("shipping",)
    assert editor.selected_name() == "shipping"
    # Renaming onto an existing name is refused and changes nothing.
    assert not editor.rename_label("shipping", "billing")
    assert "already exists" in editor.message.text()
    assert small_project.label_names() == ["billing", "shipping", "account"]


def test_shortcut_conflicts_are_refused(editor, small_project):
    assert not editor.set_shortcut("account", "1")
    assert "already used by 'billing'" in editor.message.text()
    assert not editor.set_shortcut("account", "s")  # the labelling view's Skip key
    assert "kept for" in editor.message.text()
    assert not editor.set_shortcut("account", "!")
    assert [lab.shortcut for lab in small_project.labels()] == ["1", "2", "3"]
    # Through the form, upper case is accepted and stored lower case.
    editor.list.setCurrentRow(2)
    editor.shortcut_edit.setText("A")
    editor.apply_button.click()
    assert small_project.labels()[2].shortcut == "a"
    assert editor.list.item(2).text() == "account   [A]"
    assert editor.set_shortcut("account", "")
    assert small_project.labels()[2].shortcut is None


def test_delete_in_use_asks_with_count(editor, small_project):
    small_project.annotate(1, ["billing"])
    small_project.annotate(2, ["billing"], annotator="someone")
    answer(editor, False)
    assert not editor.delete_label("billing")
    assert "2 annotations use the label 'billing'" in editor.questions[-1]
    assert "billing" in small_project.label_names()
    answer(editor, True)
    assert editor.delete_label("billing")
    assert small_project.label_names() == ["delivery", "account"]
    assert small_project.label_usage("delivery") == 0
    assert "2 annotations changed" in editor.message.text()
    # An unused label also asks, saying nobody uses it.
    editor.list.setCurrentRow(1)
    editor.delete_button.click()
    assert "No annotation uses it" in editor.questions[-1]
    assert small_project.label_names() == ["delivery"]


def test_add_reorder_recolour_and_guideline(editor, small_project):
    editor.ask_text = lambda *a, **k: "refund"
    editor.add_button.click()
    assert small_project.label_names()[-1] == "refund"
    assert small_project.labels()[-1].shortcut == "4"
    assert not editor.add_label("refund")
    assert editor.move_label("refund", -1)
    assert small_project.label_names() == ["billing", "delivery", "refund", "account"]
    editor.list.setCurrentRow(0)
    editor.up_button.click()  # already first: nothing happens
    assert small_project.label_names()[0] == "billing"
    editor.ask_color = lambda initial: "#123456"
    editor.color_button.click()
    assert small_project.labels()[0].color == "#123456"
    editor.guideline_edit.setPlainText("  Payments, invoices and charges.  ")
    editor.apply_button.click()
    assert small_project.labels()[0].guideline == "Payments, invoices and charges."
    assert editor.list.item(0).toolTip() == "Payments, invoices and charges."
    assert editor.list.item(0).data(Qt.ItemDataRole.UserRole) == "billing"
