"""Kill -9 loops (see ``killloop.py``): at least 20 kills per operation, nothing confirmed
is lost, the file passes ``PRAGMA integrity_check`` and still opens.

A training run whose process was killed becomes 'interrupted' when the project is next
opened, and its half-written model folder is removed.
"""
from __future__ import annotations

import json

import killloop
import pytest

ITERATIONS = 20


def _report(record_property, figures):
    record_property("figures", json.dumps(figures))
    print(json.dumps(figures))


def test_the_check_sees_a_lost_label(tmp_path):
    """Control: a label removed behind the loop's back counts as lost."""
    path = tmp_path / "control.wbproj"
    baseline = killloop.make_project(path, n_records=20, n_baseline=5)
    assert killloop.count_lost(path, {killloop.BASELINE: baseline}) == 0
    from workbench.core.store.project import Project

    with Project.open(path) as project:
        project.delete_annotation(3, killloop.BASELINE)
    assert killloop.count_lost(path, {killloop.BASELINE: baseline}) == 1
    assert killloop.integrity_ok(path)


def test_kill_while_labelling(tmp_path, record_property):
    figures = killloop.kill_labelling(tmp_path, iterations=ITERATIONS, seed=11)
    _report(record_property, figures)
    assert figures["killed"] >= ITERATIONS // 2
    assert figures["confirmed_labels"] > 50  # the children did label before dying
    assert figures["confirmed_labels_lost"] == 0 and figures["worst_iteration_lost"] == 0
    assert figures["integrity_ok"]


def test_kill_workbench_label(tmp_path, record_property):
    figures = killloop.kill_cli_labelling(tmp_path, iterations=ITERATIONS, seed=12)
    _report(record_property, figures)
    assert figures["confirmed_labels_lost"] == 0
    assert figures["integrity_ok"]


def test_kill_while_importing(tmp_path, record_property):
    figures = killloop.kill_import(tmp_path, iterations=ITERATIONS, seed=13)
    _report(record_property, figures)
    assert figures["killed"] >= ITERATIONS // 2
    assert figures["partial_imports"] == 0  # every import landed whole or not at all
    assert figures["confirmed_labels_lost"] == 0
    assert figures["integrity_ok"] and figures["accepts_labels"]


@pytest.mark.timeout(600)
def test_kill_while_training(tmp_path, tiny_base_model, record_property):
    figures = killloop.kill_training(tmp_path, iterations=ITERATIONS, seed=14,
                                     base_model=tiny_base_model, late_share=0.25)
    _report(record_property, figures)
    assert figures["killed"] >= ITERATIONS - 2
    assert figures["confirmed_labels_lost"] == 0
    assert figures["integrity_ok"] and figures["reopen_ok"]
    assert figures["stale_running_runs"] == 0 and figures["partial_model_folders"] == 0
