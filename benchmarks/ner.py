"""Entity extraction (token classification): our default span training vs the plain
Hugging Face ``Trainer`` token-classification recipe on the same split, in one run; then
int8 vs fp32 entity F1 and batch-1 latency of our export.

Data (built offline, no real patient data): synthetic clinical notes from
``resources/demo/make_span_demo.py`` with a fixed seed: long, messy notes
(many longer than one 128-token window), abbreviations, inconsistent case, misspelt drugs, vitals and lab numbers that are not doses, line breaks,
and five entity types of which ``route`` is rare (about 6% of the spans). Default sizes
(small, for a 2-core machine shared with other work): 40 training notes, 10 validation,
30 test, 4-16 sentences each; ``--train/--val/--test/--sentences`` make it larger.

* ours: ``train_spans`` with every default (auto learning rate/epochs/max length, lower
  layers frozen on CPU, windows of up to 128 tokens, early stopping on validation entity
  F1), with first-sub-token alignment; ``--alignment-too`` also trains with all sub-tokens
  labelled to compare the two.
* recipe: the Hugging Face course/``run_ner.py`` recipe: words and word tags,
  ``is_split_into_words``, first sub-token labelled (-100 elsewhere), truncation at the
  tokenizer's limit (512), ``DataCollatorForTokenClassification``, ``Trainer`` with lr
  2e-5, 3 epochs, batch 16, weight decay 0.01, the best of nothing (last epoch kept).
* Both are scored by the same code: character spans on the same test notes, strict entity
  micro-F1 (seqeval). Training throughput is given as notes/s (notes x epochs run / training
  seconds) and tokens/s (non-padding tokens fed per second).

Run: ``nice -n 10 python benchmarks/ner.py`` (about 10-15 minutes on 2 CPU cores).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "resources" / "demo"))

from make_span_demo import generate  # noqa: E402

TYPES = ("drug", "dose", "frequency", "condition", "route")


def build_project(folder: Path, n_train: int, n_val: int, n_test: int, sentences=(4, 16)):
    from workbench.core.data.importer import import_rows
    from workbench.core.store.project import Project
    from workbench.core.store.spans import Span

    notes = generate(n_train + n_val + n_test, seed=7, types=TYPES,
                     min_sentences=sentences[0], max_sentences=sentences[1])
    path = folder / "ner.wbproj"
    project = Project.create(path, list(TYPES), task="spans")
    rows = [{"id": n["id"], "text": n["text"],
             "spans": [Span(s["start"], s["end"], s["label"]) for s in n["spans"]]}
            for n in notes]
    report = import_rows(project, rows, text_col="text", id_col="id", spans_col="spans")
    ids = report.new_ids
    splits = {rid: ("train" if i < n_train else "validation" if i < n_train + n_val
                    else "test") for i, rid in enumerate(ids)}
    project.set_splits(splits)
    project.close()
    return path, notes


def words_and_tags(text: str, spans):
    from workbench.core.spans.tags import word_offsets

    words = word_offsets(text)
    tags = []
    for a, _b in words:
        tag = "O"
        for s in spans:
            if s["start"] <= a < s["end"]:
                tag = ("B-" if a <= s["start"] else "I-") + s["label"]
                break
        tags.append(tag)
    return words, tags


def recipe(notes_train, notes_test, model_dir: str, threads: int):
    """(test spans per note, seconds, notes/s, tokens/s, epochs) of the HF recipe."""
    import numpy as np
    import torch
    from transformers import (
        AutoModelForTokenClassification,
        AutoTokenizer,
        DataCollatorForTokenClassification,
        PrinterCallback,
        Trainer,
        TrainingArguments,
    )

    from workbench.core.spans.tags import tags_to_entities

    torch.set_num_threads(threads)
    tags = ["O", *[f"{p}-{t}" for t in TYPES for p in ("B", "I")]]
    index = {t: i for i, t in enumerate(tags)}
    tok = AutoTokenizer.from_pretrained(model_dir)

    def encode(notes):
        items = []
        for n in notes:
            words, wtags = words_and_tags(n["text"], n["spans"])
            enc = tok([n["text"][a:b] for a, b in words], is_split_into_words=True,
                      truncation=True)
            labels, prev = [], None
            for w in enc.word_ids():
                labels.append(-100 if w is None or w == prev else index[wtags[w]])
                prev = w
            items.append({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
                          "labels": labels, "word_ids": enc.word_ids(), "words": words})
        return items

    train = encode(notes_train)
    test = encode(notes_test)

    class DS(torch.utils.data.Dataset):
        def __init__(self, items):
            self.items = items

        def __len__(self):
            return len(self.items)

        def __getitem__(self, i):
            it = self.items[i]
            return {k: it[k] for k in ("input_ids", "attention_mask", "labels")}

    torch.manual_seed(42)
    model = AutoModelForTokenClassification.from_pretrained(
        model_dir, num_labels=len(tags), id2label=dict(enumerate(tags)), label2id=index)
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(output_dir=out, learning_rate=2e-5, num_train_epochs=3,
                                 per_device_train_batch_size=16, per_device_eval_batch_size=16,
                                 weight_decay=0.01, report_to=[], disable_tqdm=True,
                                 save_strategy="no", use_cpu=True)
        trainer = Trainer(model=model, args=args, train_dataset=DS(train),
                          data_collator=DataCollatorForTokenClassification(tok))
        trainer.remove_callback(PrinterCallback)
        t = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - t
        pred = trainer.predict(DS(test))
    tokens = sum(len(it["input_ids"]) for it in train) * 3
    out_spans = []
    for it, logits in zip(test, pred.predictions, strict=True):
        best = np.argmax(logits[: len(it["input_ids"])], axis=-1)
        word_tags = ["O"] * len(it["words"])
        prev = None
        for j, w in enumerate(it["word_ids"]):
            if w is not None and w != prev:
                word_tags[w] = tags[int(best[j])]
            prev = w
        spans = [(it["words"][a][0], it["words"][b - 1][1], lab)
                 for a, b, lab in tags_to_entities(word_tags)]
        out_spans.append(spans)
    return out_spans, seconds, len(train) * 3 / seconds, tokens / seconds, 3


def score(notes, spans_per_note):
    from workbench.core.spans.span_metrics import entity_metrics
    from workbench.core.store.spans import Span

    gold = [[Span(s["start"], s["end"], s["label"]) for s in n["spans"]] for n in notes]
    pred = [[Span(a, b, lab) for a, b, lab in p] for p in spans_per_note]
    return entity_metrics([n["text"] for n in notes], gold, pred, list(TYPES))


def ours(path: Path, alignment: str):
    """(metrics of the run, notes/s, tokens/s, seconds, effective settings)."""
    from workbench.core.spans.span_training import train_spans
    from workbench.core.training.config import TrainConfig

    result = train_spans(path, TrainConfig(), alignment=alignment)
    with open_project(path) as project:
        row = project.db.execute("SELECT timings, config FROM runs WHERE id = ?",
                                 [result.run_id]).fetchone()
    timings, config = json.loads(row[0]), json.loads(row[1])
    eff = config["effective"]
    epochs_run = result.metrics["steps"] / max(1, eff["total_steps"]) * eff["epochs"]
    return result, timings, eff, epochs_run


def open_project(path):
    from workbench.core.store.project import Project

    return Project.open(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=int, default=40)
    parser.add_argument("--val", type=int, default=10)
    parser.add_argument("--test", type=int, default=30)
    parser.add_argument("--sentences", type=int, nargs=2, default=(4, 16), metavar=("MIN", "MAX"))
    parser.add_argument("--alignment-too", action="store_true",
                        help="also train with every sub-token labelled")
    args = parser.parse_args()

    import torch

    from workbench.core.deploy.inference import Predictor
    from workbench.core.deploy.onnx_export import export_run
    from workbench.core.spans.span_evaluate import load_span_model, span_run_dir
    from workbench.core.spans.span_predict import torch_spans
    from workbench.core.training.device import default_threads
    from workbench.core.training.models import bundled_model_path

    threads = default_threads()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path, notes = build_project(folder, args.train, args.val, args.test, args.sentences)
        train_notes = notes[: args.train]
        test_notes = notes[args.train + args.val :]
        n_spans = sum(len(n["spans"]) for n in notes)
        by_type = {t: sum(1 for n in notes for s in n["spans"] if s["label"] == t)
                   for t in TYPES}
        chars = [len(n["text"]) for n in notes]
        print(f"data: {len(notes)} synthetic notes ({args.train} train / {args.val} validation "
              f"/ {args.test} test), {n_spans} spans {by_type}; note length median "
              f"{statistics.median(chars):.0f} chars, max {max(chars)}; {threads} thread(s)")

        runs = ["first", "all"] if args.alignment_too else ["first"]
        results = {}
        for alignment in runs:
            result, timings, eff, epochs_run = ours(path, alignment)
            m = result.metrics
            sps = args.train * epochs_run / timings["train_s"]
            results[alignment] = (result, m, sps)
            print(f"ours ({alignment} sub-token): entity F1 {100 * m['entity_f1']:.1f} (macro "
                  f"{100 * m['entity_macro_f1']:.1f}, route {100 * m['per_type']['route']['f1']:.1f}), "
                  f"{sps:.2f} notes/s ({timings['samples_per_s']:.2f} windows/s), train "
                  f"{timings['train_s']:.0f}s, {epochs_run:.1f} epochs, lr {eff['learning_rate']:g}, "
                  f"window {eff['max_length']}, {eff['windows']} windows, frozen "
                  f"{eff['freeze_layers']} layers", flush=True)

        spans, secs, rsps, rtps, epochs = recipe(train_notes, test_notes,
                                                 str(bundled_model_path()), threads)
        rm = score(test_notes, spans)
        print(f"recipe (HF Trainer, lr 2e-5, 3 epochs, truncation 512): entity F1 "
              f"{100 * rm['entity_f1']:.1f} (macro {100 * rm['entity_macro_f1']:.1f}, route "
              f"{100 * rm['per_type']['route']['f1']:.1f}), {rsps:.2f} notes/s, train {secs:.0f}s",
              flush=True)
        result, m, ours_sps = results["first"]
        print(f"=> entity F1 ours - recipe: {100 * (m['entity_f1'] - rm['entity_f1']):+.1f} "
              f"points (target >= -1); speed ours/recipe: {ours_sps / rsps:.2f}x notes/s "
              f"(target >= 1.3x)")
        if args.alignment_too:
            diff = results["all"][1]["entity_f1"] - results["first"][1]["entity_f1"]
            print(f"=> all sub-tokens - first sub-token: {100 * diff:+.1f} entity-F1 points")

        report = export_run(path, result.run_id, folder / "bundle")
        print(f"export: entity F1 fp32 {100 * report.f1_fp32:.1f}, int8 "
              f"{100 * report.f1_int8:.1f} (drop {report.f1_drop_points:.2f} points; target "
              f"<= 1), span agreement int8/fp32 {100 * report.agreement:.1f}%, parity "
              f"{report.parity_max_abs_diff:.1e}")
        texts = [n["text"] for n in test_notes[:40]]
        int8 = Predictor.load(folder / "bundle")
        with open_project(path) as project:
            _rid, model_dir = span_run_dir(project, result.run_id)
        model, tokenizer, info = load_span_model(model_dir)
        torch.set_num_threads(threads)

        def timed(fn):
            fn(texts[0])
            times = []
            for text in texts:
                t0 = time.perf_counter()
                fn(text)
                times.append((time.perf_counter() - t0) * 1000)
            return statistics.median(times)

        t_int8 = timed(lambda t: int8.predict([t]))
        t_torch = timed(lambda t: torch_spans(model, tokenizer, [t], info["tags"],
                                              max_length=info["max_length"],
                                              stride=info["stride"]))
        print(f"batch-1 latency (median over {len(texts)} test notes, {threads} thread(s)): "
              f"int8 ONNX {t_int8:.1f} ms, PyTorch fp32 {t_torch:.1f} ms => "
              f"{t_torch / t_int8:.2f}x (target >= 2.5x)")


if __name__ == "__main__":
    main()
