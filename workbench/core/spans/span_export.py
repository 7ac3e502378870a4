"""Exporting a span project's labelled records to CoNLL, spaCy-style JSONL, doccano JSONL
or Label Studio JSON (the formats it imports)."""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

from workbench.core.data.exporter import ExportSummary
from workbench.core.errors import WorkbenchError
from workbench.core.spans.formats_conll import write_conll
from workbench.core.spans.formats_jsonl import JSON_FLAVOURS, span_json_objects
from workbench.core.spans.span_snapshot import resolved_spans
from workbench.core.store.project import Project

__all__ = ["SPAN_EXPORT_FORMATS", "export_spans"]

SPAN_EXPORT_FORMATS = ("conll", "conll-bioes", *JSON_FLAVOURS)


def _format(path: Path, fmt: str | None) -> str:
    if fmt:
        fmt = fmt.lower().replace("_", "").replace("label-studio", "labelstudio")
        fmt = {"jsonl": "spacy", "json": "labelstudio", "bioes": "conll-bioes"}.get(fmt, fmt)
        if fmt not in SPAN_EXPORT_FORMATS:
            raise WorkbenchError(f"Unknown span export format {fmt!r} (use one of: "
                                 f"{', '.join(SPAN_EXPORT_FORMATS)}).")
        return fmt
    found = {".conll": "conll", ".iob": "conll", ".bio": "conll", ".jsonl": "spacy",
             ".json": "labelstudio"}.get(path.suffix.lower())
    if found is None:
        raise WorkbenchError(f"{path.name}: cannot export spans to "
                             f"{path.suffix or 'a file without suffix'!r}; use .conll, .jsonl "
                             "(spaCy-style; --format doccano) or .json (Label Studio).")
    return found


def export_spans(project: Project, path: str | Path, *, fmt: str | None = None,
                 annotator: str | None = None) -> ExportSummary:
    """Write every labelled record with its spans (resolved across annotators, or those of
    ``annotator``) to ``path``; written beside it and moved into place at the end."""
    path = Path(path)
    if not project.is_spans:
        raise WorkbenchError(f"{project.name} is not a span project.")
    if not path.parent.exists():
        raise WorkbenchError(f"Folder {path.parent} does not exist.")
    kind = _format(path, fmt)
    records = resolved_spans(project, annotator=annotator)
    summary = ExportSummary(path=str(path), format=kind, mode="spans")

    def lines() -> Iterator[str]:
        if kind.startswith("conll"):
            yield from write_conll(((r.text, r.spans) for r in records),
                                   scheme="bioes" if kind == "conll-bioes" else "bio")
            return
        objects = span_json_objects(((r.external_id, r.text, r.spans) for r in records), kind)
        if kind == "labelstudio" and path.suffix.lower() == ".json":
            yield json.dumps(list(objects), ensure_ascii=False, indent=1) + "\n"
            return
        for obj in objects:
            yield json.dumps(obj, ensure_ascii=False) + "\n"

    tmp = path.with_name(f".{path.name}.part")
    try:
        with tmp.open("w", encoding="utf-8", newline="\n") as fh:
            fh.writelines(lines())
        os.replace(tmp, path)
    except OSError as exc:
        raise WorkbenchError(f"Cannot write {path}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    summary.rows = len(records)
    return summary
