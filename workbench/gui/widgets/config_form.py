"""A form generated from a config dataclass (see :mod:`workbench.core.settings`).

Each field gets the input its metadata asks for: a combo box for choices, a check box for
a yes/no setting (a combo box of Automatic/On/Off when it may be left unset), a spin box bounded like ``validate()`` for a number (with the special
text, such as "Automatic", for its lowest value), a line edit for text. Help becomes the
tooltip and What's This; ``advanced`` fields are folded away in a :class:`Collapsible`.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from workbench.core.errors import WorkbenchError
from workbench.core.settings import (
    SettingInfo,
    Settings,
    check_value,
    coerce_value,
    setting_infos,
)

__all__ = [
    "Collapsible",
    "ConfigForm",
    "make_input",
    "input_value",
    "set_input_value",
    "set_checked",
    "input_changed_signal",
    "spin_bounds",
]

#: Spin box limits for a number without a bound of its own.
_INT_LIMIT = 2**31 - 1
_FLOAT_LIMIT = 1e9


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


def _decimals(info: SettingInfo) -> int:
    return info.decimals if info.decimals is not None else 3


def spin_bounds(info: SettingInfo) -> tuple[float, float]:
    """The (minimum, maximum) of the spin box of a number setting: its bounds, moved in by
    one smallest step where a bound itself is excluded."""
    if info.kind is int:
        lo = int(info.min) if info.min is not None else -_INT_LIMIT
        hi = int(info.max) if info.max is not None else _INT_LIMIT
        return lo + int(info.min_exclusive), hi - int(info.max_exclusive)
    tick = 10.0 ** -_decimals(info)
    lo_f = float(info.min) if info.min is not None else -_FLOAT_LIMIT
    hi_f = float(info.max) if info.max is not None else _FLOAT_LIMIT
    return lo_f + (tick if info.min_exclusive else 0.0), hi_f - (tick if info.max_exclusive else 0.0)


def make_input(info: SettingInfo) -> QWidget:
    """The input widget of one setting, showing its default, with its help as tooltip."""
    widget: QWidget
    if info.choices:
        widget = QComboBox()
        for choice in info.choices:
            widget.addItem(str(choice), choice)
    elif info.kind is bool and info.optional:
        # Yes, no, or left to the program ("Automatic"; None in the config).
        widget = QComboBox()
        for text, value in (("Automatic", None), ("On", True), ("Off", False)):
            widget.addItem(text, value)
    elif info.kind is bool:
        widget = QCheckBox()
    elif info.kind is int:
        widget = QSpinBox()
        widget.setRange(*(int(x) for x in spin_bounds(info)))
    elif info.kind is float:
        widget = QDoubleSpinBox()
        widget.setDecimals(_decimals(info))
        widget.setSingleStep(info.step if info.step is not None else 10.0 ** -min(2, _decimals(info)))
        widget.setRange(*spin_bounds(info))
    else:
        widget = QLineEdit()
    if isinstance(widget, (QSpinBox, QDoubleSpinBox)) and info.special:
        text = info.special.get(widget.minimum())
        if text:
            widget.setSpecialValueText(text)
    widget.setToolTip(info.help)
    widget.setWhatsThis(info.help)
    set_input_value(widget, info.default)
    return widget


def input_value(widget: QWidget) -> Any:
    """The value an input shows."""
    if isinstance(widget, QComboBox):
        return widget.currentData()
    if isinstance(widget, QCheckBox):
        return widget.isChecked()
    if isinstance(widget, (QSpinBox, QDoubleSpinBox)):
        return widget.value()
    if isinstance(widget, QLineEdit):
        return widget.text()
    raise TypeError(type(widget).__name__)


def set_input_value(widget: QWidget, value: Any) -> None:
    """Show ``value`` in an input (as if typed)."""
    if isinstance(widget, QComboBox):
        widget.setCurrentIndex(max(0, widget.findData(value)))
    elif isinstance(widget, QCheckBox):
        widget.setChecked(bool(value))
    elif isinstance(widget, QSpinBox):
        widget.setValue(int(value))
    elif isinstance(widget, QDoubleSpinBox):
        widget.setValue(float(value))
    elif isinstance(widget, QLineEdit):
        widget.setText("" if value is None else str(value))


def set_checked(widget: QWidget, info: SettingInfo, value: Any, what: str = "the") -> None:
    """:func:`set_input_value` after the checks of the config: a value of the wrong type or
    out of bounds raises :class:`WorkbenchError` with the config's own message."""
    try:
        value = coerce_value(info, value)
    except (TypeError, ValueError):
        raise WorkbenchError(f"Invalid value {value!r} for {what} setting {info.name}.") from None
    problem = check_value(info, value)
    if problem:
        raise WorkbenchError(f"Invalid {what} setting: {problem}.")
    set_input_value(widget, value)


