"""LoRA against full fine-tuning on the same base model (the bundled MiniLM), side by side.

Generates labelled support tickets (the generator of ``train_throughput.py``: 100-200
tokens, 5 imbalanced labels, seeded), stores one split in a temporary project, then trains
the bundled MiniLM with ``workbench.core.training.train_project`` four ways, each in its
own fresh process (so each peak is its own), one after another, same data, same epochs,
batch 16, 1 torch thread, early stopping off:

* ``finetune, all layers``: every weight trained (``freeze_layers=0``);
* ``finetune, default``: today's default (lower half of the layers frozen on a CPU);
* ``lora, all layers``: rank-8 adapters on query/value of every layer, head trained;
* ``lora, default``: adapters in the upper half only (the same ``freeze_layers`` rule).

Printed per way: training samples/s (optimizer steps only, from the run's timings),
trainable parameters, the exact bytes of gradients + AdamW state for them (3 x 4 bytes
per trainable parameter), **peak RSS** of the training process (``getrusage``
``ru_maxrss``: the whole process, incl. Python, torch and the model) and its increase over
the RSS measured just before the run started (after the imports), the saved checkpoint's
weight file and whole folder size, test macro-F1, and for LoRA the seconds to rebuild the
merged model from base + adapters (what export and evaluation do). Ratios are against
``finetune, all layers``.

``--base-sized`` measures memory and speed where LoRA is meant to be used: a randomly
initialised model of BERT-base's shape (12 layers, hidden 768, 110 M parameters; no
quality figures, the weights are random), full fine-tuning against LoRA, all layers,
``--max-steps`` steps each.

Usage::

    nice -n 10 python benchmarks/lora.py [--n 400] [--epochs 1] [--seed 0]
    nice -n 10 python benchmarks/lora.py --base-sized --n 120 --max-steps 4
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

WAYS = [
    ("finetune, all layers", {"method": "finetune", "freeze_layers": 0}),
    ("finetune, default", {"method": "finetune", "freeze_layers": -1}),
    ("lora, all layers", {"method": "lora", "freeze_layers": 0}),
    ("lora, default", {"method": "lora", "freeze_layers": -1}),
]


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def child(project: str, settings: dict, epochs: int) -> None:
    """One training run in this (fresh) process; prints one JSON line."""
    import torch  # noqa: F401 - imported before the baseline, as a running app has it
    import transformers  # noqa: F401

    from workbench.core.training import TrainConfig, train_project
    from workbench.core.training.methods import lora, lora_folder  # noqa: F401 - peft imported too

    lora.require_peft()
    before = _rss_mb()
    cfg = TrainConfig(**{"base_model": "bundled", "epochs": epochs, "batch_size": 16, "threads": 1,
                         "early_stopping_patience": 0, **settings})
    t = time.perf_counter()
    result = train_project(project, cfg)
    wall = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    out = {"samples_per_s": result.metrics and None, "wall_s": wall, "rss_before_mb": before,
           "peak_rss_mb": peak, "macro_f1": result.metrics.get("macro_f1"),
           "weights_bytes": (result.model_path / "model.safetensors").stat().st_size,
           "folder_bytes": _size(result.model_path), "load_avg": os.getloadavg()[0]}
    from workbench.core.store.project import Project
    from workbench.core.training.runs import get_run

    with Project.open(project) as p:
        row = get_run(p, result.run_id)
    out["samples_per_s"] = row["timings"].get("samples_per_s")
    out["train_s"] = row["timings"].get("train_s")
    eff = row["config"]["effective"]
    if "lora" in eff:
        out["trainable"] = eff["lora"]["trainable_params"]
        out["all_params"] = eff["lora"]["all_params"]
        t = time.perf_counter()
        lora_folder.load_merged(result.model_path)
        out["merge_s"] = time.perf_counter() - t
    else:
        from workbench.core.training.evaluate import load_run_model

        model, _tok, _info = load_run_model(result.model_path)
        n_frozen = eff.get("freeze_layers", 0)
        parts = [model.base_model.embeddings, *list(model.base_model.encoder.layer)[:n_frozen]] if n_frozen else []
        frozen = sum(p.numel() for m in parts for p in m.parameters())
        out["all_params"] = sum(p.numel() for p in model.parameters())
        out["trainable"] = out["all_params"] - frozen
    print("RESULT " + json.dumps(out), flush=True)


def _base_sized_model(folder: Path, tokenizer) -> Path:
    """A randomly initialised BERT with BERT-base's shape and the bundled tokenizer."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=768, num_hidden_layers=12,
                        num_attention_heads=12, intermediate_size=3072)
    BertModel(config).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=400, help="number of generated texts")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--base-sized", action="store_true",
                        help="instead: a randomly initialised BERT-base-sized model (hidden 768, 12 layers, "
                             "the bundled tokenizer), full fine-tuning vs LoRA on all layers, --max-steps steps "
                             "each: memory and speed only (no quality: random weights)")
    parser.add_argument("--max-steps", type=int, default=4, help="steps per way with --base-sized")
    parser.add_argument("--child", nargs=3, metavar=("PROJECT", "SETTINGS", "EPOCHS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], json.loads(args.child[1]), int(args.child[2]))
        return 0

    from train_throughput import SHARES, generate_tickets
    from transformers import AutoTokenizer

    from workbench.core.data.importer import import_rows
    from workbench.core.store.project import Project
    from workbench.core.training.data import assign_splits
    from workbench.core.training.models import bundled_model_path

    tok = AutoTokenizer.from_pretrained(str(bundled_model_path()))
    ways = WAYS
    base_tmp = tempfile.TemporaryDirectory()
    if args.base_sized:
        base = _base_sized_model(Path(base_tmp.name) / "base", tok)
        extra = {"base_model": str(base), "max_steps": args.max_steps}
        ways = [(name.replace("all layers", "base-sized"), {**st, **extra}) for name, st in WAYS if "all" in name]
    rows = generate_tickets(args.n, args.seed, tok)
    lengths = sorted(len(tok(text)["input_ids"]) for text, _ in rows)
    print(f"data: {len(rows)} generated tickets, tokens median {lengths[len(lengths) // 2]} "
          f"(max length 128), labels {dict((lab, sum(1 for _, x in rows if x == lab)) for lab in SHARES)}")
    what = (f"random BERT-base-sized model (12 layers, hidden 768), {args.max_steps} steps" if args.base_sized
            else f"bundled MiniLM (6 layers, hidden 384), {args.epochs} epoch(s)")
    print(f"base model: {what}, batch 16, 1 torch thread, early stopping off; each way in a fresh process, "
          f"one after another")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.wbproj"
        with Project.create(path, list(SHARES)) as project:
            import_rows(project, ({"text": t, "label": lab} for t, lab in rows),
                        text_col="text", label_col="label", source="benchmark")
            examples = [(rid, tuple(lab), s) for rid, _t, lab, s in project.labelled_examples()]
            project.set_splits(assign_splits(examples, validation_fraction=0.15, test_fraction=0.15, seed=42))
        for name, settings in ways:
            t = time.perf_counter()
            proc = subprocess.run([sys.executable, __file__, "--child", str(path), json.dumps(settings),
                                   str(args.epochs)], capture_output=True, text=True, timeout=900)
            line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
            if proc.returncode or line is None:
                print(f"{name}: failed\n{proc.stderr[-2000:]}")
                return 1
            results[name] = json.loads(line[7:])
            print(f"  {name}: done in {time.perf_counter() - t:.0f} s (load average {results[name]['load_avg']:.1f})",
                  flush=True)
    base_tmp.cleanup()
    ref = results[ways[0][0]]
    head = (f"{'way':<22}|{'samples/s':>10} |{'x':>6} |{'trainable':>11} |{'grad+Adam MB':>13} |"
            f"{'peak RSS MB':>12} |{'+ over start':>13} |{'weights MB':>11} |{'folder MB':>10} |{'test F1':>8} |{'merge s':>8}")
    print()
    print(head)
    print("-" * len(head))
    for name, _s in ways:
        r = results[name]
        merge = f"{r['merge_s']:8.2f}" if "merge_s" in r else f"{'-':>8}"
        print(f"{name:<22}|{r['samples_per_s']:10.2f} |{r['samples_per_s'] / ref['samples_per_s']:6.2f} |"
              f"{r['trainable']:11,} |{r['trainable'] * 12 / 1e6:13.1f} |{r['peak_rss_mb']:12.0f} |"
              f"{r['peak_rss_mb'] - r['rss_before_mb']:13.0f} |{r['weights_bytes'] / 1e6:11.2f} |"
              f"{r['folder_bytes'] / 1e6:10.2f} |{r['macro_f1']:8.3f} |{merge}")
    print()
    for name in [n for n, st in ways if st["method"] == "lora"]:
        r = results[name]
        print(f"{name} vs {ways[0][0]}: samples/s x{r['samples_per_s'] / ref['samples_per_s']:.2f}, "
              f"peak RSS x{r['peak_rss_mb'] / ref['peak_rss_mb']:.2f} "
              f"(increase over start x{(r['peak_rss_mb'] - r['rss_before_mb']) / (ref['peak_rss_mb'] - ref['rss_before_mb']):.2f}), "
              f"checkpoint weights x{r['weights_bytes'] / ref['weights_bytes']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
