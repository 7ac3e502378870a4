"""The Train panel's form: base model, training settings (from TrainConfig) and data summary.

The settings are a :class:`~workbench.gui.widgets.config_form.ConfigForm` generated from
:class:`workbench.core.training.TrainConfig`: inputs, bounds, special values ("Automatic"),
tooltips and the folded advanced section all come from the dataclass metadata. Only the base
model (a picker of its own) and the reshuffle switch (shown with the data summary) are laid
out here.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from workbench.core.errors import WorkbenchError
from workbench.core.settings import setting_info
from workbench.gui.widgets.config_form import (
    Collapsible,
    ConfigForm,
    input_changed_signal,
    input_value,
    make_input,
    set_checked,
    set_input_value,
)

if TYPE_CHECKING:
    from workbench.core.training import DataSummary, TrainConfig

__all__ = ["TrainSettingsForm", "Collapsible", "summary_html"]

BASE_KINDS = [
    ("bundled", "Bundled MiniLM (built in, works offline)"),
    ("folder", "Model folder on this computer"),
    ("hub", "Hugging Face Hub model id"),
]
#: Settings laid out by this form rather than by the generated one.
_OWN_FIELDS = ("base_model", "reshuffle_split")
#: Settings that change the data summary (the split).
_SPLIT_FIELDS = ("validation_fraction", "test_fraction", "seed")
_WARNING_STYLE = (
    "QLabel { background: #fff4e5; color: #663c00; border: 1px solid #f0c36d;"
    " border-radius: 4px; padding: 6px; }"
)


class TrainSettingsForm(QWidget):
    """Base model picker, training settings and the data summary, as one column."""

    #: A setting that changes the data summary (the split) was changed.
    split_settings_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from workbench.core.training import TrainConfig

        self._config_cls = TrainConfig
        self.inputs: dict[str, QWidget] = {}
        column = QVBoxLayout(self)
        column.addWidget(self._build_model_box())
        column.addWidget(self._build_settings_box())
        column.addWidget(self._build_data_box())
        column.addStretch(1)

    # ------------------------------------------------------------------ building
    def _build_model_box(self) -> QWidget:
        box = QGroupBox("Base model")
        layout = QVBoxLayout(box)
        self.base_kind = QComboBox()
        for key, text in BASE_KINDS:
            self.base_kind.addItem(text, key)
        self.base_value = QLineEdit()
        self.browse_button = QPushButton("Browse…")
        self.browse_button.clicked.connect(self._browse_model_folder)
        row = QHBoxLayout()
        row.addWidget(self.base_value, 1)
        row.addWidget(self.browse_button)
        layout.addWidget(self.base_kind)
        layout.addLayout(row)
        help_text = self._config_cls.help("base_model")
        for widget in (self.base_kind, self.base_value):
            widget.setToolTip(help_text)
            widget.setWhatsThis(help_text)
        self.base_kind.currentIndexChanged.connect(self._on_base_kind_changed)
        self._on_base_kind_changed()
        return box

    def _build_settings_box(self) -> QWidget:
        box = QGroupBox("Training settings")
        layout = QVBoxLayout(box)
        self.settings = ConfigForm(self._config_cls, exclude=_OWN_FIELDS)
        self.advanced = self.settings.advanced
        self.inputs.update(self.settings.inputs)
        layout.addWidget(self.settings)
        for name in _SPLIT_FIELDS:
            input_changed_signal(self.inputs[name]).connect(self.split_settings_changed)
        self.reset_button = QPushButton("Restore defaults")
        self.reset_button.setToolTip("Put every setting back to its recommended value.")
        self.reset_button.clicked.connect(self.reset_settings)
        self.settings.advanced_layout.addRow(self.reset_button)
        return box

    def _build_data_box(self) -> QWidget:
        box = QGroupBox("Training data")
        layout = QVBoxLayout(box)
        self.data_text = QLabel()
        self.data_text.setWordWrap(True)
        self.data_text.setTextFormat(Qt.RichText)
        self.data_warnings = QLabel()
        self.data_warnings.setWordWrap(True)
        self.data_warnings.setTextFormat(Qt.RichText)
        self.data_warnings.setStyleSheet(_WARNING_STYLE)
        info = setting_info(self._config_cls, "reshuffle_split")
        self.reshuffle = make_input(info)
        assert isinstance(self.reshuffle, QCheckBox)
        self.reshuffle.setText(info.title)
        self.inputs["reshuffle_split"] = self.reshuffle
        self.reshuffle.toggled.connect(self.split_settings_changed)
        layout.addWidget(self.data_text)
        layout.addWidget(self.data_warnings)
        layout.addWidget(self.reshuffle)
        return box

    # ------------------------------------------------------------------ values
    def config(self) -> TrainConfig:
        """The form as a :class:`TrainConfig` (raises WorkbenchError naming a bad value)."""
        return self.settings.config(
            base_model=self.base_model(), reshuffle_split=input_value(self.reshuffle)
        )

    def base_model(self) -> str:
        """The base model setting: 'bundled', a folder path or a Hub id."""
        kind = self.base_kind.currentData()
        if kind == "bundled":
            return "bundled"
        text = self.base_value.text().strip()
        if not text:
            raise WorkbenchError(
                "Choose a model folder first."
                if kind == "folder"
                else "Type a Hugging Face model id first."
            )
        return os.path.expanduser(text) if kind == "folder" else text

    def set_base_model(self, value: str) -> None:
        """Select a base model: 'bundled', an existing folder, or otherwise a Hub id."""
        if value == "bundled":
            self.base_kind.setCurrentIndex(0)
            return
        kind = "folder" if os.path.isdir(os.path.expanduser(value)) else "hub"
        self.base_kind.setCurrentIndex(self.base_kind.findData(kind))
        self.base_value.setText(value)

    def set_setting(self, name: str, value: Any) -> None:
        """Put a value into the form (as if typed); one TrainConfig refuses raises
        :class:`WorkbenchError` with its message."""
        if name in self.settings.inputs:
            self.settings.set_value(name, value)
        else:
            info = setting_info(self._config_cls, name)
            set_checked(self.inputs[name], info, value, self._config_cls.SETTINGS_NAME)

    def reset_settings(self) -> None:
        """Every setting back to its default (the base model stays)."""
        self.settings.reset()
        set_input_value(self.reshuffle, setting_info(self._config_cls, "reshuffle_split").default)

    def set_editable(self, editable: bool) -> None:
        """Lock the form while a run uses it."""
        for widget in [self.base_kind, self.base_value, *self.inputs.values(), self.reset_button]:
            widget.setEnabled(editable)
        self.browse_button.setEnabled(editable and self.base_kind.currentData() == "folder")

    # ------------------------------------------------------------------ data summary
    def show_summary(self, summary: DataSummary | None, message: str = "") -> None:
        """Show the data summary, or ``message`` when there is none."""
        if summary is None:
            self.data_text.setText(_escape(message))
            self.data_warnings.setVisible(False)
            return
        self.data_text.setText(summary_html(summary))
        warnings = list(summary.warnings)
        self.data_warnings.setText("<br>".join(f"⚠ {_escape(w)}" for w in warnings))
        self.data_warnings.setVisible(bool(warnings))

    # ------------------------------------------------------------------ base model picker
    def _on_base_kind_changed(self) -> None:
        kind = self.base_kind.currentData()
        self.base_value.setVisible(kind != "bundled")
        self.browse_button.setVisible(kind == "folder")
        self.browse_button.setEnabled(kind == "folder" and self.base_kind.isEnabled())
        self.base_value.setPlaceholderText(
            "Folder with config.json, weights and tokenizer"
            if kind == "folder"
            else "e.g. distilbert-base-multilingual-cased"
        )

    def _browse_model_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a Hugging Face model folder")
        if folder:
            self.base_value.setText(folder)


def _escape(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def summary_html(summary: DataSummary) -> str:
    """Counts per label and split as a small HTML table."""
    splits = summary.splits or {}
    head = f"<b>{summary.n_labelled}</b> labelled records"
    split_text = " · ".join(
        f"{name} {splits[name]}"
        for name in ("train", "validation", "test", "unassigned")
        if name in splits
    )
    if split_text:
        head += f"<br><span style='color:#555'>{split_text}</span>"
    if summary.ties:
        head += f"<br>{summary.ties} records left out (annotators disagree, no majority)"
    if summary.final_labels:
        head += f"<br><span style='color:#777'>{_escape(summary.final_labels)}</span>"
    labels = list(summary.labels or summary.by_label)
    if not labels:
        return head
    with_splits = bool(summary.split_by_label)
    pad = "&nbsp;&nbsp;"
    rows = []
    for name in labels:
        cells = f"<td>{_escape(name)}</td><td align='right'>{pad}{summary.by_label.get(name, 0)}</td>"
        if with_splits:
            counts = summary.split_by_label.get(name) or {}
            cells += "".join(
                f"<td align='right'>{pad}{counts.get(s, 0)}</td>"
                for s in ("train", "validation", "test")
            )
        rows.append(f"<tr>{cells}</tr>")
    split_head = (
        "".join(f"<th align='right'>{pad}{s}</th>" for s in ("train", "val", "test"))
        if with_splits
        else ""
    )
    return (
        f"{head}<table style='margin-top:6px' cellspacing='0' cellpadding='1'>"
        f"<tr><th align='left'>label</th><th align='right'>{pad}records</th>{split_head}</tr>"
        f"{''.join(rows)}</table>"
    )
