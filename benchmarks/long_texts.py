"""Long records: overlapping windows (mean / max pooling) against truncation (head only,
head + tail), macro-F1 and texts/s of the exported int8 bundle, side by side in one run.

The data set is built offline from real text: every record is one of the demo's 370
support messages (``resources/demo/support_messages.csv``, six intents; the message decides
the label) buried in about ``--filler`` tokens of Python standard-library module
docstrings (read from the installed ``*.py`` files with ``ast``, never imported), which
carry no intent. A third of the records have the message at the start, a third in the
middle and a third at the end, so the deciding part often comes late. The split is
stratified by label and fixed before training (test ``--test`` records, validation 50,
the rest train) and is the same for every variant.

Variants, each fine-tuning the bundled MiniLM with the app's trainer (``train_project``,
``method="finetune"``, ``--epochs`` epochs, max length ``--max-length`` tokens) on the
same records, then exported with ``export_model`` (int8) and measured with the bundle's
``Predictor`` (onnxruntime, no torch):

* ``head``: cut at the max length (``long_records="truncate"``), today's behaviour;
* ``head+tail``: the first quarter of the token budget and the last three quarters
  (Sun et al. 2019's best truncation for long texts), applied to the texts before training
  and before prediction (its cost is part of its texts/s);
* ``windows-mean`` / ``windows-max``: ``long_records="windows"`` with
  ``window_pooling`` mean / max (the loss on the pooled logits, as the app trains);
* ``per-window-mean`` / ``per-window-max``: the other way to train on windows, every
  window a training record with its record's label (the same windows, as texts), the
  bundle then reading windows and pooling them by mean / max.

texts/s: the int8 bundle predicting the whole test set at batch 32, rounds interleaved
(A B C D, then D C B A) on this shared machine, best round. Accuracy is also printed per
position of the message.

Usage::

    nice -n 10 python benchmarks/long_texts.py [--max-length 64] [--filler 220] [--epochs 3]
"""
from __future__ import annotations

import argparse
import ast
import csv
import logging
import os
import random
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

POSITIONS = ("start", "middle", "end")


def stdlib_sentences(limit_files: int = 400) -> list[str]:
    """Sentences of the standard library's module docstrings (files parsed, not imported)."""
    base = Path(sysconfig.get_paths()["stdlib"])
    out: list[str] = []
    for path in sorted(base.glob("*.py"))[:limit_files]:
        try:
            doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue
        if not doc:
            continue
        flat = " ".join(doc.split())
        out.extend(s.strip() + "." for s in flat.split(". ") if len(s.split()) >= 5)
    return out


