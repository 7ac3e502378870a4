"""Compression benchmark: student, pruned, trimmed and static/dynamic int8 variants of a
fine-tuned MiniLM against the teacher's int8 export, measured side by side in one run.

The data set is built offline, without downloads: half of it natural customer-support
messages from the demo generator (``resources/demo/make_demo.py``, seeds 1..11; a share
deliberately ambiguous between two intents), half keyword messages with distractor words
from other intents (``make_dataset`` of ``benchmarks/active_learning.py``, seed 11), over
the same 6 imbalanced intents, ~12 words each. ``--labelled`` of them (default 2,000) are
labelled, ``--unlabelled`` more (default 1,000) are imported without labels. The training core splits the labelled records into
train/validation/test (70/15/15).

Steps: fine-tune the bundled MiniLM (the teacher), distil it into a 3-layer student and a
3-layer, 192-wide student (labelled + unlabelled records), prune a copy (25% of heads,
50% of feed-forward neurons, one recovery epoch), trim the vocabulary of the teacher and
of the student (the trimmed teacher also as ``trimmed-int4``: its largest matrices at 4 bits,
the rest int8, see ``workbench/core/compress/int4.py``), export each variant with the variant exporter (static int8 tried against
dynamic, the winner kept), then measure every engine interleaved on the test records:
size of the model file, batch-1 median latency (tokenization included), batch-32
throughput (length-sorted batches), macro-F1 on the test records and agreement with the
teacher's PyTorch predictions. One thread for every engine (OMP_NUM_THREADS=1).

    nice -n 10 python benchmarks/compression.py [--epochs 3] [--labelled 2000] [--unlabelled 1000]

Targets (issue "Smaller and faster models"): student int8 >= 2x the teacher int8's batch-32
throughput and >= 1.8x its batch-1 speed with <= 1 point macro-F1 loss; trimmed int8 under
10 MB with unchanged predictions; the best variant >= 8x PyTorch fp32 at batch 1 within 1
point of the teacher.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def build_data(n_labelled: int, n_unlabelled: int) -> tuple[list[tuple[str, str]], list[str]]:
    """Half natural support messages (demo generator, seeds 1..11), half keyword messages
    with distractor words from other intents (the active-learning benchmark's generator),
    over the same 6 intents, shuffled; the first ``n_labelled`` keep their labels."""
    import random

    sys.path.insert(0, str(ROOT / "resources" / "demo"))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import make_demo
    from active_learning import make_dataset

    total = n_labelled + n_unlabelled
    seen: dict[str, tuple[str, str]] = {}
    for seed in range(1, 12):
        for row in make_demo.generate(seed):
            seen.setdefault(" ".join(row["text"].lower().split()), (row["text"], row["intent"]))
    natural = list(seen.values())
    random.Random(7).shuffle(natural)
    natural = natural[: total // 2]
    texts, labels = make_dataset(total - len(natural), seed=11)
    rows = natural + list(zip(texts, labels, strict=True))
    random.Random(8).shuffle(rows)
    return rows[:n_labelled], [t for t, _ in rows[n_labelled:total]]


def make_project(folder: Path, labelled: list[tuple[str, str]], unlabelled: list[str]) -> Path:
    from workbench.core.data.importer import add_texts
    from workbench.core.store.project import Project

    path = folder / "support.wbproj"
    labels = sorted({lab for _t, lab in labelled})
    with Project.create(path, labels) as project:
        ids = add_texts(project, [t for t, _ in labelled])
        for rid, (_t, lab) in zip(ids, labelled, strict=True):
            project.annotate(rid, [lab])
        add_texts(project, unlabelled)
    return path


def step(title: str, t0: float) -> None:
    print(f"[{time.perf_counter() - t0:6.0f}s] {title}", file=sys.stderr, flush=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--labelled", type=int, default=2000)
    ap.add_argument("--unlabelled", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--student-epochs", type=int, default=3)
    ap.add_argument("--small-student", default="layers=3;hidden=192;ffn=768")
    ap.add_argument("--repeats", type=int, default=3, help="batch-32 rounds per engine (best kept)")
    args = ap.parse_args()

    import numpy as np
    import torch

    from workbench.core.compress.distill import DistillConfig, distill_job
    from workbench.core.compress.prune import PruneConfig, prune_job
    from workbench.core.compress.trim import TrimConfig, trim_job
    from workbench.core.compress.variant_export import export_variant
    from workbench.core.deploy import convert, verify
    from workbench.core.deploy.inference import Predictor
    from workbench.core.store.project import Project
    from workbench.core.training import TrainConfig, train_project
    from workbench.core.training.evaluate import predict_proba

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="compression-bench-"))
    labelled, unlabelled = build_data(args.labelled, args.unlabelled)
    path = make_project(work, labelled, unlabelled)
    step(f"project: {len(labelled)} labelled + {len(unlabelled)} unlabelled records", t0)
    teacher = train_project(path, TrainConfig(epochs=args.epochs, batch_size=32, threads=1, method="finetune",
                                              learning_rate=1e-4, early_stopping_patience=0))
    T = teacher.run_id
    step(f"teacher run {T}: test macro-F1 {teacher.metrics['macro_f1']:.3f}", t0)
    student = distill_job(path, DistillConfig(run=T, epochs=args.student_epochs, threads=1))
    step(f"student run {student.run_id}: test macro-F1 {student.metrics['macro_f1']:.3f}", t0)
    small = distill_job(path, DistillConfig(run=T, student=args.small_student, epochs=args.student_epochs + 1,
                                            learning_rate=2e-4, threads=1))
    step(f"small student run {small.run_id}: test macro-F1 {small.metrics['macro_f1']:.3f}", t0)
    pruned = prune_job(path, PruneConfig(run=T, heads=0.25, ffn=0.5, epochs=1, threads=1))
    step(f"pruned run {pruned.run_id}: test macro-F1 {pruned.metrics['macro_f1']:.3f}", t0)
    trimmed = trim_job(path, TrimConfig(run=T))
    s_trim = trim_job(path, TrimConfig(run=student.run_id))
    step(f"trimmed runs {trimmed.run_id}, {s_trim.run_id}: vocabulary {trimmed.details['vocab_before']} -> "
         f"{trimmed.details['vocab_after']} pieces, logits max diff {trimmed.details['logit_max_abs_diff']:.1e}", t0)

    wanted = ["fp32", "int8", "student-int8", f"student-r{small.run_id}-int8", "pruned-int8", "trimmed-int8",
              "trimmed-int4", "student-trimmed-int8"]
    figures = {}
    for name in wanted:
        figures[name] = export_variant(path, T, name)
        step(f"exported {name}: int8 {figures[name].get('int8_method')} - {figures[name].get('int8_why', '')}", t0)

    with Project.open(path) as project:
        rows = [(t, labels) for _r, t, labels, split in project.labelled_examples() if split == "test"]
    texts, gold = [t for t, _ in rows], [list(g) for _, g in rows]
    model, tokenizer = convert.load_classifier(Path(teacher.model_path))
    labels = list(model.config.id2label[i] for i in range(model.config.num_labels))
    max_length = int(teacher.metrics.get("max_length") or 128)
    engines: dict[str, Predictor] = {n: Predictor.load(figures[n]["bundle_dir"]) for n in wanted}
    teacher_dec = np.argmax(predict_proba(model, tokenizer, texts, max_length=max_length, multi_label=False), axis=1)

    def torch_one(text: str) -> None:
        predict_proba(model, tokenizer, [text], max_length=max_length, multi_label=False)

    b1: dict[str, list[float]] = {n: [] for n in ["pytorch-fp32", *wanted]}
    sample = texts[:120]
    for text in sample[:5]:
        torch_one(text)
        for p in engines.values():
            p.predict_proba([text])
    for text in sample:  # interleaved: every engine on the same text in turn
        t = time.perf_counter()
        torch_one(text)
        b1["pytorch-fp32"].append(time.perf_counter() - t)
        for n, p in engines.items():
            t = time.perf_counter()
            p.predict_proba([text])
            b1[n].append(time.perf_counter() - t)
    many = list(texts)
    while len(many) < 640:
        many += texts
    b32: dict[str, float] = {n: 0.0 for n in b1}
    for _ in range(args.repeats):
        t = time.perf_counter()
        predict_proba(model, tokenizer, many, max_length=max_length, multi_label=False, batch_size=32)
        b32["pytorch-fp32"] = max(b32["pytorch-fp32"], len(many) / (time.perf_counter() - t))
        for n, p in engines.items():
            t = time.perf_counter()
            p.predict_proba(many, batch_size=32)
            b32[n] = max(b32[n], len(many) / (time.perf_counter() - t))
    f1 = {"pytorch-fp32": verify.macro_f1(gold, teacher_dec, labels, False)}
    agree = {"pytorch-fp32": 1.0}
    for n, p in engines.items():
        dec = np.argmax(p.predict_proba(texts), axis=1)
        f1[n] = verify.macro_f1(gold, dec, labels, False)
        agree[n] = float(np.mean(dec == teacher_dec))
    size = {"pytorch-fp32": sum(f.stat().st_size for f in Path(teacher.model_path).glob("*.safetensors")) / 1e6}
    size.update({n: figures[n]["size_mb"] for n in wanted})
    p50 = {n: 1000 * statistics.median(v) for n, v in b1.items()}

    print(f"\nCompression benchmark: {len(labelled)} labelled ({len(texts)} test) + {len(unlabelled)} unlabelled "
          f"support messages (half natural, half keyword), 6 intents; MiniLM-L6 teacher (run {T}); 1 thread per engine; "
          f"{os.cpu_count()} CPU cores (shared)")
    print(f"{'variant':<22} {'run':>4} {'size MB':>8} {'b1 p50 ms':>10} {'b32 texts/s':>12} {'macro-F1':>9} "
          f"{'agree %':>8} {'b1 vs int8':>10} {'b32 vs int8':>11} {'b1 vs torch':>11}  int8")
    runs = {"pytorch-fp32": T, **{n: figures[n]["run_id"] for n in wanted}}
    for n in b1:
        print(f"{n:<22} {runs[n]:>4} {size[n]:8.2f} {p50[n]:10.2f} {b32[n]:12.1f} {100 * f1[n]:9.2f} "
              f"{100 * agree[n]:8.1f} {p50['int8'] / p50[n]:9.2f}x {b32[n] / b32['int8']:10.2f}x "
              f"{p50['pytorch-fp32'] / p50[n]:10.2f}x  {figures.get(n, {}).get('int8_method') or ''}")
    print("\nint8 method per model (static QDQ tried against dynamic, the winner kept):")
    for n in wanted:
        if figures[n].get("int8_why"):
            print(f"  {n}: {figures[n]['int8_why']}")
    d = trimmed.details
    print(f"\nvocabulary trimming: {d['vocab_before']} -> {d['vocab_after']} word pieces; logits on "
          f"{d['logit_texts']} project texts max |diff| {d['logit_max_abs_diff']:.1e}; "
          f"{d['texts_tokenized']} texts tokenized identically")
    s = student.details
    print(f"student: {s['plan']}, {s['student_params'] / 1e6:.1f}M of {s['teacher_params'] / 1e6:.1f}M parameters, "
          f"{s['labelled_texts']} labelled + {s['unlabelled_texts']} unlabelled training texts")
    print(f"pruned: {pruned.details['heads_per_layer']}/{pruned.details['heads_before']} heads, "
          f"{pruned.details['ffn_per_layer']}/{pruned.details['ffn_before']} neurons per layer, "
          f"{pruned.details['student_params'] / 1e6:.1f}M parameters")

    base_f1 = f1["int8"]
    ok = lambda c: "MET" if c else "NOT MET"  # noqa: E731
    print("\nTargets (against the teacher's int8 export):")
    students = [n for n in wanted if n.startswith("student") and n.endswith("-int8")]
    passing = []
    for si in students:
        r32, r1, loss = b32[si] / b32["int8"], p50["int8"] / p50[si], 100 * (base_f1 - f1[si])
        good = r32 >= 2 and r1 >= 1.8 and loss <= 1
        passing += [si] if good else []
        print(f"  {si}: b32 {r32:.2f}x (>= 2x), b1 {r1:.2f}x (>= 1.8x), macro-F1 loss {loss:+.2f} points (<= 1)"
              f"  {ok(good)}")
    print(f"  a student int8 meeting all three: {', '.join(passing) or 'none'}  {ok(bool(passing))}")
    tr = "trimmed-int8"
    same = float(np.mean(np.argmax(engines[tr].predict_proba(texts), 1) == np.argmax(engines['int8'].predict_proba(texts), 1)))
    print(f"  trimmed int8 (teacher) < 10 MB: {size[tr]:.2f} MB  {ok(size[tr] < 10)}; predictions equal to the "
          f"untrimmed int8 on {100 * same:.1f}% of test texts  {ok(same == 1.0)}")
    t4 = "trimmed-int4"
    same4 = float(np.mean(np.argmax(engines[t4].predict_proba(texts), 1) == np.argmax(engines['int8'].predict_proba(texts), 1)))
    i4 = figures[t4].get("int4") or {}
    print(f"  trimmed int4 (teacher) < 10 MB: {size[t4]:.2f} MB  {ok(size[t4] < 10)}; predictions equal to the "
          f"untrimmed int8 on {100 * same4:.1f}% of test texts  {ok(same4 == 1.0)}; {i4.get('matrices_4bit')} of "
          f"{i4.get('matrices')} matrices at 4 bits, {100 * (i4.get('agreement_with_int8') or 0):.1f}% of "
          f"{i4.get('check_texts')} check texts (test + project sample) keep the int8 prediction, "
          f"{i4.get('trials')} trials; b1 {p50[t4]:.2f} ms vs trimmed int8 {p50[tr]:.2f} ms, "
          f"b32 {b32[t4]:.0f} vs {b32[tr]:.0f} texts/s")
    st = "student-trimmed-int8"
    same_s = float(np.mean(np.argmax(engines[st].predict_proba(texts), 1) == np.argmax(engines["student-int8"].predict_proba(texts), 1)))
    print(f"  trimmed student int8: {size[st]:.2f} MB  {ok(size[st] < 10)}; predictions equal to the untrimmed student "
          f"int8 on {100 * same_s:.1f}% of test texts (int8 methods: {figures[st].get('int8_method')} vs "
          f"{figures['student-int8'].get('int8_method')})")
    within = [n for n in wanted if 100 * (f1["pytorch-fp32"] - f1[n]) <= 1.0]
    best = max(within, key=lambda n: p50["pytorch-fp32"] / p50[n]) if within else None
    if best:
        r = p50["pytorch-fp32"] / p50[best]
        print(f"  best variant within 1 point of the teacher: {best}, {r:.2f}x PyTorch fp32 at batch 1  {ok(r >= 8)}")
    print(f"\ntotal {time.perf_counter() - t0:.0f}s; work folder {work}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
