"""``workbench clean`` and ``workbench augment`` through the CLI entry point (in process)."""
from __future__ import annotations

import argparse
import json

import pytest
from settings_cases import bad_values

from workbench.cli import build_parser, main
from workbench.cli.common import config_from_args
from workbench.core.data.importer import add_texts
from workbench.core.prep.config import (
    AugmentConfig,
    FilterConfig,
    MaskConfig,
    NearDuplicateConfig,
    NormaliseConfig,
)
from workbench.core.settings import setting_info, setting_infos
from workbench.core.store.project import Project

TEXTS = [
    "Caf&eacute; <b>closed</b>, mail anna.smith@example.com",
    "Call +44 20 7946 0958 about the late parcel please",
    "Call +44 20 7946 0958 about the late parcel please!",
    "An unrelated message about a broken screen",
]


def make(tmp_path):
    path = tmp_path / "p.wbproj"
    with Project.create(path, ["late", "broken"]) as p:
        ids = add_texts(p, TEXTS)
        p.annotate(ids[1], ["late"], annotator="ann")
        p.annotate(ids[2], ["broken"], annotator="ann")
    return str(path)


def texts(path):
    with Project.open(path) as p:
        return [r.text for r in p.get_records(range(1, 5))]


def test_clean_dry_run_apply_restore_undo(tmp_path, capsys):
    path = make(tmp_path)
    assert main(["clean", path, "--normalise", "--dry-run", "--json"]) == 0
    preview = json.loads(capsys.readouterr().out)
    assert preview["applied"] is None and texts(path) == TEXTS
    assert main(["clean", path, "--normalise", "--json"]) == 0
    applied = json.loads(capsys.readouterr().out)
    assert applied["applied"]["applied"] == preview["plan"]["records_changed"] == 1
    assert main(["clean", path, "--mask-pii", "--types", "EMAIL,PHONE"]) == 0
    out = capsys.readouterr().out
    assert "EMAIL: 1 record(s)" in out and "PHONE: 2 record(s)" in out
    assert texts(path)[0] == "Café closed, mail <EMAIL>"
    assert main(["clean", path, "--restore"]) == 0
    assert texts(path) == TEXTS
    assert main(["clean", path, "--undo"]) == 0
    assert "Undid restore" in capsys.readouterr().out
    assert texts(path)[0] == "Café closed, mail <EMAIL>"


def test_near_duplicates_json_groups_and_bad_flag(tmp_path, capsys):
    path = make(tmp_path)
    assert main(["clean", path, "--near-duplicates", "--json", "--duplicates", "keep-one"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["plan"]["groups"] == [[2, 3]]
    assert data["plan"]["conflicting_groups"] == [[2, 3]]  # late vs broken: kept, reviewed
    assert data["plan"]["remove"] == []
    assert main(["clean", path, "--filter", "--filtered", "nope"]) == 1
    assert "filtered must be one of" in capsys.readouterr().err
    assert texts(path) == TEXTS


def test_augment_cli(tmp_path, capsys):
    path = make(tmp_path)
    assert main(["augment", path, "--copies", "3", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["plan"]["sources"] == 2
    with Project.open(path) as p:
        n = p.db.execute("SELECT count(*) FROM augmented_records").fetchone()[0]
    assert n == data["applied"]["applied"] > 0


PREP_CONFIGS = [
    ("clean", "--normalise", NormaliseConfig),
    ("clean", "--mask-pii", MaskConfig),
    ("clean", "--near-duplicates", NearDuplicateConfig),
    ("clean", "--filter", FilterConfig),
    ("augment", None, AugmentConfig),
]


@pytest.mark.parametrize("command, mode, cls", PREP_CONFIGS)
def test_every_prep_setting_is_a_flag(command, mode, cls):
    parser = build_parser()
    argv = [command, "p.wbproj"] + ([mode] if mode else [])
    args = parser.parse_args(argv)
    assert config_from_args(cls, args) == cls()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    flags = {s for a in sub.choices[command]._actions for s in a.option_strings}
    for info in setting_infos(cls):
        assert info.cli in flags


@pytest.mark.parametrize("command, mode, cls, name, value", [
    (command, mode, cls, name, value)
    for command, mode, cls in PREP_CONFIGS for name, value in bad_values(cls)
])
def test_bad_values_refused_project_unchanged(command, mode, cls, name, value, tmp_path, capsys):
    path = make(tmp_path)
    flag = setting_info(cls, name).cli
    argv = [command, path] + ([mode] if mode else []) + [f"{flag}={value}"]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and flag in err[0]
    assert texts(path) == TEXTS
    with Project.open(path) as p:
        assert p.db.execute("SELECT count(*) FROM prep_steps").fetchone()[0] == 0


def test_export_masked_only(tmp_path, capsys):
    path = make(tmp_path)
    out = tmp_path / "out.csv"
    assert main(["export", path, str(out), "--masked-only"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "still holds personal data (PHONE)" in err[0]
    assert not out.exists()
    assert main(["clean", path, "--mask-pii"]) == 0
    assert main(["export", path, str(out), "--masked-only"]) == 0
    assert "<PHONE>" in out.read_text(encoding="utf-8")
