"""Label-error review: the confident-learning rule, near-duplicates, the project review."""
from __future__ import annotations

import numpy as np
import pytest

from workbench.core.assist import review
from workbench.core.data.importer import add_texts, import_rows
from workbench.core.store.project import Project


def test_confident_learning_flags_confidently_wrong_labels():
    given = np.array([0, 0, 0, 1, 1, 1, 0])
    probs = np.array(
        [
            [0.9, 0.1],
            [0.8, 0.2],
            [0.7, 0.3],
            [0.2, 0.8],
            [0.1, 0.9],
            [0.3, 0.7],
            [0.1, 0.9],  # labelled 0, the model is as sure of 1 as for real 1s
        ]
    )
    flagged, suggested, score = review.confident_learning(given, probs)
    assert flagged.tolist() == [False] * 6 + [True]
    assert suggested[6] == 1
    assert score[6] == pytest.approx(0.9)
    # Class-0 threshold is the mean p0 over class-0 rows: (0.9+0.8+0.7+0.1)/4 = 0.625.
    assert suggested[2] == 0 and suggested[5] == -1


def test_confident_learning_uncertain_rows_are_not_flagged():
    given = np.array([0, 0, 1, 1, 0])
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.1, 0.9], [0.1, 0.9], [0.45, 0.55]])
    flagged, suggested, _score = review.confident_learning(given, probs)
    assert not flagged.any()  # 0.55 is below class 1's threshold (mean 0.76)
    assert suggested[4] == -1


def test_confident_learning_multilabel():
    given = np.array([[1, 0], [1, 0], [1, 1], [0, 1], [1, 0]])
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.9, 0.9], [0.2, 0.8], [0.1, 0.95]])
    flagged, suggested, score = review.confident_learning_multilabel(given, probs)
    assert flagged.tolist() == [False, False, False, False, True]
    assert suggested[4].tolist() == [0, 1]
    assert score[4] == pytest.approx(0.95)


def test_near_duplicate_pairs():
    from sklearn.preprocessing import normalize

    X = normalize(np.array([[1.0, 0.0, 0.0], [0.99, 0.05, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
    from scipy.sparse import csr_matrix

    pairs = review.near_duplicate_pairs(csr_matrix(X), 0.9)
    assert [(i, j) for i, j, _ in pairs] == [(0, 1)]
    assert pairs[0][2] > 0.99


def _make_project(tmp_path, flip_ids=()):
    """80 easy records over two topics; records in flip_ids carry the wrong label."""
    project = Project.create(tmp_path / "rev.wbproj", ["billing", "delivery"])
    words_b = ["invoice", "charged", "card", "payment", "bill", "refund", "price", "fee"]
    words_d = ["parcel", "courier", "tracking", "arrived", "package", "shipping", "late", "box"]
    rows = []
    for i in range(80):
        words, label = (words_b, "billing") if i % 2 == 0 else (words_d, "delivery")
        text = f"message {i}: " + " ".join(words[(i + j) % 8] for j in range(4))
        if f"E{i}" in flip_ids:
            label = "delivery" if label == "billing" else "billing"
        rows.append({"id": f"E{i}", "text": text, "label": label})
    rows.append({"id": "D1", "text": "my parcel never arrived at all, please check", "label": "delivery"})
    rows.append({"id": "D2", "text": "my parcel never arrived at all please check!", "label": "billing"})
    import_rows(project, rows, text_col="text", id_col="id", label_col="label", source="test")
    return project


def test_find_label_issues_on_a_project(tmp_path):
    project = _make_project(tmp_path, flip_ids={"E4", "E11"})
    issues = review.find_label_issues(project)
    by_ext = {x.external_id: x for x in issues}
    assert "E4" in by_ext and "E11" in by_ext
    assert by_ext["E4"].label == "delivery" and by_ext["E4"].suggested_label == "billing"
    assert "The model leans to 'billing'" in by_ext["E4"].reason
    # The near-duplicate pair is reported with the other record's label as suggestion.
    dup = by_ext.get("D2") or by_ext.get("D1")
    assert dup is not None and "Nearly the same text" in dup.reason
    assert dup.suggested_label != dup.label
    assert [x.score for x in issues] == sorted((x.score for x in issues), reverse=True)
    # The flipped records are the most suspicious of all.
    assert {issues[0].external_id, issues[1].external_id} <= {"E4", "E11", "D1", "D2"}
    d = issues[0].to_dict()
    for key in ("id", "external_id", "label", "suggested_label", "score", "reason"):
        assert key in d
    project.close()


def test_kept_label_is_not_flagged_again(tmp_path):
    project = _make_project(tmp_path, flip_ids={"E4"})
    issue = next(x for x in review.find_label_issues(project) if x.external_id == "E4")
    review.keep_label(project, issue.id, issue.labels)
    assert all(x.id != issue.id for x in review.find_label_issues(project))
    assert any(x.id == issue.id for x in review.find_label_issues(project, include_kept=True))
    project.close()


def test_too_few_labels_gives_no_issues(tmp_path):
    project = Project.create(tmp_path / "few.wbproj", ["a", "b"])
    ids = add_texts(project, ["one", "two", "three"])
    project.annotate(ids[0], ["a"])
    assert review.find_label_issues(project) == []
    project.close()


def test_review_project_can_be_cancelled(tmp_path):
    from workbench.core.errors import Cancelled

    project = _make_project(tmp_path)
    path = project.path
    project.close()
    with pytest.raises(Cancelled):
        review.review_project(path, should_stop=lambda: True)


def test_multilabel_review_suggests_the_corrected_set(tmp_path):
    project = Project.create(tmp_path / "ml.wbproj", ["billing", "urgent"], multi_label=True)
    billing = ["invoice", "charged", "card", "payment", "bill", "fee"]
    other = ["parcel", "courier", "tracking", "arrived", "package", "box"]
    texts, sets = [], []
    for i in range(60):
        is_billing = i % 2 == 0
        words = billing if is_billing else other
        urgent = i % 3 == 0
        text = " ".join(words[(i + j) % 6] for j in range(3)) + (" asap now" if urgent else " thanks") + f" {i}"
        labels = (["billing"] if is_billing else []) + (["urgent"] if urgent else [])
        texts.append(text)
        sets.append(labels)
    ids = add_texts(project, texts)
    wrong = None
    for rid, labels, i in zip(ids, sets, range(60), strict=True):
        if i == 8:  # billing, not urgent: labelled as billing + urgent
            labels, wrong = ["billing", "urgent"], rid
        if labels:
            project.annotate(rid, labels)
    issues = review.find_label_issues(project)
    by_id = {x.id: x for x in issues}
    assert wrong in by_id
    assert by_id[wrong].labels == ("billing", "urgent")
    assert by_id[wrong].suggested_labels == ("billing",)
    project.close()
