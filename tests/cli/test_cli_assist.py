"""The assist commands end to end, in a subprocess: label, queue, predict-project, review."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from workbench.core.data.importer import import_rows
from workbench.core.store.project import Project


def wb(*args):
    return subprocess.run(
        [sys.executable, "-m", "workbench", *map(str, args)],
        capture_output=True, text=True, timeout=180,
    )


def assert_one_line_error(result, *fragments):
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture(scope="module")
def proj(tmp_path_factory):
    """60 labelled records over two topics (one mislabelled), plus 6 unlabelled."""
    path = tmp_path_factory.mktemp("cli") / "assist.wbproj"
    billing = ["invoice", "charged", "card", "payment", "bill", "fee", "price", "refund"]
    delivery = ["parcel", "courier", "tracking", "arrived", "package", "shipping", "late", "box"]
    rows = []
    for i in range(60):
        words, label = (billing, "billing") if i % 2 == 0 else (delivery, "delivery")
        if i == 10:
            label = "delivery"  # a billing text labelled delivery
        rows.append({"id": f"X{i}", "text": f"note {i} " + " ".join(words[(i + j) % 8] for j in range(4)),
                     "label": label})
    rows += [{"id": f"U{i}", "text": t, "label": ""} for i, t in enumerate([
        "card payment charged twice", "parcel tracking late", "invoice fee",
        "courier box arrived", "refund price bill parcel", "hello there",
    ])]
    with Project.create(path, ["billing", "delivery"]) as project:
        import_rows(project, rows, text_col="text", id_col="id", label_col="label", source="t")
    return path


def test_label_then_queue_skips_it(proj):
    r = wb("queue", proj, "--strategy", "order", "--limit", "3", "--json", "--annotator", "ann")
    assert r.returncode == 0, r.stderr
    first = json.loads(r.stdout)
    assert len(first) == 3 and {"id", "text"} <= set(first[0])
    r = wb("label", proj, "--id", first[0]["id"], "--label", "billing", "--annotator", "ann")
    assert r.returncode == 0, r.stderr
    assert f"Record {first[0]['id']}: billing (annotator ann)" in r.stdout
    r = wb("queue", proj, "--strategy", "order", "--limit", "3", "--json", "--annotator", "ann")
    assert [x["id"] for x in json.loads(r.stdout)][:2] == [x["id"] for x in first[1:]]
    with Project.open(proj) as project:
        ann = project.get_annotation(first[0]["id"], "ann")
        assert ann.labels == ("billing",) and ann.provenance == "manual"


def test_uncertainty_queue_and_coldstart_predictions(proj):
    r = wb("predict-project", proj)
    assert r.returncode == 0, r.stderr
    assert "cold-start predictions for 6 unlabelled records" in r.stdout
    r = wb("queue", proj, "--strategy", "least-confidence", "--limit", "6", "--json")
    assert r.returncode == 0, r.stderr
    items = json.loads(r.stdout)
    assert len(items) == 6
    # The confident, one-topic texts come after the mixed and the empty ones.
    first_two = {x["text"] for x in items[:2]}
    assert first_two == {"refund price bill parcel", "hello there"}
    assert all(x["suggestion"][0] in ("billing", "delivery") for x in items)
    confidences = [x["confidence"] for x in items]
    assert confidences[0] <= confidences[-1]
    r = wb("queue", proj, "--strategy", "diverse", "--limit", "4")
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.strip().splitlines()) == 4


def test_review_json(proj):
    r = wb("review", proj, "--json")
    assert r.returncode == 0, r.stderr
    issues = json.loads(r.stdout)
    assert issues, "the mislabelled record should be found"
    top = issues[0]
    assert {"id", "external_id", "label", "suggested_label", "score", "reason"} <= set(top)
    assert top["external_id"] == "X10"
    assert top["label"] == "delivery" and top["suggested_label"] == "billing"
    assert [x["score"] for x in issues] == sorted((x["score"] for x in issues), reverse=True)
    assert top["features"] == "combined"  # embeddings and TF-IDF (the bundled encoder loads)


def test_errors_are_one_line(proj, tmp_path):
    assert_one_line_error(wb("queue", proj, "--strategy", "fancy"), "Unknown queue order", "fancy")
    assert_one_line_error(wb("label", proj, "--id", 1, "--label", "nope"), "nope")
    assert_one_line_error(wb("label", proj, "--id", 99999, "--label", "billing"), "99999")
    assert_one_line_error(wb("predict-project", proj, "--run", 42), "Run 42")
    assert_one_line_error(wb("review", tmp_path / "missing.wbproj"), "does not exist")
    assert_one_line_error(wb("review", proj, "--features", "bert"), "features", "bert")
    empty = tmp_path / "empty.wbproj"
    Project.create(empty, ["a", "b"]).close()
    assert_one_line_error(wb("predict-project", empty), "two different labels")
