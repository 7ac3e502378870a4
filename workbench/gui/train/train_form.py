"""The Train panel's form: base model, training settings (from TrainConfig) and data summary.

Every field of :class:`workbench.core.training.TrainConfig` gets an input built from its
type, with its help text as tooltip and What's This; fields marked ``advanced`` are
folded away until asked for.
"""
from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from workbench.core.errors import WorkbenchError

if TYPE_CHECKING:
    from workbench.core.training import DataSummary, TrainConfig

__all__ = ["TrainSettingsForm", "Collapsible", "summary_html"]

BASE_KINDS = [
    ("bundled", "Bundled MiniLM (built in, works offline)"),
    ("folder", "Model folder on this computer"),
    ("hub", "Hugging Face Hub model id"),
]
#: Spin box text shown for the lowest value of these settings (0, or -1 for freeze_layers).
_ZERO_MEANS = {
    "epochs": "Automatic",
    "freeze_layers": "Automatic",
    "learning_rate": "Automatic",
    "threads": "Automatic",
    "max_steps": "No limit",
    "early_stopping_patience": "Never stop early",
}
_RANGES: dict[str, tuple[float, float]] = {
    "batch_size": (1, 4096),
    "max_length": (8, 8192),
    "epochs": (0, 1000),
    "threads": (0, 256),
    "freeze_layers": (-1, 48),
    "early_stopping_patience": (0, 1000),
    "seed": (0, 2**31 - 1),
    "max_steps": (0, 10**9),
    "learning_rate": (0.0, 1.0),
}
_TITLES = {
    "max_length": "Max length (tokens)",
    "learning_rate": "Learning rate",
    "early_stopping_patience": "Early-stopping patience",
    "reshuffle_split": "Draw a new train/validation/test split",
    "max_steps": "Max steps",
    "freeze_layers": "Frozen lower layers",
}
_WARNING_STYLE = (
    "QLabel { background: #fff4e5; color: #663c00; border: 1px solid #f0c36d;"
    " border-radius: 4px; padding: 6px; }"
)


