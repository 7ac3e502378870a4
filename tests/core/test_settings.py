"""The field-metadata layer: bounds, choices and special values drive validation, dicts
and JSON settings files (workbench.core.settings)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import ClassVar

import pytest
from settings_cases import bad_values

from workbench.core.assist.options import QueueOptions, ReviewOptions
from workbench.core.deploy.onnx_export import ExportOptions
from workbench.core.errors import WorkbenchError
from workbench.core.federated import FederationConfig, SiteConfig
from workbench.core.federated.privacy_config import PrivacyConfig
from workbench.core.settings import Settings, check_value, setting, setting_info, setting_infos
from workbench.core.team.settings import TeamSettings
from workbench.core.training import TrainConfig

ALL_CONFIGS = [TrainConfig, ExportOptions, QueueOptions, ReviewOptions, TeamSettings,
               FederationConfig, SiteConfig, PrivacyConfig]


@dataclass
class Demo(Settings):
    SETTINGS_NAME: ClassVar[str] = "demo"

    size: int = setting(4, "How many.", min=1, max=10)
    share: float = setting(0.2, "A share.", min=0.0, max=0.5, min_exclusive=True,
                           max_exclusive=True)
    steps: int = setting(0, "Steps (0 = automatic).", min=0, special={0: "Automatic"})
    mode: str = setting("a", "Mode.", choices=("a", "b"))
    name: str = setting("x", "Name.", not_blank=True)
    on: bool = setting(False, "Switch.")
    auto: bool | None = setting(None, "Tri-state.")


@pytest.mark.parametrize("config_cls", ALL_CONFIGS)
def test_every_config_declares_every_setting(config_cls):
    config = config_cls()  # the defaults are valid
    for info in setting_infos(config_cls):
        assert info.help, info.name
        assert info.cli.startswith("--") and all(a.startswith("--") for a in info.aliases)
        assert check_value(info, getattr(config, info.name)) is None
        if info.choices:
            assert info.default in info.choices
        for value in info.special or {}:
            assert value == info.min, "only the lowest value can have a text of its own"
    assert config_cls.from_dict(config.to_dict()) == config
    for name, value in bad_values(config_cls):
        with pytest.raises(WorkbenchError) as err:
            config_cls(**{name: value})
        assert str(err.value).count("\n") == 0, "one line per bad value"
        assert name.replace("_", " ") in str(err.value)


def test_messages_come_from_the_bounds():
    messages = Demo.check({"size": 0, "share": 0.5, "steps": -1, "mode": "c", "name": " "})
    assert messages == {
        "size": "Invalid demo setting: size must be at least 1 (got 0).",
        "share": "Invalid demo setting: share must be less than 0.5 (got 0.5).",
        "steps": "Invalid demo setting: steps must be 0 (automatic), 1 or more (got -1).",
        "mode": "Invalid demo setting: mode must be one of: a, b (got 'c').",
        "name": "Invalid demo setting: name must not be empty.",
    }
    assert Demo.check({"size": 11})["size"].endswith("size must be at most 10 (got 11).")
    assert "more than 0 (got 0)." in Demo.check({"share": 0.0})["share"]
    assert Demo.check({"size": 1.5, "on": 1, "name": 3, "share": True}) == {
        "size": "Invalid demo setting: size must be a whole number (got 1.5).",
        "share": "Invalid demo setting: share must be a number (got True).",
        "name": "Invalid demo setting: name must be text (got 3).",
        "on": "Invalid demo setting: on must be on or off (true or false) (got 1).",
    }
    with pytest.raises(WorkbenchError) as err:
        Demo(size=0, mode="c")
    assert str(err.value).splitlines() == [
        "Invalid demo setting: size must be at least 1 (got 0).",
        "Invalid demo setting: mode must be one of: a, b (got 'c').",
    ]


def test_from_dict_converts_and_refuses_unknown_keys():
    demo = Demo.from_dict({"size": "3", "share": "0.25", "on": "yes", "auto": "auto"})
    assert (demo.size, demo.share, demo.on, demo.auto) == (3, 0.25, True, None)
    assert Demo.from_dict({"size": 3.0, "auto": False}).auto is False
    with pytest.raises(WorkbenchError, match="Unknown demo setting.*colour"):
        Demo.from_dict({"colour": "red"})
    for key, value in (("size", 1.5), ("size", "many"), ("on", "maybe"), ("size", True),
                       ("name", ["x"])):
        with pytest.raises(WorkbenchError, match=f"Invalid value .* for demo setting {key}"):
            Demo.from_dict({key: value})
    base = Demo(size=7)
    assert Demo.from_dict({"mode": "b"}, base) == Demo(size=7, mode="b")


def test_json_settings_files(tmp_path):
    path = tmp_path / "demo.json"
    Demo(size=9, on=True).save(path)
    assert Demo.load(path) == Demo(size=9, on=True)
    path.write_text(json.dumps({"size": 2}), encoding="utf-8")
    assert Demo.load(path, Demo(mode="b")) == Demo(size=2, mode="b")
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(WorkbenchError, match="must hold a JSON object"):
        Demo.load(path)
    path.write_text("{nope", encoding="utf-8")
    with pytest.raises(WorkbenchError, match="Cannot read settings file"):
        Demo.load(path)
    path.write_text(json.dumps({"size": 0}), encoding="utf-8")
    with pytest.raises(WorkbenchError, match="size must be at least 1"):
        Demo.load(path)


def test_train_config_metadata():
    info = setting_info(TrainConfig, "learning_rate")
    assert info.cli == "--learning-rate" and info.aliases == ("--lr",)
    assert setting_info(TrainConfig, "reshuffle_split").aliases == ("--reshuffle",)
    assert setting_info(TrainConfig, "max_length").unit == "tokens"
    assert [i.name for i in setting_infos(TrainConfig) if not i.advanced] == [
        "base_model", "method", "epochs", "learning_rate", "batch_size", "max_length",
    ]
    assert TrainConfig.help("freeze_layers").startswith("Lower layers kept fixed")