def input_changed_signal(widget: QWidget) -> Any:
    """The signal an input sends when the user changes its value."""
    if isinstance(widget, QComboBox):
        return widget.currentIndexChanged
    if isinstance(widget, QCheckBox):
        return widget.toggled
    if isinstance(widget, (QSpinBox, QDoubleSpinBox)):
        return widget.valueChanged
    return widget.textChanged


class ConfigForm(QWidget):
    """Inputs for the fields of a config dataclass: basic ones in a form, advanced ones in
    a folded :class:`Collapsible` below it.

    ``inputs`` maps field names to their widgets, ``labels`` to their row labels.
    """

    #: The user changed the value of a field (its name).
    value_changed = Signal(str)

    def __init__(
        self,
        config_cls: type[Settings],
        *,
        exclude: Iterable[str] = (),
        advanced_title: str = "Advanced settings",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        skip = set(exclude)
        self.config_cls = config_cls
        self.infos = {i.name: i for i in setting_infos(config_cls) if i.name not in skip}
        self.inputs: dict[str, QWidget] = {}
        self.labels: dict[str, QLabel] = {}
        self.basic_layout = QFormLayout(self)
        self.basic_layout.setContentsMargins(0, 0, 0, 0)
        self.advanced = Collapsible(advanced_title)
        self.advanced_layout = QFormLayout(self.advanced.body)
        self.advanced_layout.setContentsMargins(12, 0, 0, 0)
        for name, info in self.infos.items():
            widget = make_input(info)
            label = QLabel(info.title)
            label.setToolTip(info.help)
            label.setWhatsThis(info.help)
            label.setBuddy(widget)
            self.inputs[name] = widget
            self.labels[name] = label
            (self.advanced_layout if info.advanced else self.basic_layout).addRow(label, widget)
            input_changed_signal(widget).connect(lambda *_a, n=name: self.value_changed.emit(n))
        self.basic_layout.addRow(self.advanced)
        self.advanced.setVisible(any(i.advanced for i in self.infos.values()))

    def values(self) -> dict[str, Any]:
        """Every field's value as shown (unchecked; the config checks them)."""
        return {name: input_value(w) for name, w in self.inputs.items()}

    def set_value(self, name: str, value: Any) -> None:
        """Show ``value`` for a field; a value the config would refuse raises
        :class:`WorkbenchError` with the same message (nothing is clamped silently)."""
        set_checked(self.inputs[name], self.infos[name], value, self.config_cls.SETTINGS_NAME)

    def set_values(self, values: dict[str, Any]) -> None:
        """:meth:`set_value` for each item whose field is in the form."""
        for name, value in values.items():
            if name in self.inputs:
                self.set_value(name, value)

    def config(self, **extra: Any) -> Any:
        """The form (plus ``extra`` fields it does not show) as a config."""
        return self.config_cls(**{**self.values(), **extra})

    def reset(self) -> None:
        """Every field back to its default."""
        for name, info in self.infos.items():
            set_input_value(self.inputs[name], info.default)

    def set_editable(self, editable: bool) -> None:
        """Enable or lock every input."""
        for widget in self.inputs.values():
            widget.setEnabled(editable)
