"""Span files in the import dialog and the new-project wizard.

A span project reads CoNLL, spaCy-style / doccano JSONL and Label Studio JSON files (records
with their entities) and plain records through the core span import
(:func:`workbench.core.spans.span_import.import_span_file`), all or nothing. The preview
shows each record's text and its entities; the import jobs are core's
(:mod:`workbench.core.spans.span_jobs`), run in a worker thread.
"""
from __future__ import annotations

import re
from itertools import islice
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QHeaderView

from workbench.core.errors import WorkbenchError
from workbench.core.spans.examples import SpanExample
from workbench.core.spans.formats_conll import read_conll
from workbench.core.spans.formats_jsonl import read_span_json
from workbench.core.spans.span_import import read_span_file, span_format
from workbench.core.spans.span_jobs import (
    NewSpanProjectConfig,
    SpanImportConfig,
    create_span_project_job,
    import_span_job,
)
from workbench.gui.project.data_mapper import PREVIEW_ROWS, ColumnMapping, DataFileMapper

__all__ = [
    "NewSpanProjectConfig",
    "SpanFileMapper",
    "SpanImportConfig",
    "create_span_project_job",
    "import_span_job",
    "plain_message",
]

#: Span files bigger than this are previewed from their first lines only.
PREVIEW_BYTES = 8 << 20
PREVIEW_LINES = 5000
ENTITIES_COLUMN = "entities"


_ADD_LABELS = re.compile(r";?\s*add it first or\s+use --add-labels\.?")
_FLAG_HINTS = (
    (re.compile(r";?\s*pass --encoding(\s*\([^)]*\))?\.?"),
     "; save the file as UTF-8 and import it again."),
    (re.compile(r";?\s*pass --format \(([^)]*)\)\.?"),
     r"; give the file one of these suffixes: \1."),
    (re.compile(r"\s*\(workbench new --task spans\)"), ""),
)


def plain_message(exc: BaseException, *, add_labels: str = "tick “Add the new labels”") -> str:
    """The message to show for a failed import, in the window's words (no command-line
    options); ``add_labels`` says how this window adds labels the project lacks."""
    if not isinstance(exc, WorkbenchError):
        return f"Import failed: {exc}"
    text = _ADD_LABELS.sub(f"; {add_labels} to add it.", str(exc))
    for pattern, replacement in _FLAG_HINTS:
        text = pattern.sub(replacement, text)
    return re.sub(r"\s*--[a-z][a-z-]+", "", text)


def _describe(example: SpanExample) -> str:
    if not example.labelled:
        return "(to label)"
    if not example.spans:
        return "(no entities)"
    return ", ".join(f"{example.text[s.start:s.end]} ({s.label})" for s in example.spans)


def _preview_examples(path: Path, kind: str) -> list[SpanExample]:
    if path.stat().st_size <= PREVIEW_BYTES:
        return list(islice(read_span_file(path, kind), PREVIEW_ROWS))
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as fh:
        lines = [line.rstrip("\r\n") for line in islice(fh, PREVIEW_LINES)]
    reader = read_conll if kind == "conll" else read_span_json
    examples: list[SpanExample] = []
    try:
        for example in reader(lines, path.name):
            examples.append(example)
            if len(examples) >= PREVIEW_ROWS:
                break
    except WorkbenchError:
        if not examples:  # a JSON array cut short: nothing to show, the import checks all
            return []
    return examples


class SpanFileMapper(DataFileMapper):
    """The data file chooser of a span project: span files preview their records with
    their entities (no columns to choose); other files map a text (and ID) column."""

    def __init__(self, parent=None, *, span_mode: bool = False) -> None:
        super().__init__(parent)
        self.span_mode = span_mode
        self.is_span_file = False
        self.entity_labels: list[str] = []
        self.path_edit.setPlaceholderText(
            "CSV, TSV, JSON Lines, JSON, Excel, Parquet, plain text or CoNLL")
        self.changed.connect(self._show_rows)

    def set_span_mode(self, on: bool) -> None:
        """Read JSON files as span files (on) or as tables (off); reloads the file."""
        if on == self.span_mode:
            return
        self.span_mode = on
        if self.path_edit.text().strip():
            self.set_file(self.path_edit.text().strip())
        else:
            self._show_rows()

    def read_preview(self, path: Path) -> tuple[list[str], list[dict[str, Any]]]:
        kind = span_format(path) if path.is_file() else None
        # A CoNLL file is always a span file; JSON ones only in a span project.
        self.is_span_file = kind == "conll" or (kind is not None and self.span_mode)
        self.entity_labels = []
        if not self.is_span_file:
            return super().read_preview(path)
        examples = _preview_examples(path, kind)
        seen: dict[str, None] = {}
        for example in examples:
            for span in example.spans:
                seen.setdefault(span.label, None)
        self.entity_labels = list(seen)
        rows = [{"text": ex.text, ENTITIES_COLUMN: _describe(ex)} for ex in examples]
        return ["text", ENTITIES_COLUMN], rows

    def _show_rows(self) -> None:
        span_file = self.is_span_file and bool(self.columns)
        self.form.setRowVisible(self.text_combo, not span_file)
        self.form.setRowVisible(self.id_combo, not span_file)
        # A span project takes entities from span files only, never a label column.
        self.form.setRowVisible(self.label_combo, not self.span_mode and not span_file)
        if span_file:  # no columns to choose: plain headers, text and entities share the width
            for c, name in enumerate(self.columns):
                item = self.preview.horizontalHeaderItem(c)
                if item is not None:
                    item.setText(name)
                self.preview.horizontalHeader().setSectionResizeMode(
                    c, QHeaderView.ResizeMode.Stretch)

    def mapping(self) -> ColumnMapping | None:
        mapping = super().mapping()
        if mapping is None:
            return None
        if self.is_span_file:
            return ColumnMapping("text")
        if self.span_mode:
            return ColumnMapping(mapping.text_col, mapping.id_col)
        return mapping

    def label_values(self) -> list[str]:
        if self.is_span_file:
            return list(self.entity_labels)
        return super().label_values()

    def span_config(self, *, add_labels: bool) -> SpanImportConfig | None:
        """The :class:`SpanImportConfig` for the chosen file, or None when none is loaded."""
        mapping = self.mapping()
        if mapping is None or self.path is None:
            return None
        return SpanImportConfig(self.path, text_col=mapping.text_col, id_col=mapping.id_col,
                                add_labels=add_labels and self.is_span_file)
