"""Run an exported model bundle with onnxruntime, tokenizers and numpy only.

This module is copied verbatim into every exported bundle (as ``inference.py`` beside
``predict.py``), so it must import nothing from the rest of Workbench except, optionally,
the error base classes, and never torch or transformers. The command line of a bundle
(``predict.py`` and ``workbench predict``) is in ``predict_cli.py``, shipped beside it.

A bundle folder holds ``bundle.json`` (labels, max length, thresholds, input names),
``tokenizer.json``, ``model.onnx`` (int8 unless exported without quantization) and
usually ``model.fp32.onnx``.
"""
from __future__ import annotations

import csv
import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy is imported where used: `workbench --help` stays fast
    import numpy as np

try:  # inside Workbench: the library module (errors are ordinary Workbench errors)
    from workbench.core.deploy.bundle_config import (
        BUNDLE_CONFIG,
        BundleError,
        Cancelled,
        ErrorBase,
        bundle_file,
        check_bundle_config,
        load_bundle_config,
    )
except ImportError:  # standalone bundle: bundle_config.py lies beside this file
    from bundle_config import (  # type: ignore[no-redef]
        BUNDLE_CONFIG,
        BundleError,
        Cancelled,
        ErrorBase,
        bundle_file,
        check_bundle_config,
        load_bundle_config,
    )

try:  # span (entity) bundles: windows and BIO decoding; long records: pooled windows
    from workbench.core.deploy.span_runtime import pooled_window_logits, predict_spans
except ImportError:  # standalone bundle: span_runtime.py lies beside this file
    from span_runtime import pooled_window_logits, predict_spans  # type: ignore[no-redef]

__all__ = [
    "BUNDLE_CONFIG",
    "MODEL_FILE",
    "FP32_MODEL_FILE",
    "TOKENIZER_FILE",
    "BundleError",
    "check_bundle_config",
    "InputFileError",
    "Cancelled",
    "Predictor",
    "confidence_word",
    "read_texts",
    "write_predictions",
    "predict_file",
]

log = logging.getLogger(__name__)

MODEL_FILE = "model.onnx"
FP32_MODEL_FILE = "model.fp32.onnx"
TOKENIZER_FILE = "tokenizer.json"
KNOWN_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
INPUT_FORMATS = (".txt", ".csv", ".tsv", ".jsonl")
OUTPUT_FORMATS = (".csv", ".jsonl")


class InputFileError(ErrorBase):
    """A file of texts to predict cannot be read or written."""


def _default_threads() -> int:
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, min(os.cpu_count() or 1, 8))


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def _softmax(x: np.ndarray) -> np.ndarray:
    import numpy as np

    z = x - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    import numpy as np

    return 1.0 / (1.0 + np.exp(-x))


def confidence_word(p: float, unsure_below: float = 0.6) -> str:
    """A calibrated probability in words: "almost certain", "likely", "possible", "unsure"."""
    if p >= 0.9:
        return "almost certain"
    if p >= 0.75:
        return "likely"
    return "possible" if p >= unsure_below else "unsure"


