#!/usr/bin/env python3
"""Classify texts with this model bundle.

Needs Python 3.10+ and only:  pip install onnxruntime tokenizers numpy

    python predict.py "first text" "second text"
    python predict.py --json "some text"
    python predict.py --input texts.csv --text-col text --output predictions.csv
    python predict.py --input texts.txt --output predictions.jsonl

Input files: TXT (one text per line), CSV, TSV or JSONL; output: CSV or JSONL.
In Python:  from inference import Predictor; Predictor.load("path/to/bundle").predict([...])
"""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from predict_cli import main  # noqa: E402  (predict_cli.py lies beside this file)

if __name__ == "__main__":
    sys.exit(main(bundle_dir=HERE))
