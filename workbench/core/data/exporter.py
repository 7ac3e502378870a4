"""Exporting labelled data to CSV, JSON Lines or Parquet (format from the file suffix).

Two modes:

* ``"all"``: one row per annotation (every annotator's judgement, including skipped and
  flagged records, whose label cell is empty).
* ``"final"``: one row per record with its final label(s), by the rule of
  :mod:`workbench.core.store.snapshot` (an adjudicated final label wins under the project's
  default rule, otherwise the majority of annotators); records whose annotators tie and
  that nobody adjudicated are left out.

Columns: ``id`` (the external id), ``text``, ``label`` (single-label projects) or
``labels`` (multi-label: a list in JSONL/Parquet, ``|``-separated in CSV), ``annotator``,
``status``, ``split``, then each metadata field as its own column (a field whose name
clashes with one of these gets a ``meta.`` prefix). Importing an export into a new project
(``--text-col text --id-col id --label-col label``) gives back the same records and labels.

CSV cells that a spreadsheet would run as a formula (text starting with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return; OWASP's CSV-injection advice) get a leading
``'`` unless ``escape_formulas=False`` (CLI ``--raw``). Plain numbers such as ``-5`` are
left alone. JSON Lines and Parquet are never escaped.

Rows are read from the database and written in chunks, so memory stays bounded.
"""
from __future__ import annotations

import csv
import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.core.errors import Cancelled, WorkbenchError
from workbench.core.jobs import ProgressEvent

if TYPE_CHECKING:
    from workbench.core.store.project import Project

__all__ = ["EXPORT_FORMATS", "ExportSummary", "export_labelled"]

log = logging.getLogger(__name__)

EXPORT_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
MODES = ("all", "final")
_CHUNK = 5000
#: First characters that make a spreadsheet evaluate a cell (OWASP CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


@dataclass
class ExportSummary:
    """What an export wrote."""

    path: str
    format: str
    mode: str
    rows: int = 0
    ties: int = 0

    def summary(self) -> str:
        """One line for the user."""
        text = f"{self.rows} rows written to {self.path} ({self.mode} annotations)"
        if self.mode == "final":
            text = f"{self.rows} records with final labels written to {self.path}"
            if self.ties:
                text += f"; {self.ties} records left out (annotators disagree)"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "format": self.format, "mode": self.mode,
                "rows": self.rows, "ties": self.ties}


def _meta_keys(project: Project, mode: str) -> list[str]:
    """Metadata field names of the exported records, in order of first appearance."""
    # Driven from the annotations (usually far fewer than the records), not a table scan.
    source = "SELECT record_id FROM annotations"
    if mode == "final":
        source += " WHERE status = 'labelled'"
        if project.db["final_labels"].exists():
            source += " UNION SELECT record_id FROM final_labels"
    rows = project.db.execute(
        f"SELECT j.key FROM (SELECT DISTINCT record_id AS rid FROM ({source})) a "
        "JOIN records r ON r.id = a.rid JOIN json_each(r.meta) j WHERE r.meta IS NOT NULL "
        "GROUP BY j.key ORDER BY min(r.id), min(j.id)"
    ).fetchall()
    return [r[0] for r in rows]


_ANNOTATION_SQL = (
    "SELECT r.id, r.external_id, r.text, r.meta, r.split, a.annotator, a.status, "
    "(SELECT json_group_array(name) FROM (SELECT l.name AS name FROM annotation_labels al "
    " JOIN labels l ON l.id = al.label_id WHERE al.annotation_id = a.id "
    " ORDER BY l.position, l.id)) "
    "FROM annotations a JOIN records r ON r.id = a.record_id "
    "{where} ORDER BY a.record_id, a.annotator"
)


def _annotation_rows(project: Project, where: str = "") -> Iterator[tuple[Any, ...]]:
    # A separate cursor, read in chunks: the whole result is never held in memory.
    cur = project.conn.cursor()
    cur.execute(_ANNOTATION_SQL.format(where=where))
    while True:
        batch = cur.fetchmany(_CHUNK)
        if not batch:
            break
        yield from batch