class Predictor:
    """A loaded bundle: tokenizer, onnxruntime session and label map.

    Texts are tokenized, sorted by length and padded per batch (padding to the longest
    text of the whole input wastes a large share of the work on short texts).
    """

    def __init__(
        self,
        bundle_dir: Path,
        config: dict[str, Any],
        tokenizer: Any,
        session: Any,
        model_file: str,
    ) -> None:
        import numpy as np

        self.bundle_dir = Path(bundle_dir)
        self.config = config
        self.tokenizer = tokenizer
        self.session = session
        self.model_file = model_file
        self.labels: list[str] = list(config["labels"])
        self.multi_label: bool = bool(config.get("multi_label", False))
        #: "spans": a token classifier whose predict() returns character spans.
        self.task: str = str(config.get("task") or "classification")
        th = config.get("thresholds")
        self.thresholds = np.asarray(th if th is not None else [0.5] * len(self.labels), dtype=np.float32)
        self.max_length: int = int(config.get("max_length") or 512)
        #: Confidence calibration: logits are divided by it (temperature scaling; 1 = none).
        self.temperature: float = float(config.get("temperature") or 1.0)
        self.input_names: list[str] = [i.name for i in session.get_inputs()]
        self.output_name: str = session.get_outputs()[0].name
        pad = config.get("pad_id")
        if pad is None:
            pad = tokenizer.token_to_id("[PAD]") or tokenizer.token_to_id("<pad>") or 0
        self.pad_id = int(pad)

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(
        cls,
        bundle_dir: str | Path,
        *,
        model_file: str | None = None,
        threads: int | None = None,
    ) -> Predictor:
        """Open a bundle folder; ``model_file`` picks another ONNX file in it (e.g. fp32).

        Raises :class:`BundleError` naming the problem for a missing file, a damaged
        ONNX model or tokenizer, or a label map that does not match the model's outputs.
        """
        bundle = Path(bundle_dir)
        config = load_bundle_config(bundle)
        model_file = model_file or config.get("model_file") or MODEL_FILE
        tok_path = bundle / TOKENIZER_FILE
        if not tok_path.is_file():
            raise BundleError(f"{bundle} is incomplete: {TOKENIZER_FILE} is missing.")
        bundle_file(bundle, TOKENIZER_FILE)
        model_path = bundle_file(bundle, model_file, "model_file")
        if not model_path.is_file():
            raise BundleError(f"{bundle} is incomplete: {model_file} is missing.")

        import onnxruntime as ort
        from tokenizers import Tokenizer

        try:
            tokenizer = Tokenizer.from_file(str(tok_path))
        except Exception as exc:
            raise BundleError(f"{tok_path} is damaged: {str(exc).splitlines()[0]}") from None
        max_length = int(config.get("max_length") or 512)
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=max_length)

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or _default_threads()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        try:
            session = ort.InferenceSession(
                str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            made_with = str(config.get("onnxruntime_version") or "")
            if made_with and _version(made_with) > _version(ort.__version__):
                raise BundleError(
                    f"{model_path.name} was written for onnxruntime {made_with} but version "
                    f"{ort.__version__} is installed: upgrade onnxruntime ({first})"
                ) from None
            raise BundleError(
                f"{model_path.name} in {bundle} is not a valid ONNX model (damaged or "
                f"incomplete file): {first}"
            ) from None
        names = [i.name for i in session.get_inputs()]
        unknown = [n for n in names if n not in KNOWN_INPUTS]
        if unknown or "input_ids" not in names:
            raise BundleError(
                f"{model_path.name} expects inputs {names}; a text classifier needs "
                f"input_ids (and optionally attention_mask, token_type_ids)."
            )
        out_shape = session.get_outputs()[0].shape
        n_out = out_shape[-1] if out_shape else None
        outputs = config.get("tags") or config["labels"]  # spans: one score per BIO tag
        if isinstance(n_out, int) and n_out != len(outputs):
            raise BundleError(
                f"The label map in {BUNDLE_CONFIG} lists {len(outputs)} labels but "
                f"{model_path.name} outputs {n_out} scores: the bundle's files do not belong "
                "together."
            )
        return cls(bundle, config, tokenizer, session, model_file)

    # ------------------------------------------------------------------ prediction
    def _batch_arrays(self, encodings: Sequence[Any]) -> dict[str, np.ndarray]:
        import numpy as np

        width = max(len(e.ids) for e in encodings)
        n = len(encodings)
        ids = np.full((n, width), self.pad_id, dtype=np.int64)
        mask = np.zeros((n, width), dtype=np.int64)
        types = np.zeros((n, width), dtype=np.int64)
        for row, enc in enumerate(encodings):
            k = len(enc.ids)
            ids[row, :k] = enc.ids
            mask[row, :k] = 1
            types[row, :k] = enc.type_ids
        arrays = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        return {name: arrays[name] for name in self.input_names}

    def predict_logits(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = 32,
        progress: Callable[[int, int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> np.ndarray:
        """Raw model outputs (n x n_labels), in the order of ``texts``."""
        import numpy as np

        if self.config.get("windows"):  # long records read in overlapping windows (span_runtime.py)
            return pooled_window_logits(self, texts, batch_size=batch_size, progress=progress, should_stop=should_stop)
        texts = ["" if t is None else str(t) for t in texts]
        n = len(texts)
        out = np.zeros((n, len(self.labels)), dtype=np.float32)
        if n == 0:
            return out
        encodings = self.tokenizer.encode_batch(texts)
        order = sorted(range(n), key=lambda i: len(encodings[i].ids))
        done = 0
        for start in range(0, n, max(1, batch_size)):
            if should_stop is not None and should_stop():
                raise Cancelled("Prediction cancelled.")
            idx = order[start : start + batch_size]
            feeds = self._batch_arrays([encodings[i] for i in idx])
            logits = self.session.run([self.output_name], feeds)[0]
            if logits.ndim != 2 or logits.shape[1] != len(self.labels):
                raise BundleError(
                    f"The label map lists {len(self.labels)} labels but the model outputs "
                    f"{logits.shape[-1]} scores: the bundle's files do not belong together."
                )
            out[idx] = logits
            done += len(idx)
            if progress is not None:
                progress(done, n)
        return out

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated probabilities: softmax (single-label) or sigmoid (multi-label) of
        logits divided by the bundle's temperature."""
        scaled = logits / self.temperature if self.temperature != 1.0 else logits
        return _sigmoid(scaled) if self.multi_label else _softmax(scaled)

    def predict_proba(self, texts: Sequence[str], *, batch_size: int = 32, **kwargs: Any) -> np.ndarray:
        """Label probabilities (n x n_labels): softmax or, for multi-label, sigmoid."""
        return self.probabilities(self.predict_logits(texts, batch_size=batch_size, **kwargs))

    def decide(self, probs: np.ndarray) -> list[dict[str, Any]]:
        """Turn probability rows into ``{"label" or "labels", "probs"}`` dicts."""
        import numpy as np

        results = []
        for row in np.atleast_2d(probs):
            named = {name: float(p) for name, p in zip(self.labels, row, strict=True)}
            if self.multi_label:
                chosen = [n for n, p, t in zip(self.labels, row, self.thresholds, strict=True) if p >= t]
                results.append({"labels": chosen, "probs": named})
            else:
                results.append({"label": self.labels[int(np.argmax(row))], "probs": named})
        return results

    def predict(self, texts: Sequence[str], *, batch_size: int = 32, **kwargs: Any) -> list[dict[str, Any]]:
        """Predictions per text: ``{"label": name, "probs": {...}}`` (multi-label:
        ``{"labels": [names], "probs": {...}}``; a span bundle: ``{"text", "spans":
        [{"start", "end", "label", "text", "score"}]}`` with character offsets)."""
        if self.task == "spans":
            return predict_spans(self, texts, batch_size=batch_size, **kwargs)
        return self.decide(self.predict_proba(texts, batch_size=batch_size, **kwargs))


# ---------------------------------------------------------------------- files
def _pick_column(path: Path, columns: Sequence[str], text_col: str | None) -> str:
    if text_col:
        if text_col not in columns:
            raise InputFileError(
                f"{path.name} has no column {text_col!r}; columns: {', '.join(columns) or 'none'}."
            )
        return text_col
    if "text" in columns:
        return "text"
    if len(columns) == 1:
        return columns[0]
    raise InputFileError(
        f"{path.name} has several columns ({', '.join(columns)}): choose the text column "
        "with --text-col."
    )


def read_texts(path: str | Path, text_col: str | None = None) -> tuple[list[str], list[dict[str, Any]], str]:
    """Read texts from a TXT (one per line), CSV/TSV or JSONL file.

    Returns ``(texts, rows, column)``: ``rows`` keep every original field so that outputs
    can carry ids and other columns along.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in INPUT_FORMATS:
        raise InputFileError(
            f"{path.name}: unsupported input format {suffix or '(none)'}; use "
            f"{', '.join(INPUT_FORMATS)}."
        )
    if not path.is_file():
        raise InputFileError(f"Input file {path} does not exist.")
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            if suffix == ".txt":
                rows = [{"text": line.rstrip("\r\n")} for line in fh if line.strip()]
                return [r["text"] for r in rows], rows, "text"
            if suffix in (".csv", ".tsv"):
                reader = csv.DictReader(fh, delimiter="\t" if suffix == ".tsv" else ",")
                columns = list(reader.fieldnames or [])
                col = _pick_column(path, columns, text_col)
                # Surplus values on a line land under the key None: drop them.
                rows = [{k: v for k, v in r.items() if k is not None} for r in reader]
            else:
                rows = []
                for lineno, line in enumerate(fh, 1):
                    if not line.strip():
                        continue
                    try:
                        obj = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise InputFileError(
                            f"{path.name} line {lineno} is not valid JSON: {exc.msg}."
                        ) from None
                    rows.append(obj if isinstance(obj, dict) else {"text": obj})
                columns = list(dict.fromkeys(k for r in rows for k in r))
                col = _pick_column(path, columns, text_col)
    except UnicodeDecodeError:
        raise InputFileError(f"{path.name} is not UTF-8 text.") from None
    except csv.Error as exc:
        raise InputFileError(f"{path.name} is not a readable CSV file: {exc}.") from None
    except OSError as exc:
        raise InputFileError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    texts = ["" if r.get(col) is None else str(r.get(col)) for r in rows]
    return texts, rows, col


def _review_fields(res: dict[str, Any], review_below: float) -> dict[str, str]:
    probs = res["probs"]
    chosen = res["labels"] if "labels" in res else [res["label"]]
    conf = max((probs[n] for n in chosen), default=0.0)
    if "labels" in res and not chosen:  # multi-label, nothing chosen: as sure as the top "no"
        conf = 1.0 - max(probs.values(), default=0.0)
    return {"certainty": confidence_word(conf, review_below),
            "needs_review": "yes" if conf < review_below else "no"}


def write_predictions(
    path: str | Path,
    rows: Sequence[dict[str, Any]],
    results: Sequence[dict[str, Any]],
    labels: Sequence[str],
    review_below: float | None = None,
) -> None:
    """Write input rows plus predictions to CSV (``label``, ``confidence``, ``p_<label>``
    columns) or JSONL (``prediction`` and ``probs`` fields).

    With ``review_below`` (a probability), every row also says its confidence in words
    (``certainty``) and ``needs_review`` = yes when the confidence is below it."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise InputFileError(
            f"{path.name}: unsupported output format {suffix or '(none)'}; use .csv or .jsonl."
        )
    if not path.parent.is_dir():
        raise InputFileError(f"Folder {path.parent} does not exist.")
    tmp = path.with_name(path.name + ".partial")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            if results and "spans" in results[0]:  # span bundle: spans as JSON
                _write_spans(fh, suffix, rows, results)
            elif suffix == ".jsonl":
                for row, res in zip(rows, results, strict=True):
                    pred = res["labels"] if "labels" in res else res["label"]
                    out = {**row, "prediction": pred, "probs": res["probs"]}
                    if review_below is not None:
                        out.update(_review_fields(res, review_below))
                    fh.write(json.dumps(out, ensure_ascii=False) + "\n")
            else:
                base = list(dict.fromkeys(k for r in rows for k in r))
                extra = ["label", "confidence"] + (
                    ["certainty", "needs_review"] if review_below is not None else []
                ) + [f"p_{name}" for name in labels]
                writer = csv.DictWriter(fh, fieldnames=base + [c for c in extra if c not in base])
                writer.writeheader()
                for row, res in zip(rows, results, strict=True):
                    probs = res["probs"]
                    if "labels" in res:
                        label = ";".join(res["labels"])
                        conf = max((probs[n] for n in res["labels"]), default=0.0)
                    else:
                        label = res["label"]
                        conf = probs[label]
                    out = dict(row)
                    out.update({"label": label, "confidence": f"{conf:.6f}"})
                    if review_below is not None:
                        out.update(_review_fields(res, review_below))
                    out.update({f"p_{n}": f"{probs[n]:.6f}" for n in labels})
                    writer.writerow(out)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputFileError(f"Cannot write {path}: {exc.strerror or exc}.") from None


def _write_spans(fh: Any, suffix: str, rows: Sequence[dict[str, Any]],
                 results: Sequence[dict[str, Any]]) -> None:
    if suffix == ".jsonl":
        for row, res in zip(rows, results, strict=True):
            fh.write(json.dumps({**row, "spans": res["spans"]}, ensure_ascii=False) + "\n")
        return
    base = list(dict.fromkeys(k for r in rows for k in r))
    writer = csv.DictWriter(fh, fieldnames=base + [c for c in ("spans",) if c not in base])
    writer.writeheader()
    for row, res in zip(rows, results, strict=True):
        writer.writerow({**row, "spans": json.dumps(res["spans"], ensure_ascii=False)})


def predict_file(
    predictor: Predictor,
    input_path: str | Path,
    output_path: str | Path,
    *,
    text_col: str | None = None,
    batch_size: int = 32,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    review_below: float | None = None,
) -> int:
    """Predict every text of a file and write the results; returns the number of rows.

    The output file appears only when every row is done (nothing is written on cancel).
    """
    input_path, output_path = Path(input_path), Path(output_path)
    if output_path.suffix.lower() not in OUTPUT_FORMATS:
        raise InputFileError(
            f"{output_path.name}: unsupported output format {output_path.suffix or '(none)'}; "
            "use .csv or .jsonl."
        )
    if input_path.resolve() == output_path.resolve():
        raise InputFileError("The output file must not be the input file.")
    texts, rows, _col = read_texts(input_path, text_col)
    results = predictor.predict(texts, batch_size=batch_size, progress=progress, should_stop=should_stop)
    write_predictions(output_path, rows, results, predictor.labels, review_below)
    return len(rows)


# ---------------------------------------------------------------------- command line
