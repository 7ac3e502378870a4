"""Importing span files (CoNLL, spaCy-style JSONL, doccano, Label Studio, plain records)
into a span project, all or nothing.

The whole file is read and checked first (every span inside its text, a known label or
``add_labels``, no overlap unless the project allows it), with errors naming the file's
line; only then are the records written through the ordinary importer (pending batch,
published at the end), so a bad file leaves the project exactly as it was.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from workbench.core.data.import_report import ImportProgress, ImportReport
from workbench.core.data.importer import import_file, import_rows
from workbench.core.errors import ImportDataError, WorkbenchError
from workbench.core.spans.examples import SpanExample
from workbench.core.spans.formats_conll import read_conll
from workbench.core.spans.formats_jsonl import read_span_json
from workbench.core.store.project import Project
from workbench.core.store.spans import overlapping_pairs

__all__ = ["SPAN_FILE_FORMATS", "check_examples", "import_span_file", "read_span_file",
           "span_format"]

#: Formats read as span files; anything else is imported as plain records to label.
SPAN_FILE_FORMATS = ("conll", "spacy", "doccano", "labelstudio")
_SUFFIXES = {".conll": "conll", ".conllu": "conll", ".iob": "conll", ".bio": "conll",
             ".jsonl": "spacy", ".ndjson": "spacy", ".json": "spacy"}
_SPANS_KEY = "\x00spans"


def span_format(path: Path, fmt: str | None = None) -> str | None:
    """The span format of a file ("conll" or a JSON flavour, which is read the same way),
    or None for a plain-record format (CSV, text, ...)."""
    if fmt:
        fmt = fmt.lower().lstrip(".")
        if fmt in ("jsonl", "json", "ndjson", "label-studio", "label_studio"):
            return "spacy" if fmt != "label_studio" and fmt != "label-studio" else "labelstudio"
        return fmt if fmt in SPAN_FILE_FORMATS else None
    return _SUFFIXES.get(path.suffix.lower())


def _lines(path: Path, encoding: str | None) -> list[str]:
    try:
        with path.open(encoding=encoding or "utf-8-sig", newline="") as fh:
            return fh.read().splitlines()
    except UnicodeDecodeError as exc:
        data = path.read_bytes()
        line = data[: exc.start].count(b"\n") + 1
        raise ImportDataError(f"{path.name}, line {line}: not valid {encoding or 'UTF-8'} "
                              "text; pass --encoding.") from None
    except OSError as exc:
        raise ImportDataError(f"{path.name}: cannot read the file ({exc.strerror}).") from None


def read_span_file(path: str | Path, fmt: str | None = None,
                   encoding: str | None = None) -> Iterator[SpanExample]:
    """The records of a span file, with spans (not checked against a project yet)."""
    path = Path(path)
    kind = span_format(path, fmt)
    if kind is None:
        raise ImportDataError(f"{path.name}: not a span file (use CoNLL, JSONL or JSON).")
    lines = _lines(path, encoding)
    if kind == "conll":
        return read_conll(lines, path.name)
    return read_span_json(lines, path.name)


def check_examples(examples: list[SpanExample], name: str, labels: list[str], *,
                   add_labels: bool, allow_overlap: bool) -> list[str]:
    """Raise ImportDataError naming the line of the first bad span; returns the label names
    that are new (allowed only with ``add_labels``)."""
    known = set(labels)
    new: list[str] = []
    for ex in examples:
        for i, span in enumerate(ex.spans):
            where = f"{name}, line {ex.line_of(i)}"
            if span.start < 0 or span.end > len(ex.text) or span.start >= span.end:
                raise ImportDataError(
                    f"{where}: span {span.start}-{span.end} ({span.label}) does not match the "
                    f"text (length {len(ex.text)})."
                )
            if span.label not in known:
                if not add_labels:
                    raise ImportDataError(
                        f"{where}: label {span.label!r} is not in the project's labels "
                        f"({', '.join(labels) or 'none'}); add it first or use --add-labels."
                    )
                known.add(span.label)
                new.append(span.label)
        if not allow_overlap:
            pairs = overlapping_pairs(ex.spans)
            if pairs:
                a, b = pairs[0]
                idx = ex.spans.index(b)
                raise ImportDataError(
                    f"{name}, line {ex.line_of(idx)}: spans {a.start}-{a.end} ({a.label}) and "
                    f"{b.start}-{b.end} ({b.label}) overlap, and overlapping spans are off "
                    "for this project."
                )
        if len(set(ex.spans)) != len(ex.spans):
            ex.spans = sorted(set(ex.spans))
    return new


def import_span_file(
    project: Project,
    path: str | Path,
    *,
    fmt: str | None = None,
    encoding: str | None = None,
    add_labels: bool = False,
    annotator: str | None = None,
    text_col: str = "text",
    id_col: str | None = None,
    progress: Callable[[ImportProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ImportReport:
    """Import a span file (or plain records) into a span project (all or nothing)."""
    path = Path(path)
    if not project.is_spans:
        raise WorkbenchError(f"{project.name} labels whole records, not spans: import span "
                             "files into a span project (workbench new --task spans).")
    if not path.is_file():
        raise ImportDataError(f"{path}: no such file.")
    if path.stat().st_size == 0:
        raise ImportDataError(f"{path.name}: the file is empty.")
    kind = span_format(path, fmt)
    if kind is None:  # plain records to label: CSV, text, Excel, ...
        return import_file(project, path, text_col=text_col, id_col=id_col, fmt=fmt,
                           encoding=encoding, annotator=annotator, progress=progress,
                           should_stop=should_stop)
    examples = list(read_span_file(path, kind, encoding))
    if not examples:
        raise ImportDataError(f"{path.name}: the file has no records.")
    check_examples(examples, path.name, project.label_names(), add_labels=add_labels,
                   allow_overlap=project.allow_overlapping_spans)
    rows = ({"text": ex.text, "id": ex.external_id,
             _SPANS_KEY: ex.spans if ex.labelled else None} for ex in examples)
    return import_rows(project, rows, text_col="text", id_col="id", source=str(path),
                       fmt=kind, add_labels=add_labels, annotator=annotator,
                       progress=progress, should_stop=should_stop, spans_col=_SPANS_KEY)
