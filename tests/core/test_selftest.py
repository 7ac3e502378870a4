"""The self-test (``workbench --self-test``) runs every step for real and names a failing one."""
from __future__ import annotations

import io
import json

import pytest

from workbench.selftest import STEP_NAMES, main

pytestmark = pytest.mark.timeout(180)


def test_self_test_runs_every_step_and_leaves_a_working_bundle(tmp_path):
    import torch

    torch.set_num_threads(1)
    work = tmp_path / "work"
    out = io.StringIO()
    code = main(["--no-window", "--steps", "2", "--keep", str(work)], out=out)
    text = out.getvalue()
    assert code == 0, text
    assert text.rstrip().splitlines()[-1].startswith("self-test: ok")
    for name in STEP_NAMES:
        if name != "window":
            assert f"] {name} ..." in text
    assert "] window ..." not in text
    assert "FAILED" not in text

    # What the steps reported really exists: a project with a completed run and a bundle.
    from workbench.core.deploy.inference import Predictor
    from workbench.core.store.project import Project
    from workbench.core.training import list_runs

    with Project.open(work / "self-test.wbproj") as project:
        assert project.record_count() >= 300
        runs = list_runs(project)
        labels = project.label_names()
    assert [r["status"] for r in runs] == ["completed"]
    bundle = work / "bundle"
    assert json.loads((bundle / "bundle.json").read_text())["labels"] == labels
    predictor = Predictor.load(bundle)
    assert predictor.predict_proba(["where is my parcel"]).shape == (1, len(labels))


def test_tiny_tokenizer_knows_words(tmp_path):
    from transformers import AutoTokenizer

    from workbench.selftest import make_tiny_base_model

    folder = make_tiny_base_model(tmp_path / "tiny")
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    tokens = tokenizer.tokenize("Refund my order, please")
    assert tokens[:2] == ["refund", "my"]
    assert "[UNK]" not in tokens


def test_failing_step_is_named_and_exits_non_zero(tmp_path):
    out = io.StringIO()
    missing = tmp_path / "no-such-model"
    code = main(["--no-window", "--base-model", str(missing)], out=out)
    text = out.getvalue()
    assert code == 1
    assert "] base model ..." in text
    assert "] train ..." not in text
    last = text.rstrip().splitlines()[-1]
    assert last.startswith("self-test: FAILED at step 'base model'")
    assert str(missing) in last


def test_existing_work_folder_project_fails_the_import_step(tmp_path):
    from workbench.core.store.project import Project

    Project.create(tmp_path / "self-test.wbproj").close()
    out = io.StringIO()
    code = main(["--no-window", "--keep", str(tmp_path)], out=out)
    assert code == 1
    assert "self-test: FAILED at step 'import'" in out.getvalue()


def test_bad_step_count_is_refused(capsys):
    assert main(["--steps", "0"], out=io.StringIO()) == 2
    assert "--steps" in capsys.readouterr().err
