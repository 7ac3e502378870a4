"""Augmented rows: stored apart from the records, only ever in the training split, and
absent from exports and the records count."""
from __future__ import annotations

import random

from workbench.core.data.exporter import export_labelled
from workbench.core.data.importer import add_texts
from workbench.core.prep.augment import augment_text, augmented_count
from workbench.core.prep.config import AugmentConfig
from workbench.core.prep.operations import apply_plan, plan_augment, undo_step
from workbench.core.store.project import Project
from workbench.core.store.record_queries import ANYONE, table_rows
from workbench.core.training.config import TrainConfig
from workbench.core.training.data import prepare_data


def test_augment_text_changes_words():
    rng = random.Random(0)
    text = "The order arrived late and the package was broken, please help me get a refund"
    out, method = augment_text(text, AugmentConfig(strength=0.2), rng)
    assert out != text and method
    same, none = augment_text("word", AugmentConfig(), rng)
    assert same == "word" and none == ""


def test_augmented_rows_only_in_train(tmp_path):
    path = tmp_path / "p.wbproj"
    rng = random.Random(4)
    with Project.create(path, ["late", "broken"]) as project:
        texts = [f"my parcel {i} is very late again please help {rng.random():.5f}"
                 for i in range(30)]
        texts += [f"the item {i} arrived broken and damaged {rng.random():.5f}"
                  for i in range(30)]
        ids = add_texts(project, texts)
        for i, rid in enumerate(ids):
            project.annotate(rid, ["late" if i < 30 else "broken"], annotator="ann")
        # A first run stores the split, so validation and test sources are known.
        base = prepare_data(project, seed=1)
        project.set_splits(base.changed_splits)
        held_out = {ex.record_id for ex in base.validation + base.test}
        assert held_out
        plan = plan_augment(project, AugmentConfig(copies=2))
        assert plan.sources == len(base.train)
        assert not {s for s, _t, _m in plan.rows} & held_out
        report, _ = apply_plan(project, plan)
        assert report.applied == len(plan.rows) > 0
        # Even an augmented row of a record later moved to test never reaches training.
        moved = base.train[0].record_id
        project.set_splits({moved: "test"})
        data = prepare_data(project, seed=1, augment=True)
        aug = [ex for ex in data.train if ex.record_id < 0]
        assert len(aug) == report.applied - sum(1 for s, _t, _m in plan.rows if s == moved)
        assert all(ex.record_id > 0 for ex in data.validation + data.test)
        assert len(data.validation) == len(base.validation)
        assert len(data.test) == len(base.test) + 1
        sources = dict(project.db.execute("SELECT id, source_id FROM augmented_records"))
        by_id = {ex.record_id: ex for ex in data.train}
        for ex in aug:
            assert ex.labels == by_id[sources[-ex.record_id]].labels
        plain = prepare_data(project, seed=1)
        assert all(ex.record_id > 0 for ex in plain.train)
        assert TrainConfig().augment is False
        # Not records: counts and exports do not see them.
        assert project.record_count() == 60
        out = tmp_path / "out.jsonl"
        export_labelled(project, out)
        exported = out.read_text(encoding="utf-8")
        assert len(exported.splitlines()) == 60
        for _s, text, _m in plan.rows:
            if text not in texts:
                assert text not in exported
        # The records table names them on their source record.
        source = plan.rows[0][0]
        n_rows = sum(1 for s, _t, _m in plan.rows if s == source)
        (row,) = table_rows(project, [source], ANYONE, 240)
        assert row[6] == f"{n_rows} augmented row(s)"
        undo_step(project)
        assert project.db.execute("SELECT count(*) FROM augmented_records").fetchone()[0] == 0
        assert table_rows(project, [source], ANYONE, 240)[0][6] == ""


def test_training_with_augment_uses_rows_only_in_train(tmp_path, tiny_base_model):
    import torch

    from workbench.core.training import train_project

    path = tmp_path / "t.wbproj"
    rng = random.Random(2)
    with Project.create(path, ["late", "broken"]) as project:
        texts = [f"parcel {i} late again help {rng.random():.4f}" for i in range(15)]
        texts += [f"item {i} arrived broken damaged {rng.random():.4f}" for i in range(15)]
        for i, rid in enumerate(add_texts(project, texts)):
            project.annotate(rid, ["late" if i < 15 else "broken"], annotator="ann")
        base = prepare_data(project, seed=42)
        project.set_splits(base.changed_splits)
        report, _ = apply_plan(project, plan_augment(project, AugmentConfig(copies=1)))
        n_aug = report.applied
    assert n_aug > 0
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        events = []
        config = TrainConfig(base_model=str(tiny_base_model), threads=1, epochs=1,
                             batch_size=8, max_steps=1, augment=True, method="finetune")
        result = train_project(path, config, progress=events.append)
    finally:
        torch.set_num_threads(old)
    assert result.status == "completed"
    start = next(e for e in events if e.phase == "train" and e.message.startswith("Training on"))
    assert start.message.startswith(f"Training on {len(base.train) + n_aug} records")
    with Project.open(path) as project:
        predicted = {r for (r,) in project.db.execute(
            "SELECT record_id FROM predictions WHERE run_id = ?", [result.run_id])}
        test_ids = {r for (r,) in project.db.execute(
            "SELECT id FROM records WHERE split = 'test'")}
        assert predicted == test_ids


def test_few_label_methods_leave_augmented_rows_out(tmp_path, tiny_base_model):
    """``auto`` cross-validates over records only: augmented copies are never scored and no
    prediction is stored for them (they are no records)."""
    from workbench.core.training import train_project

    path = tmp_path / "t.wbproj"
    with Project.create(path, ["late", "broken"]) as project:
        texts = [f"parcel {i} late again help" for i in range(12)]
        texts += [f"item {i} arrived broken damaged" for i in range(12)]
        for i, rid in enumerate(add_texts(project, texts)):
            project.annotate(rid, ["late" if i < 12 else "broken"], annotator="ann")
        project.set_splits(prepare_data(project, seed=42).changed_splits)
        report, _ = apply_plan(project, plan_augment(project, AugmentConfig(copies=1)))
        assert augmented_count(project) == report.applied
    assert report.applied > 0
    config = TrainConfig(base_model=str(tiny_base_model), threads=1, augment=True,
                         method="linear")
    result = train_project(path, config)
    assert result.status == "completed"
    assert result.metrics["split"] == "cross-validation"
    with Project.open(path) as project:
        predicted = {r for (r,) in project.db.execute(
            "SELECT record_id FROM predictions WHERE run_id = ?", [result.run_id])}
        records = {r for (r,) in project.db.execute("SELECT id FROM records")}
    assert predicted and predicted <= records