def _rows_all(project: Project) -> Iterator[dict[str, Any]]:
    for rid, ext, text, meta, split, annotator, status, labels in _annotation_rows(project):
        yield {
            "record_id": rid, "id": ext, "text": text, "meta": meta, "split": split,
            "annotator": annotator, "status": status, "labels": json.loads(labels),
        }


def _rows_final(project: Project, summary: ExportSummary) -> Iterator[dict[str, Any]]:
    from workbench.core.store.snapshot import adjudicated_finals, majority_labels

    multi = project.multi_label
    order = {name: i for i, name in enumerate(project.label_names())}
    # Adjudicated finals are few (people set them one by one): held in memory.
    finals = adjudicated_finals(project)
    final_only = sorted(finals)  # records whose final may have no labelled annotation
    pos = 0

    def row(rid: int, ext: Any, text: str, meta: Any, split: str, annotators: list[str],
            labels: list[str]) -> dict[str, Any]:
        return {
            "record_id": rid, "id": ext, "text": text, "meta": meta, "split": split,
            "annotator": ",".join(sorted(annotators)), "status": "labelled",
            "labels": sorted(set(labels), key=lambda n: order.get(n, len(order))),
        }

    def finals_before(limit: int | None) -> Iterator[dict[str, Any]]:
        nonlocal pos
        ids = []
        while pos < len(final_only) and (limit is None or final_only[pos] < limit):
            ids.append(final_only[pos])
            pos += 1
        for rec in project.get_records(ids):
            yield row(rec.id, rec.external_id, rec.text,
                      json.dumps(rec.meta) if rec.meta else None, rec.split, [], finals[rec.id])

    def finish(first: tuple[Any, ...], group: dict[str, list[str]]) -> dict[str, Any] | None:
        rid = first[0]
        labels = finals.get(rid) or majority_labels(group.values(), multi)
        if labels is None:
            summary.ties += 1
            return None
        return row(*first, list(group), labels)

    current: int | None = None
    group: dict[str, list[str]] = {}
    first: tuple[Any, ...] = ()
    for rid, ext, text, meta, split, annotator, _status, labels in _annotation_rows(
        project, "WHERE a.status = 'labelled'"
    ):
        names = json.loads(labels)
        if not names:
            continue
        if rid != current:
            if group:
                out = finish(first, group)
                if out is not None:
                    yield out
            yield from finals_before(rid)
            if pos < len(final_only) and final_only[pos] == rid:
                pos += 1  # handled with its annotations
            current, group, first = rid, {}, (rid, ext, text, meta, split)
        group[annotator] = names
    if group:
        out = finish(first, group)
        if out is not None:
            yield out
    yield from finals_before(None)


class _Columns:
    """Maps a row dict onto the export's columns."""

    def __init__(self, multi: bool, meta_keys: list[str]) -> None:
        self.label_col = "labels" if multi else "label"
        self.multi = multi
        self.fixed = ["id", "text", self.label_col, "annotator", "status", "split"]
        taken = set(self.fixed)
        self.meta = []
        for key in meta_keys:
            name = key if key not in taken else f"meta.{key}"
            while name in taken:
                name = f"meta.{name}"
            taken.add(name)
            self.meta.append((key, name))
        self.names = self.fixed + [name for _key, name in self.meta]

    def values(self, row: dict[str, Any]) -> dict[str, Any]:
        labels = row["labels"]
        if self.multi:
            label: Any = labels
        else:
            label = labels[0] if labels else None
        out = {
            "id": row["id"], "text": row["text"], self.label_col: label,
            "annotator": row["annotator"], "status": row["status"], "split": row["split"],
        }
        meta = json.loads(row["meta"]) if row["meta"] else {}
        for key, name in self.meta:
            out[name] = meta.get(key)
        return out


