"""CLI flags generated from the config dataclasses: every field is a flag with the same
choices and default, old spellings still work, and bad values are refused with the
config's own message (in process; no training runs)."""
from __future__ import annotations

import argparse
import json

import pytest
from settings_cases import bad_values

from workbench.cli import build_parser, main
from workbench.cli.common import attach_dash_values, config_from_args
from workbench.core.assist.options import QueueOptions, ReviewOptions
from workbench.core.deploy.onnx_export import ExportOptions
from workbench.core.errors import WorkbenchError
from workbench.core.settings import setting_infos
from workbench.core.team.settings import TeamSettings
from workbench.core.training import TrainConfig


def _subparser(command: str) -> argparse.ArgumentParser:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[command]
    raise AssertionError("no subcommands")


def _parse(command: str, *argv: str) -> argparse.Namespace:
    parser = build_parser()
    return parser.parse_args(attach_dash_values(parser, [command, "p.wbproj", *argv]))


def _actions(command: str) -> dict[str, argparse.Action]:
    return {a.dest: a for a in _subparser(command)._actions}


@pytest.mark.parametrize("command, config_cls, exclude", [
    ("train", TrainConfig, ()),
    ("export", ExportOptions, ()),
    ("queue", QueueOptions, ()),
    ("review", ReviewOptions, ()),
    ("annotators", TeamSettings, ("final_rule",)),
    ("final", TeamSettings, ("assignment", "assignment_k", "blind")),
])
def test_every_setting_is_a_flag(command, config_cls, exclude):
    actions = _actions(command)
    for info in setting_infos(config_cls):
        if info.name in exclude:
            assert info.name not in actions
            continue
        action = actions[info.name]
        assert info.cli in action.option_strings
        assert set(info.aliases) <= set(action.option_strings)
        assert action.default is None, "not given: the config's default (or a file's) applies"
        assert action.help.startswith(info.help.replace("%", "%%"))
        if info.choices:
            assert action.metavar == "{" + ",".join(info.choices) + "}"
            assert "one of: " + ", ".join(info.choices) in action.help
    # No flag given: exactly the defaults.
    assert config_from_args(config_cls, _parse(command)) == config_cls()


def test_train_flags_cover_every_field_including_the_split_fractions():
    args = _parse("train", "--validation-fraction", "0.2", "--test-fraction", "0.1",
                  "--learning-rate", "3e-5", "--no-reshuffle-split", "--freeze-layers", "-1",
                  "--device", "cpu", "--base-model", "bundled")
    config = config_from_args(TrainConfig, args)
    assert (config.validation_fraction, config.test_fraction) == (0.2, 0.1)
    assert config.learning_rate == 3e-5 and config.reshuffle_split is False
    assert config.device == "cpu" and config.freeze_layers == -1


def test_old_spellings_still_work(tmp_path):
    settings = tmp_path / "s.json"
    settings.write_text(json.dumps({"epochs": 2, "seed": 5}), encoding="utf-8")
    config = config_from_args(TrainConfig, _parse(
        "train", "--lr", "2e-4", "--reshuffle", "--config", str(settings), "--seed", "3"))
    assert (config.learning_rate, config.reshuffle_split) == (2e-4, True)
    assert (config.epochs, config.seed) == (2, 3), "the file fills in, flags win"
    export = config_from_args(ExportOptions, _parse(
        "export", "--out", "d", "--no-quantize", "--optimize", "--zip"))
    assert export == ExportOptions(quantize=False, optimize=True, zip_bundle=True)
    assert config_from_args(ExportOptions, _parse("export", "--no-optimize")).optimize is False
    team = config_from_args(TeamSettings, _parse(
        "annotators", "--assign", "k", "--k", "3", "--blind", "off"))
    assert (team.assignment, team.assignment_k, team.blind) == ("k", 3, False)
    rule = config_from_args(TeamSettings, _parse("final", "--rule", "majority"))
    assert rule.final_rule == "majority"
    assert config_from_args(QueueOptions, _parse("queue", "--strategy", "margin",
                                                 "--limit", "5")) == QueueOptions("margin", 5)
    assert config_from_args(ReviewOptions, _parse("review", "--folds", "3")).folds == 3


def test_settings_file_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"colour": "red"}), encoding="utf-8")
    with pytest.raises(WorkbenchError, match="Unknown training setting.*colour"):
        config_from_args(TrainConfig, _parse("train", "--settings", str(bad)))
    bad.write_text(json.dumps({"epochs": "many"}), encoding="utf-8")
    with pytest.raises(WorkbenchError, match="Invalid value 'many' for training setting epochs"):
        config_from_args(TrainConfig, _parse("train", "--settings", str(bad)))


@pytest.mark.parametrize("name, value", bad_values(TrainConfig))
def test_cli_and_json_refuse_bad_values_with_the_same_message(name, value, tmp_path, capsys):
    expected = TrainConfig.check({name: value})[name]
    # JSON settings file: the config's message, as it is.
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({name: value}), encoding="utf-8")
    with pytest.raises(WorkbenchError) as err:
        TrainConfig.load(path)
    assert str(err.value) == expected
    # ... and through --settings, naming the file.
    project = str(tmp_path / "never-opened.wbproj")
    assert main(["train", project, "--settings", str(path)]) == 1
    assert capsys.readouterr().err.strip() == f"error: {expected} [{path}]"
    # A flag: the same message, naming the flag.
    flag = next(i.cli for i in setting_infos(TrainConfig) if i.name == name)
    assert main(["train", project, flag, str(value)]) == 1
    assert capsys.readouterr().err.strip() == f"error: {expected} [{flag}]"


def test_several_bad_values_give_one_line_each(tmp_path, capsys):
    project = str(tmp_path / "never-opened.wbproj")
    assert main(["train", project, "--batch-size", "0", "--lr", "-1", "--test-fraction", "0.5"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("error: Invalid training setting") for line in lines)
    assert lines[0].endswith("[--learning-rate]")  # in field order
