"""The command line of a model bundle: ``predict.py`` in a bundle and ``workbench predict``.

Copied verbatim into every exported bundle (as ``predict_cli.py`` beside ``inference.py``),
so it imports nothing from Workbench outside the bundle's own files.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

try:  # inside Workbench
    from workbench.core.deploy.explain import METHODS, explain
    from workbench.core.deploy.inference import (
        BundleError,
        Cancelled,
        InputFileError,
        Predictor,
        confidence_word,
        read_texts,
        write_predictions,
    )
    from workbench.core.deploy.span_explain import explain_spans
except ImportError:  # standalone bundle: inference.py and explain.py lie beside this file
    from explain import METHODS, explain  # type: ignore[no-redef]
    from inference import (  # type: ignore[no-redef]
        BundleError,
        Cancelled,
        InputFileError,
        Predictor,
        confidence_word,
        read_texts,
        write_predictions,
    )
    from span_explain import explain_spans  # type: ignore[no-redef]

__all__ = ["add_predict_arguments", "main", "run_predict"]


def add_predict_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments shared by ``predict.py`` and ``workbench predict`` (after BUNDLE)."""
    parser.add_argument("texts", nargs="*", metavar="TEXT", help="texts to classify")
    parser.add_argument("--input", metavar="FILE", help="TXT (one text per line), CSV, TSV or JSONL file")
    parser.add_argument("--text-col", metavar="C", help="column holding the text (default: 'text')")
    parser.add_argument("--output", metavar="FILE", help="write predictions to a CSV or JSONL file")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument("--batch-size", type=int, default=32, metavar="N", help="texts per batch (default 32)")
    parser.add_argument("--threads", type=int, default=None, metavar="N", help="CPU threads (default: automatic)")
    parser.add_argument("--explain", action="store_true",
                        help="also say which words drove each prediction (with --json: an "
                             "'explanation' list of {start, end, weight} character spans)")
    parser.add_argument("--explain-method", choices=METHODS, default="fast",
                        help="'fast' (default): one pass of the bundle's explainer graph; "
                             "'thorough': leave each word out of the whole model in turn "
                             "(one pass per word)")
    parser.add_argument("--review-below", type=float, default=None, metavar="P",
                        help="mark predictions less confident than P (0-1) as needing review "
                             "(output files gain 'certainty' and 'needs_review' columns)")


def _format_result(text: str, res: dict[str, Any]) -> str:
    if "spans" in res:  # a span bundle: label 'text' [start:end] (score)
        shown = "; ".join(f"{s['label']} {s['text']!r} [{s['start']}:{s['end']}] "
                          f"({s['score']:.2f})" for s in res["spans"]) or "(no entity)"
        snippet = text if len(text) <= 60 else text[:57] + "..."
        return f"{shown}\t{snippet}"
    probs = res["probs"]
    if "labels" in res:
        shown = ", ".join(f"{n} ({probs[n]:.2f})" for n in res["labels"]) or "(no label)"
    else:
        p = probs[res["label"]]
        shown = f"{res['label']} ({p:.2f}, {confidence_word(p)})"
    snippet = text if len(text) <= 60 else text[:57] + "..."
    line = f"{shown}\t{snippet}"
    if res.get("explanation"):
        best = sorted((e for e in res["explanation"] if e["weight"] > 0), key=lambda e: -e["weight"])
        words = ", ".join(text[e["start"]:e["end"]] for e in best[:3])
        line += f"\t(because of: {words or 'no single word'})"
    return line


def run_predict(bundle_dir: str | Path, args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Carry out a predict command (parsed by :func:`add_predict_arguments`); returns 0.

    Raises :class:`BundleError` or :class:`InputFileError` with a readable message.
    """
    out = out or sys.stdout
    if not args.texts and not args.input:
        raise InputFileError("Give one or more texts, or --input FILE.")
    if args.texts and args.input:
        raise InputFileError("Give texts or --input FILE, not both.")
    if args.output and not args.input:
        raise InputFileError("--output needs --input FILE.")
    if args.text_col and not args.input:
        raise InputFileError("--text-col needs --input FILE.")
    if args.batch_size < 1:
        raise InputFileError("--batch-size must be at least 1.")
    if args.review_below is not None and not 0.0 <= args.review_below <= 1.0:
        raise InputFileError("--review-below must be a probability from 0 to 1.")
    start = time.perf_counter()
    predictor = Predictor.load(bundle_dir, threads=args.threads)
    if args.input:
        texts, rows, _col = read_texts(args.input, args.text_col)
        results = predictor.predict(texts, batch_size=args.batch_size)
        if args.output:
            write_predictions(args.output, rows, results, predictor.labels, args.review_below)
            summary = {"input": str(args.input), "output": str(args.output), "rows": len(rows),
                       "seconds": round(time.perf_counter() - start, 3)}
            if args.json:
                out.write(json.dumps(summary) + "\n")
            else:
                out.write(f"Wrote {len(rows)} predictions to {args.output}\n")
            return 0
    else:
        texts = list(args.texts)
        results = predictor.predict(texts, batch_size=args.batch_size)
    if args.explain:
        for text, res in zip(texts, results, strict=True):
            if "spans" in res:  # entities: the words behind each one (span_explain.py)
                why = {(s["start"], s["end"], s["label"]): s["explanation"] for s in explain_spans(predictor, text)}
                for span in res["spans"]:
                    span["explanation"] = why.get((span["start"], span["end"], span["label"]), [])
                continue
            label = res["label"] if "label" in res else None
            res["explanation"] = explain(predictor, text, label, method=args.explain_method)[1]
    if args.review_below is not None:
        for res in results:
            chosen = res["labels"] if "labels" in res else [res["label"]]
            conf = max((res["probs"][n] for n in chosen), default=0.0)
            res["needs_review"] = conf < args.review_below
    if args.json:
        out.write(json.dumps([{"text": t, **r} for t, r in zip(texts, results, strict=True)], ensure_ascii=False) + "\n")
    else:
        for text, res in zip(texts, results, strict=True):
            out.write(_format_result(text, res) + "\n")
    return 0


def main(argv: Sequence[str] | None = None, bundle_dir: str | Path | None = None) -> int:
    """Entry point of a bundle's ``predict.py`` (the bundle is the folder of this file)."""
    parser = argparse.ArgumentParser(
        prog="predict.py",
        description="Classify texts with this model bundle (needs onnxruntime, tokenizers, numpy).",
    )
    add_predict_arguments(parser)
    args = parser.parse_intermixed_args(argv)
    bundle = Path(bundle_dir) if bundle_dir is not None else Path(__file__).resolve().parent
    try:
        return run_predict(bundle, args)
    except (BundleError, InputFileError, Cancelled) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
