"""Awkward command-line input: blank annotator names, label names that start with '-' or
contain commas, output piped into ``head``, out-of-range numbers. Each is either accepted
as meant or refused with one readable line, never a traceback."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from workbench.core.data.importer import import_rows
from workbench.core.store.project import Project


def wb(*args, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "workbench", *map(str, args)],
        capture_output=True, text=True, timeout=120, **kwargs,
    )


def assert_one_line_error(result, *fragments):
    assert result.returncode != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


LABELS = ["-neg", "pos", "a,b", "c", "d"]


@pytest.fixture
def proj(tmp_path):
    """A multi-label project whose labels include '-neg' and 'a,b', with 5 records."""
    path = tmp_path / "input.wbproj"
    with Project.create(path, LABELS, multi_label=True) as project:
        import_rows(project, [{"text": f"record {i}"} for i in range(5)], text_col="text",
                    source="t")
    return path


def labels_of(path, record_id, annotator="tester"):
    with Project.open(path) as project:
        ann = project.get_annotation(record_id, annotator)
        return None if ann is None else set(ann.labels)


# ----------------------------------------------------------------- annotator names
@pytest.mark.parametrize("blank", ["", "  ", "\t"])
def test_label_refuses_a_blank_annotator(proj, blank):
    r = wb("label", proj, "--id", 1, "--label", "pos", "--annotator", blank)
    assert_one_line_error(r, "annotator")
    with Project.open(proj) as project:
        assert project.annotators() == []


def test_annotator_name_is_trimmed(proj):
    r = wb("label", proj, "--id", 1, "--label", "pos", "--annotator", "  ann  ")
    assert r.returncode == 0, r.stderr
    assert labels_of(proj, 1, "ann") == {"pos"}


@pytest.mark.parametrize("args", [
    ("queue", "{p}", "--annotator", "  "),
    ("adjudicate", "{p}", "--id", "1", "--label", "pos", "--adjudicator", " "),
    ("annotators", "{p}", "--add", "  "),
    ("annotators", "{p}", "--remove", " "),
])
def test_every_annotator_option_refuses_blank_names(proj, args):
    r = wb(*[a.format(p=proj) for a in args])
    assert_one_line_error(r, "blank")
    with Project.open(proj) as project:
        n_final = project.db.execute("SELECT count(*) FROM final_labels").fetchone()[0]
    assert n_final == 0


# ----------------------------------------------------------------- label values
def test_label_starting_with_a_dash(proj):
    r = wb("label", proj, "--id", 1, "--label", "-neg")
    assert r.returncode == 0, r.stderr
    assert labels_of(proj, 1) == {"-neg"}
    r = wb("label", proj, "--id", 2, "--label=-neg")
    assert r.returncode == 0, r.stderr
    assert labels_of(proj, 2) == {"-neg"}


def test_a_known_label_with_a_comma_stays_whole(proj):
    r = wb("label", proj, "--id", 1, "--label", "a,b")
    assert r.returncode == 0, r.stderr
    assert labels_of(proj, 1) == {"a,b"}


def test_repeated_label_flags_and_comma_lists(proj):
    r = wb("label", proj, "--id", 1, "--label", "a,b", "--label", "-neg", "--label", "c,d")
    assert r.returncode == 0, r.stderr
    assert labels_of(proj, 1) == {"a,b", "-neg", "c", "d"}
    r = wb("label", proj, "--id", 2, "--label", "pos, c")
    assert r.returncode == 0, r.stderr
    assert labels_of(proj, 2) == {"pos", "c"}


def test_a_missing_value_is_still_an_error(proj):
    # The option after --label is not taken as a label name.
    r = wb("label", proj, "--id", 1, "--label", "--annotator", "bob")
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert labels_of(proj, 1, "bob") is None


def test_new_project_with_a_dash_label(tmp_path):
    path = tmp_path / "dash.wbproj"
    r = wb("new", path, "--labels", "-neg,pos")
    assert r.returncode == 0, r.stderr
    with Project.open(path) as project:
        assert project.label_names() == ["-neg", "pos"]


def test_adjudicate_with_a_dash_label(proj):
    assert wb("label", proj, "--id", 1, "--label", "pos", "--annotator", "x").returncode == 0
    r = wb("adjudicate", proj, "--id", 1, "--label", "-neg", "--adjudicator", "boss")
    assert r.returncode == 0, r.stderr
    assert "-neg" in r.stdout


# ----------------------------------------------------------------- broken pipes
@pytest.fixture(scope="module")
def many_labels(tmp_path_factory):
    """A project with 3,000 labels: ``stats --json`` prints well over a pipe buffer."""
    path = tmp_path_factory.mktemp("pipe") / "many.wbproj"
    with Project.create(path, [f"label number {i:05d}" for i in range(3000)]) as project:
        import_rows(project, [{"text": f"r{i}"} for i in range(50)], text_col="text",
                    source="t")
    return path


def _no_pipe_noise(stderr: str) -> None:
    assert "BrokenPipeError" not in stderr and "Traceback" not in stderr, stderr
    assert "Exception ignored" not in stderr, stderr


def test_stdout_closed_early_is_quiet(many_labels):
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench", "stats", str(many_labels), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    proc.stdout.close()  # nobody reads: every write fails with EPIPE
    stderr = proc.stderr.read()
    rc = proc.wait(timeout=60)
    _no_pipe_noise(stderr)
    assert rc in (0, 141)


@pytest.mark.parametrize("command", [
    "stats {p} --json",
    "stats {p}",
    "queue {p} --limit 50 --json",
])
def test_piped_into_head(many_labels, command):
    cmd = f"{sys.executable} -m workbench {command.format(p=many_labels)} | head -c 1"
    r = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=60,
                       env={**os.environ})
    assert r.stdout in ("{", "[", "m"), r.stdout
    _no_pipe_noise(r.stderr)


# ----------------------------------------------------------------- numbers
@pytest.mark.parametrize("args, fragment", [
    (("review", "{p}", "--limit", "-1"), "--limit"),
    (("review", "{p}", "--folds", "1"), "--folds"),
    (("review", "{p}", "--folds", "0"), "--folds"),
    (("queue", "{p}", "--limit", "-5"), "--limit"),
    (("label", "{p}", "--id", "-3", "--label", "pos"), "-3"),
    (("label", "{p}", "--id", str(2**70), "--label", "pos"), str(2**70)),
    (("adjudicate", "{p}", "--id", str(2**70), "--label", "pos"), str(2**70)),
    (("annotators", "{p}", "--assign", "k", "--k", "0"), "k"),
])
def test_out_of_range_numbers_are_one_line(proj, args, fragment):
    r = wb(*[a.format(p=proj) for a in args])
    assert_one_line_error(r, fragment)


def test_bad_number_syntax_is_a_usage_error(proj):
    r = wb("label", proj, "--id", "abc", "--label", "pos")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "invalid int value: 'abc'" in r.stderr


def test_json_label_output_stays_parseable(proj):
    r = wb("queue", proj, "--limit", "2", "--json", "--annotator", "-dash-")
    assert r.returncode == 0, r.stderr
    assert [x["id"] for x in json.loads(r.stdout)] == [1, 2]


def test_new_over_a_folder_is_one_line(tmp_path):
    folder = tmp_path / "taken.wbproj"
    folder.mkdir()
    assert_one_line_error(wb("new", folder, "--labels", "a,b", "--force"), "is a folder")
    assert folder.is_dir()
