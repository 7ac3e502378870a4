"""Preferences: the annotator name and the text size, kept in QSettings."""
from __future__ import annotations

import os

from PySide6.QtCore import QSettings
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from workbench.core.store.project import default_annotator

__all__ = [
    "PreferencesDialog",
    "apply_preferences",
    "annotator_setting",
    "default_name",
    "font_size_setting",
    "record_font_size_setting",
]

ANNOTATOR_KEY = "preferences/annotator"
FONT_SIZE_KEY = "preferences/font_size"
RECORD_FONT_SIZE_KEY = "preferences/record_font_size"
#: The reading size of record texts in the Label panel unless changed.
DEFAULT_RECORD_FONT_SIZE = 15
_ENV = "WORKBENCH_ANNOTATOR"
_UNSET = object()
#: The environment's value before a chosen name replaced it (restored when cleared).
_original_env: object = _UNSET


def annotator_setting(settings: QSettings) -> str:
    """The annotator name chosen in Preferences ('' when the default is used)."""
    return str(settings.value(ANNOTATOR_KEY, "") or "").strip()


def font_size_setting(settings: QSettings) -> int:
    """The chosen base font size in points (0: the system default)."""
    try:
        return int(settings.value(FONT_SIZE_KEY, 0) or 0)
    except (TypeError, ValueError):
        return 0


def record_font_size_setting(settings: QSettings) -> int:
    """The reading size of record texts in points."""
    try:
        return int(settings.value(RECORD_FONT_SIZE_KEY, DEFAULT_RECORD_FONT_SIZE) or DEFAULT_RECORD_FONT_SIZE)
    except (TypeError, ValueError):
        return DEFAULT_RECORD_FONT_SIZE


def apply_preferences(settings: QSettings, app: QApplication | None = None) -> None:
    """Make the stored preferences take effect (annotator name, application font size)."""
    global _original_env
    name = annotator_setting(settings)
    if name:
        if _original_env is _UNSET:
            _original_env = os.environ.get(_ENV)
        os.environ[_ENV] = name
    elif _original_env is not _UNSET:
        if _original_env is None:
            os.environ.pop(_ENV, None)
        else:
            os.environ[_ENV] = str(_original_env)
        _original_env = _UNSET
    app = app or QApplication.instance()
    size = font_size_setting(settings)
    if app is not None and size > 0:
        font = QFont(app.font())
        font.setPointSize(size)
        app.setFont(font)


def default_name() -> str:
    """The annotator name used when none is chosen in Preferences."""
    if isinstance(_original_env, str) and _original_env.strip():
        return _original_env.strip()
    if _original_env is None:
        os_value = os.environ.pop(_ENV, None)
        try:
            return default_annotator()
        finally:
            if os_value is not None:
                os.environ[_ENV] = os_value
    return default_annotator()


class PreferencesDialog(QDialog):
    """Edit the preferences; OK stores them and applies them at once."""

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.setWindowTitle("Preferences")
        self.setMinimumWidth(460)
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.annotator_edit = QLineEdit(annotator_setting(settings))
        self.annotator_edit.setPlaceholderText(f"{default_name()} (default)")
        form.addRow("Annotator name:", self.annotator_edit)
        self.font_spin = QSpinBox()
        self.font_spin.setRange(0, 32)
        self.font_spin.setSpecialValueText("System default")
        self.font_spin.setSuffix(" pt")
        self.font_spin.setValue(font_size_setting(settings))
        form.addRow("Interface text size:", self.font_spin)
        self.record_font_spin = QSpinBox()
        self.record_font_spin.setRange(8, 40)
        self.record_font_spin.setSuffix(" pt")
        self.record_font_spin.setValue(record_font_size_setting(settings))
        form.addRow("Record text size:", self.record_font_spin)
        layout.addLayout(form)
        note = QLabel(
            "Your annotations are saved under the annotator name, so several people can "
            "label the same project. Leave it empty to use your computer user name."
        )
        note.setObjectName("hintText")
        note.setWordWrap(True)
        layout.addWidget(note)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def accept(self) -> None:
        """Store and apply the preferences."""
        self.settings.setValue(ANNOTATOR_KEY, self.annotator_edit.text().strip())
        self.settings.setValue(FONT_SIZE_KEY, self.font_spin.value())
        self.settings.setValue(RECORD_FONT_SIZE_KEY, self.record_font_spin.value())
        self.settings.sync()
        apply_preferences(self.settings)
        super().accept()
