"""Near-duplicates on real project files: planted light edits are grouped, keep-one removes
all but one (undoable), conflicting labels are never reduced and go to the Review list."""
from __future__ import annotations

import random

import pytest

from workbench.core.assist.review import find_label_issues
from workbench.core.data.importer import add_texts
from workbench.core.prep.config import NearDuplicateConfig
from workbench.core.prep.near_duplicates import band_params, find_groups, signatures
from workbench.core.prep.operations import apply_plan, plan_near_duplicates, undo_step
from workbench.core.prep.record_steps import duplicate_conflicts
from workbench.core.store.project import Project
from workbench.core.store.record_queries import ANYONE, table_rows

WORDS = [f"word{i}" for i in range(3000)]


def base_texts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(12, 30))) for _ in range(n)]


def light_edit(text: str, rng: random.Random) -> str:
    words = text.split()
    words[rng.randrange(len(words))] = rng.choice(WORDS)
    return " ".join(words) + rng.choice([".", "!", " thanks"])


def test_signatures_find_planted_edits():
    rng = random.Random(3)
    texts = base_texts(600)
    truth = set()
    for i in range(60):
        texts.append(light_edit(texts[i], rng))
        truth.add((i, len(texts) - 1))
    texts.append("")  # no words: no signature, no group
    sig, has = signatures(texts)
    assert not has[-1]
    groups = find_groups(sig, has, threshold=0.5)
    pairs = {(a, b) for g in groups for a in g for b in g if a < b}
    assert len(pairs & truth) >= 57  # recall >= 0.95
    assert len(pairs - truth) <= 3
    # A text holding the batch separator character, and texts without words, keep the
    # signatures of the others aligned.
    odd = ["!!!", "alpha\u2063beta gamma delta", "", "alpha beta gamma delta", "?"]
    sig2, has2 = signatures(odd)
    assert has2.tolist() == [False, True, False, True, False]
    assert find_groups(sig2, has2, threshold=0.9) == [[1, 3]]
    bands, rows = band_params(0.5, 64)
    assert bands * rows <= 64


@pytest.fixture
def dup_project(project_path):
    rng = random.Random(1)
    texts = base_texts(40, seed=2)
    texts += [light_edit(texts[0], rng), light_edit(texts[1], rng), light_edit(texts[2], rng)]
    with Project.create(project_path, ["a", "b"]) as p:
        ids = add_texts(p, texts)
        # group 0: same label (a, a); group 1: conflicting (a vs b); group 2: unlabelled.
        p.annotate(ids[0], ["a"], annotator="ann")
        p.annotate(ids[40], ["a"], annotator="ann")
        p.annotate(ids[1], ["a"], annotator="ann")
        p.annotate(ids[41], ["b"], annotator="ann")
        for rid in ids[3:10]:
            p.annotate(rid, ["a" if rid % 2 else "b"], annotator="ann")
    p = Project.open(project_path)
    yield p, ids
    p.close()


def test_keep_one_conflicts_and_undo(dup_project):
    project, ids = dup_project
    plan = plan_near_duplicates(project, NearDuplicateConfig(duplicates="keep-one"))
    assert plan.groups == [[ids[0], ids[40]], [ids[1], ids[41]], [ids[2], ids[42]]]
    assert plan.conflicts == [1]
    assert sorted(plan.remove) == [ids[40], ids[42]]
    n = project.record_count()
    report, changes = apply_plan(project, plan)
    assert report.applied == len(plan.remove) == 2
    assert project.record_count() == n - 2 and changes.records
    issues = {i.id: i for i in find_label_issues(project, folds=2)}
    assert duplicate_conflicts(project) == {ids[1]: [ids[41]], ids[41]: [ids[1]]}
    assert ids[1] in issues or ids[41] in issues
    undo_step(project)
    assert project.record_count() == n
    assert project.get_annotation(ids[40], "ann").labels == ("a",)
    assert project.db.execute("SELECT count(*) FROM record_marks").fetchone()[0] == 0


def test_mark_and_json_groups(dup_project):
    project, ids = dup_project
    plan = plan_near_duplicates(project, NearDuplicateConfig())
    data = plan.to_dict()
    assert data["groups"] == [[ids[0], ids[40]], [ids[1], ids[41]], [ids[2], ids[42]]]
    assert data["mark"] == sorted(ids[i] for i in (0, 1, 2, 40, 41, 42))
    report, _ = apply_plan(project, plan)
    assert report.applied == 0  # nothing removed
    marks = dict(project.db.execute(
        "SELECT record_id, value FROM record_marks WHERE kind = 'near_duplicate'"))
    assert marks == {ids[i]: str(ids[i % 40]) for i in (0, 1, 2, 40, 41, 42)}
    notes = {r[0]: r[6] for r in table_rows(project, [ids[0], ids[40], ids[41]], ANYONE, 80)}
    assert notes == {ids[0]: "", ids[40]: f"near-duplicate of #{ids[0]}",
                     ids[41]: f"labels conflict with near-duplicates; near-duplicate of #{ids[1]}"}


def test_signatures_same_in_every_process():
    import os
    import subprocess
    import sys

    code = ("import hashlib;from workbench.core.prep.near_duplicates import signatures;"
            "t=[' '.join(f'w{i*7%13} x{i%5} y{i}' for i in range(k, k+9)) for k in range(50)];"
            "print(hashlib.sha1(signatures(t)[0].tobytes()).hexdigest())")
    outs = set()
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        outs.add(subprocess.run([sys.executable, "-c", code], env=env, check=True,
                                capture_output=True, text=True).stdout)
    assert len(outs) == 1
