"""Label cells on import: many new labels are added in linear time; cells that are not
text, a whole number or a list of those are refused naming the row."""
from __future__ import annotations

import json
import time

import pytest
from project_dump import project_dump as dump

from workbench.core.data.importer import import_file, import_rows, split_labels
from workbench.core.errors import ImportDataError
from workbench.core.store.project import Project


@pytest.fixture
def project(tmp_path):
    p = Project.create(tmp_path / "l.wbproj", ["pos", "neg"], multi_label=True)
    yield p
    p.close()


def test_many_new_labels_are_added_in_linear_time(project):
    n = 4000
    rows = [{"text": f"record {i}", "label": f"label-{i}"} for i in range(n)]
    started = time.perf_counter()
    report = import_rows(project, rows, text_col="text", label_col="label", add_labels=True)
    elapsed = time.perf_counter() - started
    assert report.added == n and len(report.new_labels) == n
    labels = project.labels()
    assert len(labels) == n + 2
    assert [lab.position for lab in labels] == list(range(n + 2))
    assert len({lab.shortcut for lab in labels if lab.shortcut}) == len(
        [lab for lab in labels if lab.shortcut])
    # Quadratic before (about 20 s for 4,000 labels); linear now (well under a second).
    assert elapsed < 4.0, f"{elapsed:.1f} s for {n} new labels"


def test_add_labels_bulk(project):
    added = project.add_labels(["a", "b", "c"])
    assert [lab.name for lab in added] == ["a", "b", "c"]
    assert project.label_names() == ["pos", "neg", "a", "b", "c"]
    assert [lab.shortcut for lab in project.labels()] == ["1", "2", "3", "4", "5"]
    with pytest.raises(Exception, match="already exists"):
        project.add_labels(["d", "a"])
    assert project.label_names() == ["pos", "neg", "a", "b", "c"]


@pytest.mark.parametrize(
    ("cell", "kind"),
    [
        (True, "true/false"),
        ({"a": "pos"}, "an object"),
        (1.5, "a decimal number"),
        (["pos", ["neg"]], "a list inside a list"),
        (["pos", {"x": 1}], "an object"),
        ([True], "true/false"),
    ],
)
def test_non_text_label_cells_are_refused_naming_the_row(project, tmp_path, cell, kind):
    path = tmp_path / "odd.jsonl"
    rows = [{"text": "fine", "label": "pos"}, {"text": "odd one", "label": cell}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    before = dump(project.path)
    with pytest.raises(ImportDataError, match=r"odd\.jsonl, row 2: .*label") as info:
        import_file(project, path, label_col="label", add_labels=True)
    assert kind in str(info.value)
    assert "\n" not in str(info.value)
    assert dump(project.path) == before


def test_whole_numbers_become_their_decimal_text(project, tmp_path):
    path = tmp_path / "nums.jsonl"
    rows = [{"text": "a", "label": 3}, {"text": "b", "label": [1, "pos"]},
            {"text": "c", "label": 2.0}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    import_file(project, path, label_col="label", add_labels=True)
    assert project.label_names() == ["pos", "neg", "3", "1", "2"]


def test_split_labels_rules():
    assert split_labels("a|b; c") == ["a", "b", "c"]
    assert split_labels(["a", 2, None, " "]) == ["a", "2"]
    assert split_labels('["x", "y"]') == ["x", "y"]
    assert split_labels("bad \ud800 name") == ["bad \ufffd name"]
    with pytest.raises(ImportDataError):
        split_labels("[" * 5000 + "]" * 5000)
    with pytest.raises(ImportDataError):
        split_labels(False)
