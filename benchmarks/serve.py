"""Serving benchmark: PyTorch fp32 eager vs ONNX fp32 vs ONNX int8 on a fine-tuned MiniLM.

In one run:

1. builds a project from the demo support messages (370 texts, 6 intents) and fine-tunes
   the bundled MiniLM on it with the training core;
2. exports the run the default way (plain graph, int8 per-channel) and, for comparison,
   with the graph fused by onnxruntime's transformer optimizer before quantizing;
3. evaluates on the project's test split plus held-out messages drawn from the demo
   generator with other seeds (not in the project), so that >= 300 realistic texts are used;
4. prints batch-1 latency p50/p95 (tokenization included, engines interleaved text by text),
   batch-32 throughput (length-sorted batches for every engine), file size, macro-F1,
   agreement with PyTorch, and the cold start of the bundle's predict.py.

    python benchmarks/serve.py [--threads 1] [--epochs 4] [--extra 600]

Targets (issue "Deploy"): int8 batch-1 p50 >= 2.5x faster than PyTorch fp32, batch-32
throughput >= 2x, int8 file <= 30% of fp32, agreement >= 98%, macro-F1 drop <= 0.5 point,
predict.py cold start <= 1.5 s.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]


def held_out_texts(exclude: set[str], n: int) -> list[tuple[str, str]]:
    """Messages from the demo generator with other seeds, none of them in the project."""
    sys.path.insert(0, str(ROOT / "resources" / "demo"))
    import make_demo

    seen = {" ".join(t.lower().split()) for t in exclude}
    out: list[tuple[str, str]] = []
    seed = 1
    while len(out) < n:
        for row in make_demo.generate(seed):
            key = " ".join(row["text"].lower().split())
            if key not in seen:
                seen.add(key)
                out.append((row["text"], row["intent"]))
        seed += 1
    return out[:n]


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="threads for torch and onnxruntime (default 1)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--extra", type=int, default=600, help="held-out generated texts (default 600)")
    parser.add_argument("--batch1", type=int, default=300, help="texts timed one by one (default 300)")
    parser.add_argument("--workdir", help="keep the project and bundles here (default: a temp folder)")
    args = parser.parse_args()

    import numpy as np
    import torch
    from sklearn.metrics import f1_score
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from workbench.core.data.importer import import_file
    from workbench.core.deploy.inference import Predictor
    from workbench.core.deploy.onnx_export import export_run
    from workbench.core.resources import resource_path
    from workbench.core.store.project import Project
    from workbench.core.training import TrainConfig, train_project

    torch.set_num_threads(args.threads)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="wb-serve-"))
    work.mkdir(parents=True, exist_ok=True)
    demo = resource_path("demo", "support_messages.csv")
    path = work / "support.wbproj"
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; threads {args.threads}")

    t0 = time.perf_counter()
    with Project.create(path, [], overwrite=True) as project:
        import_file(project, demo, text_col="text", label_col="intent", add_labels=True)
    result = train_project(path, TrainConfig(base_model="bundled", epochs=args.epochs, max_length=64,
                                             threads=args.threads))
    print(f"fine-tuned MiniLM: run {result.run_id}, {time.perf_counter() - t0:.0f} s, "
          f"test macro-F1 {100 * result.metrics['macro_f1']:.1f} (training core, PyTorch)")
    t0 = time.perf_counter()
    report = export_run(path, out_dir=work / "bundle")
    print(f"export: {time.perf_counter() - t0:.0f} s; parity {report.parity_max_abs_diff:.1e}; "
          f"int8 agreement {100 * report.agreement:.1f}% on {report.agreement_texts} test texts")
    fused = export_run(path, out_dir=work / "bundle-fused", optimize=True)

    with Project.open(path) as project:
        examples = project.labelled_examples()
    all_texts = {text for _r, text, _l, _s in examples}
    test = [(text, labels[0]) for _r, text, labels, split in examples if split == "test"]
    extra = held_out_texts(all_texts, args.extra)
    evaluation = test + extra
    texts = [t for t, _ in evaluation]
    gold = [g for _, g in evaluation]
    labels = report.labels
    print(f"evaluation texts: {len(texts)} (test split {len(test)} + held-out generated {len(extra)})")

    model = AutoModelForSequenceClassification.from_pretrained(str(result.model_path)).eval()
    tok = AutoTokenizer.from_pretrained(str(result.model_path))
    max_length = report.max_length

    def torch_batch(batch: list[str]) -> np.ndarray:
        with torch.inference_mode():
            enc = tok(batch, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
            return model(**enc).logits.numpy()

    engines = {
        "pytorch fp32": torch_batch,
        "onnx fp32": Predictor.load(report.bundle_dir, model_file="model.fp32.onnx", threads=args.threads).predict_logits,
        "onnx int8 (fused)": Predictor.load(fused.bundle_dir, threads=args.threads).predict_logits,
        "onnx int8": Predictor.load(report.bundle_dir, threads=args.threads).predict_logits,
    }
    sizes = {
        "pytorch fp32": (result.model_path / "model.safetensors").stat().st_size,
        "onnx fp32": (report.bundle_dir / "model.fp32.onnx").stat().st_size,
        "onnx int8 (fused)": (fused.bundle_dir / "model.onnx").stat().st_size,
        "onnx int8": (report.bundle_dir / "model.onnx").stat().st_size,
    }

    # Batch-1 latency, engines interleaved text by text so load changes hit all alike.
    for fn in engines.values():
        for t in texts[:5]:
            fn([t])
    lat: dict[str, list[float]] = {name: [] for name in engines}
    for text in texts[: args.batch1]:
        for name, fn in engines.items():
            start = time.perf_counter()
            fn([text])
            lat[name].append((time.perf_counter() - start) * 1000.0)

    # Batch-32 throughput over all evaluation texts, length-sorted batches for everyone.
    lengths = [len(e) for e in tok(texts, truncation=True, max_length=max_length)["input_ids"]]
    order = sorted(range(len(texts)), key=lambda i: lengths[i])
    throughput: dict[str, list[float]] = {name: [] for name in engines}
    preds: dict[str, np.ndarray] = {}
    for _round in range(2):
        for name, fn in engines.items():
            out = np.zeros((len(texts), len(labels)), dtype=np.float32)
            start = time.perf_counter()
            for s in range(0, len(texts), 32):
                idx = order[s : s + 32]
                out[idx] = fn([texts[i] for i in idx]) if name == "pytorch fp32" else fn(
                    [texts[i] for i in idx], batch_size=32)
            throughput[name].append(len(texts) / (time.perf_counter() - start))
            preds[name] = out.argmax(axis=1)

    gold_idx = np.array([labels.index(g) for g in gold])
    n_test = len(test)
    ref = preds["pytorch fp32"]

    def f1(pred: np.ndarray, sl: slice) -> float:
        return 100 * f1_score(gold_idx[sl], pred[sl], average="macro")

    base_p50 = statistics.median(lat["pytorch fp32"])
    base_tp = max(throughput["pytorch fp32"])
    print()
    header = (f"{'engine':<22} {'b1 p50 ms':>9} {'b1 p95 ms':>9} {'x p50':>6} {'b32 txt/s':>9} {'x tput':>6} "
              f"{'size MB':>8} {'F1 test':>7} {'F1 all':>7} {'agree %':>7}")
    print(header)
    print("-" * len(header))
    for name in engines:
        p50, p95 = statistics.median(lat[name]), percentile(lat[name], 0.95)
        tp = max(throughput[name])
        agree = 100 * float(np.mean(preds[name] == ref))
        print(f"{name:<22} {p50:>9.2f} {p95:>9.2f} {base_p50 / p50:>6.2f} {tp:>9.1f} {tp / base_tp:>6.2f} "
              f"{sizes[name] / 2**20:>8.1f} {f1(preds[name], slice(0, n_test)):>7.1f} "
              f"{f1(preds[name], slice(None)):>7.1f} {agree:>7.1f}")

    # Cold start of the bundle's predict.py: process start to first prediction printed.
    cold = []
    for _ in range(5):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, str(report.bundle_dir / "predict.py"), "where is my parcel?"],
                             capture_output=True, text=True, timeout=120)
        cold.append(time.perf_counter() - start)
        assert out.returncode == 0, out.stderr
    cold_s = statistics.median(cold)

    int8, fp32 = "onnx int8", "onnx fp32"
    checks = [
        ("int8 batch-1 p50 speed-up vs PyTorch fp32", base_p50 / statistics.median(lat[int8]), ">= 2.5x"),
        ("int8 batch-32 throughput vs PyTorch fp32", max(throughput[int8]) / base_tp, ">= 2x"),
        ("int8 file size / fp32 ONNX", sizes[int8] / sizes[fp32], "<= 0.30"),
        ("int8 agreement with PyTorch (%)", 100 * float(np.mean(preds[int8] == ref)), ">= 98"),
        ("int8 agreement with ONNX fp32 (%)", 100 * float(np.mean(preds[int8] == preds[fp32])), ">= 98"),
        ("macro-F1 drop int8 vs PyTorch, all texts (points)",
         f1(ref, slice(None)) - f1(preds[int8], slice(None)), "<= 0.5"),
        ("macro-F1 drop int8 vs PyTorch, test split (points)",
         f1(ref, slice(0, n_test)) - f1(preds[int8], slice(0, n_test)), "<= 0.5"),
        ("predict.py cold start, median of 5 (s)", cold_s, "<= 1.5"),
    ]
    print()
    for name, value, target in checks:
        op, limit = target.split()
        limit_v = float(limit.rstrip("x"))
        ok = value >= limit_v if op == ">=" else value <= limit_v
        print(f"{name:<52} {value:>8.3f}   target {target:<8} {'OK' if ok else 'MISSED'}")
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")
    if args.workdir:
        print(f"files kept in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
