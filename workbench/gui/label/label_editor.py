"""The label editor: add, rename, recolour, reorder and delete labels; set each label's
shortcut key and guideline.

Every change is saved at once through :class:`workbench.core.store.project.Project` (renaming
keeps annotations, they refer to labels by id). A shortcut that another label or the
labelling view already uses is refused with a message; deleting a label that is in use
asks first and says how many annotations it affects.
"""
from __future__ import annotations

import logging

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QColorDialog,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from workbench.core.errors import WorkbenchError
from workbench.core.store.project import Label, Project
from workbench.gui.label.keys import KEYS, RESERVED_LABEL_KEYS

__all__ = ["LabelEditorDialog", "reserved_keys", "normalise_shortcut"]


log = logging.getLogger(__name__)

def reserved_keys() -> dict[str, str]:
    """Single keys the labelling view keeps for its own actions (key -> action)."""
    # Name each key by the panel's action that uses it ("skip" -> "Skip").
    actions = {str(v).lower(): k for k, v in KEYS.items()}
    names = {"skip": "Skip", "flag": "Flag for review"}
    result = {}
    for key in RESERVED_LABEL_KEYS:
        key = str(key).lower()
        action = actions.get(key, "")
        result[key] = names.get(action, action.replace("_", " ").capitalize() or "another action")
    return result


def normalise_shortcut(text: str) -> str:
    """A shortcut as stored: one lower-case letter or digit ('' for none)."""
    return text.strip().lower()


def _swatch(color: str) -> QIcon:
    pixmap = QPixmap(14, 14)
    pixmap.fill(QColor(color))
    return QIcon(pixmap)


