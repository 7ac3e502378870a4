"""Span files in and out: CoNLL (2/4 columns, BIO/BIOES, -DOCSTART-), spaCy-style JSONL,
doccano, Label Studio, plain records; bad files name the line and change nothing."""
from __future__ import annotations

import json

import pytest

from tests.project_dump import project_dump
from workbench.core.errors import ImportDataError
from workbench.core.spans.formats_conll import detokenize
from workbench.core.spans.span_export import export_spans
from workbench.core.spans.span_import import import_span_file
from workbench.core.spans.span_snapshot import resolved_spans
from workbench.core.spans.tags import entities_to_tags, tags_to_entities
from workbench.core.store.project import Project
from workbench.core.store.spans import Span

CONLL4 = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O
to TO B-VP O
boycott VB I-VP O
British JJ B-NP B-MISC
lamb NN I-NP O
. . O O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER
"""

CONLL_BIOES = """Take\tO
aspirin\tS-drug
81\tB-dose
mg\tE-dose
( ( O
daily\tS-freq
) ) O
.\tO
"""


@pytest.fixture
def proj(tmp_path):
    p = Project.create(tmp_path / "p.wbproj", ["ORG", "MISC", "PER"], task="spans")
    yield p
    p.close()


def texts_and_spans(project):
    return [(r.text, [(r.text[s.start:s.end], s.label) for s in r.spans])
            for r in resolved_spans(project)]


def test_tags_roundtrip():
    tags = ["B-X", "I-X", "O", "I-Y", "I-Y", "B-Y", "S-Z", "B-X", "E-X", "U-Z", "I-X"]
    ents = tags_to_entities(tags)
    assert ents == [(0, 2, "X"), (3, 5, "Y"), (5, 6, "Y"), (6, 7, "Z"), (7, 9, "X"),
                    (9, 10, "Z"), (10, 11, "X")]
    assert tags_to_entities(entities_to_tags(11, ents, "bioes")) == ents
    assert tags_to_entities(entities_to_tags(11, ents, "bio")) == ents
    with pytest.raises(ValueError):
        tags_to_entities(["B-X", "Q"])


def test_detokenize_offsets():
    text, offsets = detokenize(["Take", "(", "aspirin", ")", ",", "don", "n't", "."])
    assert text == "Take (aspirin), donn't."
    assert [text[a:b] for a, b in offsets] == ["Take", "(", "aspirin", ")", ",", "don",
                                               "n't", "."]


def test_conll_4_columns(proj, tmp_path):
    path = tmp_path / "train.conll"
    path.write_text(CONLL4, encoding="utf-8")
    report = import_span_file(proj, path)
    assert report.added == 2 and report.labelled == 2
    assert texts_and_spans(proj) == [
        ("EU rejects German call to boycott British lamb.",
         [("EU", "ORG"), ("German", "MISC"), ("British", "MISC")]),
        ("Peter Blackburn", [("Peter Blackburn", "PER")]),
    ]


def test_conll_bioes_unknown_labels(proj, tmp_path):
    path = tmp_path / "notes.conll"
    path.write_text(CONLL_BIOES, encoding="utf-8")
    before = project_dump(proj.path)
    with pytest.raises(ImportDataError, match=r"notes\.conll, line 2: label 'drug'"):
        import_span_file(proj, path)
    assert project_dump(proj.path) == before
    report = import_span_file(proj, path, add_labels=True)
    assert report.new_labels == ["drug", "dose", "freq"]
    assert texts_and_spans(proj) == [
        ("Take aspirin 81 mg (daily).", [("aspirin", "drug"), ("81 mg", "dose"),
                                         ("daily", "freq")])]


@pytest.mark.parametrize("content, message", [
    ("EU B-ORG\nrejects\n", r"line 2: expected a token and its tag"),
    ("EU B-ORG\nrejects X-ORG\n", r"line 2: tag 'X-ORG'"),
    ('{"text": "EU rejects", "spans": [{"start": 0, "end": 2, "label": "ORG"}]}\n'
     '{"text": "Peter", "spans": [{"start": 0, "end": 9, "label": "PER"}]}\n',
     r"line 2: span 0-9 \(PER\) does not match the text"),
    ('{"text": "EU rejects", "spans": [{"start": 0, "end": 2, "label": "ORG"},'
     ' {"start": 1, "end": 5, "label": "MISC"}]}\n', r"line 1: spans 0-2 \(ORG\) and 1-5"),
    ('{"text": "EU"}\n{"text": "x", \n', r"line 2: not valid JSON"),
])
def test_bad_files_name_the_line_and_change_nothing(proj, tmp_path, content, message):
    path = tmp_path / ("bad.conll" if "{" not in content else "bad.jsonl")
    path.write_text(content, encoding="utf-8")
    before = project_dump(proj.path)
    with pytest.raises(ImportDataError, match=message):
        import_span_file(proj, path)
    assert project_dump(proj.path) == before


def test_json_flavours_and_plain(proj, tmp_path):
    spacy = tmp_path / "s.jsonl"
    spacy.write_text(json.dumps({"text": "Alice at EU", "spans": [
        {"start": 0, "end": 5, "label": "PER"}, {"start": 9, "end": 11, "label": "ORG"}]})
        + "\n" + json.dumps({"text": "nothing here"}) + "\n", encoding="utf-8")
    doccano = tmp_path / "d.jsonl"
    doccano.write_text(json.dumps({"id": 7, "text": "Bob in Paris", "label": [[0, 3, "PER"]]})
                       + "\n", encoding="utf-8")
    ls = tmp_path / "ls.json"
    ls.write_text(json.dumps([{"data": {"text": "Carol of ACME"}, "annotations": [{"result": [
        {"value": {"start": 9, "end": 13, "text": "ACME", "labels": ["ORG"]},
         "from_name": "label", "to_name": "text", "type": "labels"}]}]},
        {"data": {"text": "unlabelled task"}}]), encoding="utf-8")
    for path in (spacy, doccano, ls):
        import_span_file(proj, path)
    assert proj.record_count() == 5
    assert texts_and_spans(proj) == [
        ("Alice at EU", [("Alice", "PER"), ("EU", "ORG")]),
        ("Bob in Paris", [("Bob", "PER")]),
        ("Carol of ACME", [("ACME", "ORG")]),
    ]
    assert proj.stats()["labelled"] == 3  # plain records stay to be labelled


@pytest.mark.parametrize("fmt, suffix", [("conll", ".conll"), ("conll-bioes", ".conll"),
                                         ("spacy", ".jsonl"), ("doccano", ".jsonl"),
                                         ("labelstudio", ".json")])
def test_export_reimports_the_same(proj, tmp_path, fmt, suffix):
    src = tmp_path / "in.conll"
    src.write_text(CONLL4, encoding="utf-8")
    import_span_file(proj, src)
    out = tmp_path / f"out{suffix}"
    summary = export_spans(proj, out, fmt=fmt)
    assert summary.rows == 2
    other = Project.create(tmp_path / "o.wbproj", ["ORG", "MISC", "PER"], task="spans")
    import_span_file(other, out, fmt=fmt.split("-")[0])
    assert texts_and_spans(other) == texts_and_spans(proj)
    other.close()


def test_conll_export_splits_words_at_span_edges(proj, tmp_path):
    from workbench.core.data.importer import add_texts
    from workbench.core.store import span_operations as ops
    (rid,) = add_texts(proj, ["ACMEcorp, Ltd."])
    ops.set_spans(proj, rid, [Span(0, 4, "ORG")])
    out = tmp_path / "o.conll"
    export_spans(proj, out)
    assert out.read_text().splitlines()[2:6] == ["ACME\tB-ORG", "corp\tO", ",\tO", "Ltd\tO"]
