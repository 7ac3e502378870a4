"""PII masking on a generated corpus of notes and messages: every planted structured item
is found, placeholders are consistent per record, exports carry masked text only."""
from __future__ import annotations

import json

import pytest

from tests.pii_corpus import card, iban, make_corpus, score
from workbench.core.data.exporter import export_labelled
from workbench.core.data.importer import add_texts
from workbench.core.errors import WorkbenchError
from workbench.core.prep.config import MaskConfig
from workbench.core.prep.operations import apply_plan, plan_mask, undo_step
from workbench.core.prep.pii import find_pii, iban_valid, luhn_valid, mask_text
from workbench.core.store.project import Project


def test_checksums():
    import random

    rng = random.Random(1)
    for _ in range(50):
        assert luhn_valid("".join(c for c in card(rng) if c.isdigit()))
        assert iban_valid(iban(rng))
    assert not luhn_valid("4111111111111112")
    assert iban_valid("GB82 WEST 1234 5698 7654 32")
    assert not iban_valid("GB82 WEST 1234 5698 7654 33")
    assert not iban_valid("XX82 WEST 1234 5698 7654 32")


def test_generated_corpus_recall_of_structured_kinds():
    corpus = make_corpus(800, seed=11)
    stats = score(corpus, [find_pii(text) for text, _ in corpus])
    for kind in ("EMAIL", "PHONE", "IBAN", "CARD", "IP"):
        assert stats[kind]["planted"] > 50
        assert stats[kind]["recall"] == 1.0, (kind, stats[kind])
    # Precision is stated, not required to be perfect (look-alikes are planted too).
    assert stats["CARD"]["precision"] == 1.0  # Luhn-invalid look-alikes are left alone
    assert min(s["precision"] for s in stats.values()) > 0.95


def test_placeholders_consistent_per_record():
    text = ("Mail a.b@example.com, then A.B@example.com again, or c@example.org; "
            "card 4111 1111 1111 1111 is 4111111111111111.")
    masked, findings = mask_text(text)
    assert masked == ("Mail <EMAIL_1>, then <EMAIL_1> again, or <EMAIL_2>; "
                      "card <CARD> is <CARD>.")
    assert [f.kind for f in findings] == ["EMAIL", "EMAIL", "EMAIL", "CARD", "CARD"]
    only_email, _ = mask_text(text, ["EMAIL"])
    assert "4111 1111 1111 1111" in only_email


def test_mask_project_report_export_and_undo(tmp_path):
    corpus = make_corpus(60, seed=5)
    path = tmp_path / "p.wbproj"
    with Project.create(path, ["x", "y"]) as project:
        ids = add_texts(project, [t for t, _ in corpus])
        for i, rid in enumerate(ids):
            project.annotate(rid, ["x" if i % 2 else "y"], annotator="ann")
        guarded = tmp_path / "guarded.csv"
        with pytest.raises(WorkbenchError, match=f"Record {ids[0]} still holds personal data"):
            export_labelled(project, guarded, masked_only=True)
        assert not guarded.exists()
        plan = plan_mask(project, MaskConfig())
        assert len(plan.changes) == 60
        planted = sum(len(p) for _t, p in corpus)
        structured = {k: sum(1 for _t, p in corpus for x in p if x[0] == k)
                      for k in ("EMAIL", "IBAN", "CARD", "IP")}
        for kind, n in structured.items():
            assert plan.items[kind] == n
        assert sum(plan.items.values()) >= planted
        report, _ = apply_plan(project, plan)
        assert report.applied == 60
        out = tmp_path / "export.jsonl"
        export_labelled(project, out, masked_only=True)
        export_labelled(project, guarded, mode="final", masked_only=True)
        assert "<IBAN>" in guarded.read_text(encoding="utf-8")
        exported = out.read_text(encoding="utf-8")
        assert len(exported.splitlines()) == 60
        assert "<EMAIL" in exported
        for _t, items in corpus:
            for _kind, _s, _e, value in items:
                assert value not in exported
                assert json.dumps(value)[1:-1] not in exported
        undo_step(project)
        assert project.get_record(ids[0]).text == corpus[0][0]


@pytest.mark.parametrize("text", [
    "Order 12345678 of EUR 1,234.56, dose 500 mg, BP 120/80, version v2.3.1",
    "Reference 4111 1111 1111 1112 is not a valid card",
])
def test_look_alikes_left_alone(text):
    assert mask_text(text)[0] == text
