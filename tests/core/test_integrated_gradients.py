"""Integrated gradients on a run's PyTorch model (captum, optional extra): one weight per
word of the text, adding up to the label's probability minus the baseline's (completeness)."""
from __future__ import annotations

import pytest
from deploy_fixtures import LABELS, make_project_with_run

pytest.importorskip("captum")

TEXT = "I was charged twice for my subscription, please refund it."


def test_weights_cover_the_words_and_add_up_to_the_probability_change(tmp_path, tiny_base_model, capsys):
    import json

    import torch

    from workbench.core.deploy.project_data import resolve_run
    from workbench.core.store.project import Project
    from workbench.core.training.integrated_gradients import integrated_gradients

    torch.set_num_threads(1)
    path = make_project_with_run(tiny_base_model, tmp_path)
    with Project.open(path) as project:
        model_dir = resolve_run(project, 1)["model_path"]
    out = integrated_gradients(model_dir, TEXT, steps=64)
    words = [TEXT[e["start"]:e["end"]] for e in out["explanation"]]
    assert "".join(words) == "".join(TEXT.split()) and all(w == w.strip() for w in words)
    total = sum(e["weight"] for e in out["explanation"])
    assert total == pytest.approx(out["probability"] - out["baseline_probability"], abs=2e-5 + out["delta"])
    assert any(abs(e["weight"]) > 0 for e in out["explanation"])
    other = integrated_gradients(model_dir, TEXT, label=next(
        lab for lab in LABELS if lab != out["label"]), steps=8)
    assert other["label"] != out["label"]
    from workbench.cli import main

    assert main(["explain", str(path), TEXT, "--run", "1", "--steps", "64", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["explanation"] == out["explanation"]