class Collapsible(QWidget):
    """A titled section that can be folded away (folded at first)."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.toggle = QToolButton(text=title, checkable=True, checked=False)
        self.toggle.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        self.toggle.setArrowType(Qt.RightArrow)
        self.toggle.setStyleSheet("QToolButton { border: none; font-weight: bold; }")
        self.toggle.toggled.connect(self._on_toggled)
        self.body = QWidget()
        self.body.setVisible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.toggle)
        layout.addWidget(self.body)

    def _on_toggled(self, on: bool) -> None:
        self.toggle.setArrowType(Qt.DownArrow if on else Qt.RightArrow)
        self.body.setVisible(on)


class TrainSettingsForm(QWidget):
    """Base model picker, training settings and the data summary, as one column."""

    #: A setting that changes the data summary (the split) was changed.
    split_settings_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from workbench.core.training import TrainConfig

        self._fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
        self._defaults = TrainConfig()
        self.inputs: dict[str, QWidget] = {}
        column = QVBoxLayout(self)
        column.addWidget(self._build_model_box())
        column.addWidget(self._build_settings_box())
        column.addWidget(self._build_data_box())
        column.addStretch(1)

    # ------------------------------------------------------------------ building
    def _help(self, name: str) -> str:
        return str(self._fields[name].metadata.get("help", ""))

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
        for widget in (self.base_kind, self.base_value):
            widget.setToolTip(self._help("base_model"))
            widget.setWhatsThis(self._help("base_model"))
        self.base_kind.currentIndexChanged.connect(self._on_base_kind_changed)
        self._on_base_kind_changed()
        return box

    def _build_settings_box(self) -> QWidget:
        box = QGroupBox("Training settings")
        basic = QFormLayout(box)
        self.advanced = Collapsible("Advanced settings")
        advanced_form = QFormLayout(self.advanced.body)
        advanced_form.setContentsMargins(12, 0, 0, 0)
        for name, f in self._fields.items():
            if name in ("base_model", "reshuffle_split"):
                continue
            widget = self._make_input(name, f)
            if widget is None:
                continue
            label = QLabel(_TITLES.get(name, name.replace("_", " ").capitalize()))
            for w in (label, widget):
                w.setToolTip(self._help(name))
                w.setWhatsThis(self._help(name))
            (advanced_form if f.metadata.get("advanced") else basic).addRow(label, widget)
            if name in ("validation_fraction", "test_fraction", "seed"):
                signal = getattr(widget, "valueChanged", None)
                if signal is not None:
                    signal.connect(self.split_settings_changed)
        basic.addRow(self.advanced)
        self.reset_button = QPushButton("Restore defaults")
        self.reset_button.setToolTip("Put every setting back to its recommended value.")
        self.reset_button.clicked.connect(self.reset_settings)
        advanced_form.addRow(self.reset_button)
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
        self.reshuffle = QCheckBox(_TITLES["reshuffle_split"])
        self.reshuffle.setToolTip(self._help("reshuffle_split"))
        self.reshuffle.setWhatsThis(self._help("reshuffle_split"))
        self.inputs["reshuffle_split"] = self.reshuffle
        self.reshuffle.toggled.connect(self.split_settings_changed)
        layout.addWidget(self.data_text)
        layout.addWidget(self.data_warnings)
        layout.addWidget(self.reshuffle)
        return box

    def _make_input(self, name: str, f: dataclasses.Field) -> QWidget | None:
        default = getattr(self._defaults, name)
        choices = f.metadata.get("choices")
        widget: QWidget
        if choices:
            widget = QComboBox()
            for choice in choices:
                widget.addItem(str(choice), choice)
        elif isinstance(default, bool):
            widget = QCheckBox()
        elif isinstance(default, int):
            widget = QSpinBox()
            low, high = _RANGES.get(name, (0, 10**6))
            widget.setRange(int(low), int(high))
        elif isinstance(default, float):
            widget = QDoubleSpinBox()
            small = name == "learning_rate"
            widget.setDecimals(6 if small else 3)
            widget.setSingleStep(1e-5 if small else 0.01)
            widget.setRange(*_RANGES.get(name, (0.0, 1.0)))
        elif isinstance(default, str):
            widget = QLineEdit()
        else:
            return None
        if name in _ZERO_MEANS and isinstance(widget, (QSpinBox, QDoubleSpinBox)):
            widget.setSpecialValueText(_ZERO_MEANS[name])
        self.inputs[name] = widget
        self.set_setting(name, default)
        return widget

    # ------------------------------------------------------------------ values
    def config(self) -> TrainConfig:
        """The form as a :class:`TrainConfig` (raises WorkbenchError naming a bad value)."""
        from workbench.core.training import TrainConfig

        values: dict[str, Any] = {"base_model": self.base_model()}
        for name, widget in self.inputs.items():
            values[name] = _get_input(widget)
        return TrainConfig(**values)

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
        """Put a value into the form (as if typed)."""
        widget = self.inputs[name]
        if isinstance(widget, QComboBox):
            widget.setCurrentIndex(max(0, widget.findData(value)))
        elif isinstance(widget, QCheckBox):
            widget.setChecked(bool(value))
        elif isinstance(widget, QSpinBox):
            widget.setValue(int(value))
        elif isinstance(widget, QDoubleSpinBox):
            widget.setValue(float(value))
        elif isinstance(widget, QLineEdit):
            widget.setText(str(value))

    def reset_settings(self) -> None:
        """Every setting back to its default (the base model stays)."""
        for name in self.inputs:
            self.set_setting(name, getattr(self._defaults, name))

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


def _get_input(widget: QWidget) -> Any:
    if isinstance(widget, QComboBox):
        return widget.currentData()
    if isinstance(widget, QCheckBox):
        return widget.isChecked()
    if isinstance(widget, (QSpinBox, QDoubleSpinBox)):
        return widget.value()
    if isinstance(widget, QLineEdit):
        return widget.text()
    raise TypeError(type(widget).__name__)


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