def build_records(tokenizer, filler_tokens: int, seed: int):
    """(text, label, position) for every demo message, buried in docstring sentences."""
    with open(ROOT / "resources" / "demo" / "support_messages.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    sentences = stdlib_sentences()
    lengths = [len(x) for x in tokenizer(sentences, add_special_tokens=False)["input_ids"]]
    rng = random.Random(seed)
    records = []
    for i, row in enumerate(rows):
        filler, n = [], 0
        while n < filler_tokens:
            k = rng.randrange(len(sentences))
            filler.append(sentences[k])
            n += lengths[k]
        position = POSITIONS[i % 3]
        at = {"start": 0, "middle": len(filler) // 2, "end": len(filler)}[position]
        parts = filler[:at] + [row["text"]] + filler[at:]
        records.append((" ".join(parts), row["intent"], position))
    return records


def head_tail(tokenizer, texts: list[str], max_length: int) -> list[str]:
    """The first quarter of the token budget and the last three quarters, as text (a few
    tokens of margin so that re-tokenizing never cuts the end)."""
    budget = max_length - 2 - 4
    head = budget // 4
    tail = budget - head
    enc = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)
    out = []
    for text, offsets in zip(texts, enc["offset_mapping"], strict=True):
        if len(offsets) <= budget:
            out.append(text)
            continue
        out.append(text[: offsets[head - 1][1]] + " " + text[offsets[-tail][0]:])
    return out


def split(records, n_test: int, n_val: int, seed: int):
    from sklearn.model_selection import train_test_split

    idx = list(range(len(records)))
    y = [r[1] for r in records]
    rest, test = train_test_split(idx, test_size=n_test, stratify=y, random_state=seed)
    train, val = train_test_split(rest, test_size=n_val, stratify=[y[i] for i in rest], random_state=seed)
    return train, val, test


def train_variant(workdir: Path, name: str, texts: list[str], records, parts, labels, args, **settings):
    from workbench.core.data.importer import add_texts
    from workbench.core.deploy.onnx_export import export_model
    from workbench.core.store.project import Project
    from workbench.core.training import TrainConfig, train_project

    path = workdir / f"{name}.wbproj"
    project = Project.create(path, labels)
    with project:
        ids = add_texts(project, texts)
        for rid, rec in zip(ids, records, strict=True):
            project.annotate(rid, [rec[1]])
        project.set_splits({ids[i]: s for s, members in parts.items() for i in members})
    config = TrainConfig(method="finetune", base_model="bundled", max_length=args.max_length,
                         epochs=args.epochs, seed=args.seed, early_stopping_patience=0,
                         freeze_layers=args.freeze, batch_size=args.batch, learning_rate=args.lr,
                         **settings)
    t = time.perf_counter()
    result = train_project(path, config)
    train_s = time.perf_counter() - t
    out = workdir / f"{name}-bundle"
    export_model(result.model_path, out, parity_texts=[texts[i] for i in parts["validation"][:8]])
    return {"name": name, "train_s": train_s, "bundle": out, "torch_f1": result.metrics["macro_f1"],
            "long": result.metrics.get("long_records") or {}}


def window_texts(tokenizer, texts: list[str], max_length: int) -> list[tuple[int, str]]:
    """(text index, the text of one window) for every window of every text: the windows
    the app reads, as texts of their own (for the per-window training variant)."""
    from workbench.core.deploy.span_runtime import encode_windows, window_stride

    out = []
    for w in encode_windows(tokenizer.backend_tokenizer, texts, max_length, window_stride(max_length)):
        spans = [o for o, word in zip(w.offsets, w.word_ids, strict=True) if word is not None]
        out.append((w.text_index, texts[w.text_index][spans[0][0]: spans[-1][1]] if spans else ""))
    return out


def per_window_variant(work: Path, texts, records, parts, labels, tokenizer, args):
    """Every window a training record with its record's label (truncation never bites);
    the exported bundle is then told to read windows and pool them (mean and max)."""
    import json
    import shutil

    seen: set[str] = set()
    pieces = []  # a project keeps one record per text: repeated windows are dropped
    for i, t in window_texts(tokenizer, texts, args.max_length):
        if t.strip() and " ".join(t.split()) not in seen:
            seen.add(" ".join(t.split()))
            pieces.append((i, t))
    win_records = [(t, records[i][1], records[i][2]) for i, t in pieces]
    where = {}
    for k, (i, _t) in enumerate(pieces):
        where.setdefault(i, []).append(k)
    win_parts = {s: [k for i in members for k in where[i]] for s, members in parts.items()}
    v = train_variant(work, "per-window", [t for _i, t in pieces], win_records, win_parts, labels, args,
                      long_records="truncate")
    out = []
    for pooling in ("mean", "max"):
        folder = work / f"per-window-{pooling}-bundle"
        shutil.copytree(v["bundle"], folder)
        config = json.loads((folder / "bundle.json").read_text())
        config["windows"] = {"stride": args.max_length // 4, "pooling": pooling}
        (folder / "bundle.json").write_text(json.dumps(config))
        out.append({**v, "name": f"per-window-{pooling}", "bundle": folder, "torch_f1": float("nan"),
                    "long": {"windows": True, "stride": args.max_length // 4}})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--filler", type=int, default=220, help="docstring tokens around each message")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--test", type=int, default=120)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=0, help="use only this many messages (quick check)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--variants", default="", help="comma-separated subset of head, head+tail, "
                    "windows-mean, windows-max, per-window (default: all)")
    ap.add_argument("--labels", type=int, default=0, help="keep the N most frequent intents (0: all six)")
    ap.add_argument("--freeze", type=int, default=-1, help="frozen lower layers (-1: the app's choice)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=0.0, help="0: the app's automatic learning rate")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import numpy as np
    import torch
    from sklearn.metrics import f1_score

    from workbench.core.deploy.inference import Predictor
    from workbench.core.training.models import load_tokenizer, validate_base_model

    torch.manual_seed(args.seed)
    tokenizer = load_tokenizer(validate_base_model("bundled").path)
    records = build_records(tokenizer, args.filler, args.seed)
    if args.labels:  # the most frequent intents only
        from collections import Counter

        keep = {name for name, _n in Counter(r[1] for r in records).most_common(args.labels)}
        records = [r for r in records if r[1] in keep]
    if args.limit:
        records = random.Random(args.seed).sample(records, args.limit)
    labels = sorted({r[1] for r in records})
    n_test = min(args.test, len(records) // 3)
    train, val, test = split(records, n_test, max(len(labels), min(50, len(records) // 6)), args.seed)
    parts = {"train": train, "validation": val, "test": test}
    texts = [r[0] for r in records]
    tok_lengths = [len(x) for x in tokenizer(texts)["input_ids"]]
    print(f"# benchmarks/long_texts.py: {len(records)} records ({len(train)} train, {len(val)} "
          f"validation, {len(test)} test), {len(labels)} labels; tokens per record: median "
          f"{int(np.median(tok_lengths))}, min {min(tok_lengths)}, max {max(tok_lengths)}; "
          f"max length {args.max_length}; bundled MiniLM, {args.epochs} epochs, batch "
          f"{args.batch}, learning rate {args.lr or 'automatic'}, frozen layers "
          f"{'automatic' if args.freeze < 0 else args.freeze}; filler {args.filler} tokens", flush=True)
    ht_texts = head_tail(tokenizer, texts, args.max_length)
    gold = [records[i][1] for i in test]
    where = [records[i][2] for i in test]
    variants = []
    with tempfile.TemporaryDirectory(prefix="long-texts-") as tmp:
        work = Path(tmp)
        plan = [("head", texts, {"long_records": "truncate"}),
                ("head+tail", ht_texts, {"long_records": "truncate"}),
                ("windows-mean", texts, {"long_records": "windows", "window_pooling": "mean"}),
                ("windows-max", texts, {"long_records": "windows", "window_pooling": "max"})]
        chosen = args.variants.split(",") if args.variants else [p[0] for p in plan] + ["per-window"]
        plan = [p for p in plan if p[0] in chosen]
        if "per-window" in chosen:
            t = time.perf_counter()
            for v in per_window_variant(work, texts, records, parts, labels, tokenizer, args):
                v["predictor"] = Predictor.load(v["bundle"])
                variants.append(v)
            print(f"  per-window: trained in {v['train_s']:.0f}s, exported ({time.perf_counter() - t:.0f}s in all)",
                  flush=True)
        for name, variant_texts, settings in plan:
            t = time.perf_counter()
            v = train_variant(work, name, variant_texts, records, parts, labels, args, **settings)
            v["predictor"] = Predictor.load(v["bundle"])
            variants.append(v)
            print(f"  {name}: trained in {v['train_s']:.0f}s, exported ({time.perf_counter() - t:.0f}s in all)",
                  flush=True)
        test_texts = [texts[i] for i in test]
        best: dict[str, float] = {}
        preds: dict[str, list[str]] = {}
        order = variants + variants[::-1]
        for _round in range(args.rounds):
            for v in order:
                t = time.perf_counter()
                inputs = head_tail(tokenizer, test_texts, args.max_length) if v["name"] == "head+tail" else test_texts
                out = v["predictor"].predict(inputs, batch_size=32)
                s = time.perf_counter() - t
                best[v["name"]] = min(best.get(v["name"], float("inf")), s)
                preds[v["name"]] = [r["label"] for r in out]
    print()
    header = (f"{'variant':<15} | {'bundle macro-F1':>15} | {'torch test F1':>13} | {'texts/s':>8} | "
              + " | ".join(f"acc {p:>6}" for p in POSITIONS) + f" | {'train s':>7} | windows/record")
    print(header)
    print("-" * len(header))
    base = "head" if "head" in best else variants[0]["name"]
    base_rate = len(test) / best[base]
    from workbench.core.deploy.span_runtime import window_stride
    from workbench.core.training.long_records import record_windows

    n_windows = float(np.mean([len(w) for w in record_windows(
        tokenizer, [texts[i] for i in test], args.max_length, window_stride(args.max_length))]))
    for v in variants:
        pred = preds[v["name"]]
        f1 = f1_score(gold, pred, average="macro", labels=labels, zero_division=0)
        acc = []
        for p in POSITIONS:
            sel = [k for k, w in enumerate(where) if w == p]
            acc.append(sum(pred[k] == gold[k] for k in sel) / max(1, len(sel)))
        rate = len(test) / best[v["name"]]
        wpr = f"{n_windows:.1f} (stride {v['long'].get('stride')})" if v["long"].get("windows") else "1 (cut)"
        print(f"{v['name']:<15} | {f1:>15.3f} | {v['torch_f1']:>13.3f} | {rate:>8.1f} | "
              + " | ".join(f"{a:>10.3f}" for a in acc) + f" | {v['train_s']:>7.0f} | {wpr}")
    print()
    for v in variants:
        print(f"texts/s ratio {v['name']} / {base}: {len(test) / best[v['name']] / base_rate:.2f}")


if __name__ == "__main__":
    main()