class LabelEditorDialog(QDialog):
    """Edit the project's label schema. Emits ``labels_changed`` after every saved change."""

    labels_changed = Signal()

    def __init__(self, project: Project, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project = project
        self.setWindowTitle(f"Labels of {project.name}")
        self.resize(720, 460)
        layout = QHBoxLayout(self)

        left = QVBoxLayout()
        self.list = QListWidget()
        self.list.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.list.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.list.currentItemChanged.connect(self._selection_changed)
        self.list.model().rowsMoved.connect(self._rows_dragged, Qt.ConnectionType.QueuedConnection)
        left.addWidget(self.list, 1)
        row = QHBoxLayout()
        self.add_button = QPushButton("Add…")
        self.add_button.clicked.connect(self._add_clicked)
        self.up_button = QPushButton("Up")
        self.up_button.clicked.connect(lambda: self._move_clicked(-1))
        self.down_button = QPushButton("Down")
        self.down_button.clicked.connect(lambda: self._move_clicked(1))
        self.delete_button = QPushButton("Delete…")
        self.delete_button.setObjectName("dangerButton")
        self.delete_button.clicked.connect(self._delete_clicked)
        for button in (self.add_button, self.up_button, self.down_button, self.delete_button):
            row.addWidget(button)
        left.addLayout(row)
        layout.addLayout(left, 2)

        right = QVBoxLayout()
        form = QFormLayout()
        self.name_edit = QLineEdit()
        self.shortcut_edit = QLineEdit()
        self.shortcut_edit.setMaxLength(1)
        self.shortcut_edit.setMaximumWidth(60)
        self.shortcut_edit.setToolTip("One letter or digit; leave empty for no key")
        self.color_button = QPushButton("Colour…")
        self.color_button.clicked.connect(self._color_clicked)
        self.guideline_edit = QPlainTextEdit()
        self.guideline_edit.setPlaceholderText(
            "When to use this label, with an example or two. Shown as the button's tooltip "
            "and in the guidelines pane."
        )
        form.addRow("Name:", self.name_edit)
        form.addRow("Key:", self.shortcut_edit)
        form.addRow("Colour:", self.color_button)
        form.addRow("Guideline:", self.guideline_edit)
        right.addLayout(form, 1)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setObjectName("errorText")
        right.addWidget(self.message)
        self.apply_button = QPushButton("Save changes")
        self.apply_button.setDefault(True)
        self.apply_button.clicked.connect(self._apply_clicked)
        right.addWidget(self.apply_button, 0, Qt.AlignmentFlag.AlignRight)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        right.addWidget(buttons)
        layout.addLayout(right, 3)

        self.reload()

    # ----------------------------------------------------------------- overridable prompts
    def confirm(self, title: str, text: str) -> bool:
        """Ask a yes/no question (tests replace this to answer without a modal)."""
        answer = QMessageBox.question(
            self, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def ask_text(self, title: str, prompt: str, default: str = "") -> str | None:
        """Ask for a line of text; None when cancelled."""
        text, ok = QInputDialog.getText(self, title, prompt, QLineEdit.EchoMode.Normal, default)
        return text if ok else None

    def ask_color(self, initial: str) -> str | None:
        """Pick a colour; None when cancelled."""
        color = QColorDialog.getColor(QColor(initial), self, "Label colour")
        return color.name() if color.isValid() else None

    def show_message(self, text: str, error: bool = True) -> None:
        """Show a message under the form (not modal)."""
        self.message.setObjectName("errorText" if error else "hintText")
        self.message.style().unpolish(self.message)
        self.message.style().polish(self.message)
        self.message.setText(text)

    # ----------------------------------------------------------------- view
    def labels(self) -> list[Label]:
        return self.project.labels()

    def selected_name(self) -> str | None:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def reload(self, select: str | None = None) -> None:
        """Refill the list from the project, keeping or moving the selection."""
        select = select or self.selected_name()
        self.list.blockSignals(True)
        self.list.clear()
        for label in self.labels():
            key = f"   [{label.shortcut.upper()}]" if label.shortcut else ""
            item = QListWidgetItem(_swatch(label.color), f"{label.name}{key}")
            item.setData(Qt.ItemDataRole.UserRole, label.name)
            item.setToolTip(label.guideline or "No guideline yet")
            self.list.addItem(item)
            if label.name == select:
                self.list.setCurrentItem(item)
        if self.list.currentItem() is None and self.list.count():
            self.list.setCurrentRow(0)
        self.list.blockSignals(False)
        self._selection_changed()

    def _selection_changed(self, *_args: object) -> None:
        name = self.selected_name()
        label = next((lab for lab in self.labels() if lab.name == name), None)
        has = label is not None
        for widget in (
            self.name_edit, self.shortcut_edit, self.color_button, self.guideline_edit,
            self.apply_button, self.delete_button, self.up_button, self.down_button,
        ):
            widget.setEnabled(has)
        self.name_edit.setText(label.name if label else "")
        self.shortcut_edit.setText(label.shortcut.upper() if label and label.shortcut else "")
        self.guideline_edit.setPlainText(label.guideline if label else "")
        if label:
            self.color_button.setIcon(_swatch(label.color))
            self.color_button.setText(label.color)

    def _changed(self, select: str | None = None, message: str = "") -> None:
        self.reload(select)
        self.show_message(message, error=False)
        self.labels_changed.emit()

    # ----------------------------------------------------------------- operations
    def add_label(self, name: str) -> bool:
        """Add a label at the end (default colour and the next free key)."""
        try:
            label = self.project.add_label(name)
        except WorkbenchError as exc:
            self.show_message(str(exc))
            return False
        self._changed(label.name, f"Added {label.name!r}.")
        return True

    def rename_label(self, old: str, new: str) -> bool:
        """Rename a label; its annotations keep it."""
        try:
            label = self.project.rename_label(old, new)
        except WorkbenchError as exc:
            self.show_message(str(exc))
            return False
        self._changed(label.name, f"Renamed {old!r} to {label.name!r}.")
        return True

    def set_shortcut(self, name: str, key: str) -> bool:
        """Give a label a shortcut key ('' removes it); conflicts are refused."""
        key = normalise_shortcut(key)
        if key and (len(key) != 1 or not key.isalnum()):
            self.show_message("A shortcut is one letter or digit.")
            return False
        reserved = reserved_keys()
        if key in reserved:
            self.show_message(f"The key {key.upper()!r} is kept for {reserved[key]} in the labelling view.")
            return False
        clash = next((lab for lab in self.labels() if lab.shortcut == key and lab.name != name), None)
        if key and clash is not None:
            self.show_message(f"The key {key.upper()!r} is already used by {clash.name!r}.")
            return False
        try:
            self.project.update_label(name, shortcut=key or None)
        except WorkbenchError as exc:
            self.show_message(str(exc))
            return False
        self._changed(name, f"{name!r} now has the key {key.upper()}." if key else f"{name!r} has no key now.")
        return True

    def set_color(self, name: str, color: str) -> bool:
        if not QColor(color).isValid():
            self.show_message(f"{color!r} is not a colour.")
            return False
        self.project.update_label(name, color=QColor(color).name())
        self._changed(name)
        return True

    def set_guideline(self, name: str, text: str) -> bool:
        self.project.update_label(name, guideline=text.strip())
        self._changed(name)
        return True

    def move_label(self, name: str, delta: int) -> bool:
        """Move a label up (-1) or down (+1) in the display order."""
        names = [lab.name for lab in self.labels()]
        i = names.index(name)
        j = i + delta
        if not 0 <= j < len(names):
            return False
        names[i], names[j] = names[j], names[i]
        self.project.reorder_labels(names)
        self._changed(name)
        return True

    def delete_label(self, name: str) -> bool:
        """Delete a label; if annotations use it, ask first and say how many."""
        used = self.project.label_usage(name)
        if used:
            records = "annotation" if used == 1 else "annotations"
            question = (
                f"{used} {records} use the label {name!r}. Deleting it removes the label from "
                f"{'it' if used == 1 else 'them'} (records left with no label become "
                "unlabelled). This cannot be undone.\n\nDelete the label?"
            )
        else:
            question = f"Delete the label {name!r}? No annotation uses it."
        if not self.confirm("Delete label", question):
            return False
        affected = self.project.delete_label(name)
        self._changed(None, f"Deleted {name!r}" + (f" ({affected} annotations changed)." if affected else "."))
        return True

    # ----------------------------------------------------------------- button handlers
    def _add_clicked(self) -> None:
        name = self.ask_text("Add label", "Name of the new label:")
        if name:
            self.add_label(name)

    def _move_clicked(self, delta: int) -> None:
        name = self.selected_name()
        if name:
            self.move_label(name, delta)

    def _delete_clicked(self) -> None:
        name = self.selected_name()
        if name:
            self.delete_label(name)

    def _color_clicked(self) -> None:
        name = self.selected_name()
        if not name:
            return
        current = next(lab.color for lab in self.labels() if lab.name == name)
        color = self.ask_color(current)
        if color:
            self.set_color(name, color)

    def _apply_clicked(self) -> None:
        """Save the name, key and guideline typed in the form."""
        name = self.selected_name()
        if not name:
            return
        label = next(lab for lab in self.labels() if lab.name == name)
        new_name = self.name_edit.text().strip()
        key = normalise_shortcut(self.shortcut_edit.text())
        guideline = self.guideline_edit.toPlainText().strip()
        if key != (label.shortcut or "") and not self.set_shortcut(name, key):
            return
        if guideline != label.guideline:
            self.set_guideline(name, guideline)
        if new_name != label.name:
            self.rename_label(name, new_name)
        elif key == (label.shortcut or "") and guideline == label.guideline:
            self.show_message("Nothing to save.", error=False)

    def _rows_dragged(self, *_args: object) -> None:
        names = [self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())]
        try:
            self.project.reorder_labels(names)
        except WorkbenchError as exc:
            self.show_message(str(exc))
        self._changed(self.selected_name())