def _checked_masked(rows: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    from workbench.core.prep.pii import find_pii

    for row in rows:
        found = find_pii(row["text"])
        if found:
            kinds = ", ".join(sorted({f.kind for f in found}))
            raise WorkbenchError(
                f"Record {row['record_id']} still holds personal data ({kinds}): mask it "
                "first (Data tab or 'workbench clean PROJECT --mask-pii'); no file was written."
            )
        yield row


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def escape_formula(cell: str) -> str:
    """``cell`` with a leading ``'`` when a spreadsheet would run it as a formula."""
    if cell.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def _write_csv(path: Path, cols: _Columns, rows: Iterator[dict[str, Any]],
               escape: bool = True) -> int:
    n = 0
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(cols.names)
        for row in rows:
            values = cols.values(row)
            if cols.multi:
                values[cols.label_col] = "|".join(values[cols.label_col])
            cells = [_cell(values[name]) for name in cols.names]
            if escape:
                cells = [escape_formula(c) for c in cells]
            writer.writerow(cells)
            n += 1
    return n


def _write_jsonl(path: Path, cols: _Columns, rows: Iterator[dict[str, Any]],
                 escape: bool = True) -> int:
    n = 0
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for row in rows:
            fh.write(json.dumps(cols.values(row), ensure_ascii=False))
            fh.write("\n")
            n += 1
    return n


def _write_parquet(path: Path, cols: _Columns, rows: Iterator[dict[str, Any]],
                   escape: bool = True) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    fields = [pa.field(name, pa.string()) for name in cols.names]
    if cols.multi:
        fields[2] = pa.field(cols.label_col, pa.list_(pa.string()))
    schema = pa.schema(fields)
    n = 0
    with pq.ParquetWriter(path, schema) as writer:
        buf: dict[str, list[Any]] = {name: [] for name in cols.names}

        def flush() -> None:
            writer.write_table(pa.table(buf, schema=schema))
            for values in buf.values():
                values.clear()

        for row in rows:
            values = cols.values(row)
            for name in cols.names:
                v = values[name]
                buf[name].append(v if name == cols.label_col and cols.multi else
                                 (None if v is None else _cell(v)))
            n += 1
            if len(buf["text"]) >= _CHUNK:
                flush()
        if buf["text"] or n == 0:
            flush()
    return n


def export_labelled(
    project: Project,
    path: str | Path,
    *,
    mode: str = "all",
    progress: Callable[[ProgressEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    escape_formulas: bool = True,
    masked_only: bool = False,
) -> ExportSummary:
    """Write the project's annotations (``mode="all"``) or final labels (``"final"``) to
    ``path``; the format comes from its suffix (.csv, .jsonl, .parquet).

    The file is written beside its destination and moved into place at the end, so a
    failed or cancelled export never leaves half a file. ``progress`` receives a
    :class:`ProgressEvent` (``done``: rows written) every few thousand rows;
    ``should_stop()`` returning true cancels.
    ``escape_formulas`` (CSV only) prefixes ``'`` to cells a spreadsheet would evaluate.
    ``masked_only`` refuses the export (no file written) when a text still holds personal
    data the masking rules find (:mod:`workbench.core.prep.pii`).
    """
    path = Path(path)
    fmt = EXPORT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise WorkbenchError(
            f"{path.name}: cannot export to {path.suffix or 'a file without suffix'!r}; "
            "use .csv, .jsonl or .parquet."
        )
    if mode not in MODES:
        raise WorkbenchError(f"Unknown export mode {mode!r} (use 'all' or 'final').")
    if not path.parent.exists():
        raise WorkbenchError(f"Folder {path.parent} does not exist.")
    summary = ExportSummary(path=str(path), format=fmt, mode=mode)
    cols = _Columns(project.multi_label, _meta_keys(project, mode))
    source = _rows_all(project) if mode == "all" else _rows_final(project, summary)
    if masked_only:
        source = _checked_masked(source)

    def counted(rows: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for i, row in enumerate(rows, start=1):
            if i % _CHUNK == 0:
                if should_stop is not None and should_stop():
                    raise Cancelled("Export cancelled; no file was written.")
                if progress is not None:
                    progress(ProgressEvent("export", i, 0, f"{i:,} rows written"))
            yield row

    tmp = path.with_name(f".{path.name}.part")
    writer = {"csv": _write_csv, "jsonl": _write_jsonl, "parquet": _write_parquet}[fmt]
    try:
        summary.rows = writer(tmp, cols, counted(source), escape_formulas)
        os.replace(tmp, path)
    except OSError as exc:
        raise WorkbenchError(f"Cannot write {path}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    log.info("exported %s", summary.summary())
    return summary
