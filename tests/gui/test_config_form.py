"""The form generated from a config dataclass, and the Train panel's form built with it:
every TrainConfig field is an input with the dataclass's bounds, choices, default and help,
and bad values are refused with the same message as the CLI and a JSON settings file."""
from __future__ import annotations

import json

import pytest
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox
from settings_cases import bad_values

from workbench.core.assist.options import ReviewOptions
from workbench.core.deploy.onnx_export import ExportOptions
from workbench.core.errors import WorkbenchError
from workbench.core.settings import setting_infos
from workbench.core.training import TrainConfig
from workbench.gui.train.train_form import TrainSettingsForm
from workbench.gui.widgets.config_form import ConfigForm, input_value


@pytest.fixture
def form(qtbot):
    widget = TrainSettingsForm()
    qtbot.addWidget(widget)
    return widget


def test_every_train_setting_is_an_input_with_the_dataclass_bounds(form):
    advanced_rows = form.settings.advanced_layout
    for info in setting_infos(TrainConfig):
        if info.name == "base_model":  # a picker of its own
            continue
        widget = form.inputs[info.name]
        assert widget.toolTip() == info.help, info.name
        assert input_value(widget) == info.default, info.name
        if info.choices:
            assert isinstance(widget, QComboBox)
            assert [widget.itemData(i) for i in range(widget.count())] == list(info.choices)
        elif info.kind is bool:
            assert isinstance(widget, QCheckBox)
        elif info.kind in (int, float):
            assert isinstance(widget, QSpinBox if info.kind is int else QDoubleSpinBox)
            tick = 1 if info.kind is int else 10.0 ** -widget.decimals()
            low = info.min + (tick if info.min_exclusive else 0)
            high = info.max - (tick if info.max_exclusive else 0)
            assert widget.minimum() == pytest.approx(low), info.name
            assert widget.maximum() == pytest.approx(high), info.name
            special = (info.special or {}).get(info.min)
            assert widget.specialValueText() == (special or ""), info.name
        else:
            assert isinstance(widget, QLineEdit)
        if info.name in form.settings.inputs:
            in_advanced = advanced_rows.getWidgetPosition(widget)[0] >= 0
            assert in_advanced == info.advanced, info.name
    assert form.config() == TrainConfig()


@pytest.mark.parametrize("name, value", bad_values(TrainConfig))
def test_form_refuses_bad_values_like_the_cli_and_json(form, name, value, tmp_path):
    if name == "base_model":
        pytest.skip("the base model has a picker of its own (blank is refused there)")
    expected = TrainConfig.check({name: value})[name]
    before = input_value(form.inputs[name])
    with pytest.raises(WorkbenchError) as err:
        form.set_setting(name, value)
    assert str(err.value) == expected
    assert input_value(form.inputs[name]) == before, "nothing is clamped silently"
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({name: value}), encoding="utf-8")
    with pytest.raises(WorkbenchError) as err:
        TrainConfig.load(path)
    assert str(err.value) == expected


def test_settings_round_trip_through_the_form(form):
    config = TrainConfig(epochs=3, learning_rate=2e-5, class_weighting="none", threads=2,
                         reshuffle_split=True, validation_fraction=0.2, device="cpu")
    for name, value in config.to_dict().items():
        if name != "base_model":
            form.set_setting(name, value)
    assert form.config() == config
    form.reset_settings()
    assert form.config() == TrainConfig()


def test_config_form_for_another_dataclass(qtbot):
    form = ConfigForm(ReviewOptions)
    qtbot.addWidget(form)
    assert set(form.inputs) == {"folds", "features", "limit"}
    assert form.inputs["folds"].minimum() == 2 and form.inputs["limit"].specialValueText() == "All"
    assert form.advanced.isHidden(), "no advanced fields: no folded section"
    changed = []
    form.value_changed.connect(changed.append)
    form.set_value("folds", 3)
    assert changed == ["folds"] and form.config() == ReviewOptions(folds=3)
    with pytest.raises(WorkbenchError, match="folds must be at least 2"):
        form.set_value("folds", 1)


def test_config_form_offers_automatic_for_an_unset_yes_no_setting(qtbot):
    form = ConfigForm(ExportOptions)
    qtbot.addWidget(form)
    optimize = form.inputs["optimize"]
    assert isinstance(optimize, QComboBox) and optimize.currentText() == "Automatic"
    assert isinstance(form.inputs["quantize"], QCheckBox)
    assert form.config() == ExportOptions()
    form.set_values({"optimize": False, "zip_bundle": True})
    assert form.config() == ExportOptions(optimize=False, zip_bundle=True)
    form.set_value("optimize", "auto")
    assert form.config().optimize is None
