"""Importing records (and optional labels) from data files into a project.

Files are read in chunks (see :mod:`workbench.core.data.readers`) so memory stays bounded. An
import is all or nothing without blocking labellers: rows are committed in short
transactions under a *pending* import batch, hidden from every reader, and published by one
short update at the end; on any error, when cancelled, or after a crash (on the next open)
the pending rows are removed, leaving the project exactly as it was. Records whose
normalised text is already in the project (or earlier in the same file) are counted and
skipped.
"""
from __future__ import annotations

import json
import logging
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from hashlib import blake2b
from pathlib import Path
from typing import Any

from workbench.core.data.import_report import ImportProgress, ImportReport
from workbench.core.data.label_cells import split_labels
from workbench.core.data.readers import (
    CHUNK_ROWS,
    FORMATS,
    clean_value,
    detect_format,
    read_table,
)
from workbench.core.errors import Cancelled, ImportDataError
from workbench.core.store.project import Project, default_annotator, now_iso

__all__ = [
    "FORMATS",
    "ImportProgress",
    "ImportReport",
    "detect_format",
    "read_table",
    "preview_file",
    "import_file",
    "import_rows",
    "add_texts",
    "split_labels",
]

log = logging.getLogger(__name__)

#: SQLite page cache while importing (negative = KiB): keeps the hash index in memory.
_IMPORT_CACHE_KIB = 256 * 1024
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
#: Each write transaction of an import aims at this duration (seconds); between them the
#: import pauses so that a label pressed meanwhile waits at most about one slice.
SLICE_TARGET_S = 0.03
SLICE_PAUSE_S = 0.002
#: The import's heartbeat is renewed this often (seconds).
HEARTBEAT_S = 5.0
_STR = json.encoder.encode_basestring  # a JSON string literal, non-ASCII kept
_NFKC = unicodedata.normalize
_IS_NFKC = unicodedata.is_normalized


def _hash(text: str) -> str:
    """Same value as :func:`workbench.core.textnorm.content_hash`, without the regex.

    ``str.split()`` splits on exactly the characters ``\\s`` matches, so joining the parts
    with one space equals collapsing whitespace runs and trimming.
    """
    if not _IS_NFKC("NFKC", text):
        text = _NFKC("NFKC", text)
    return blake2b(" ".join(text.split()).encode("utf-8"), digest_size=16).hexdigest()


def _encode_meta(fields: dict[str, Any]) -> str:
    """JSON object text of a metadata dict; string-only dicts (every CSV row) take a
    shortcut that skips the general encoder."""
    for k, v in fields.items():
        if type(v) is not str or type(k) is not str:
            return _JSON.encode(fields)
    return "{" + ",".join(_STR(k) + ":" + _STR(v) for k, v in fields.items()) + "}"


def preview_file(
    path: str | Path, fmt: str | None = None, encoding: str | None = None, rows: int = 20
) -> tuple[list[str], list[dict[str, Any]]]:
    """Column names and the first ``rows`` rows of a file (for the import wizard)."""
    path = Path(path)
    if not path.exists():
        raise ImportDataError(f"{path}: no such file.")
    fmt = detect_format(path, fmt)
    for chunk, _start, _frac in read_table(path, fmt, encoding, chunk_rows=rows):
        columns: list[str] = []
        for row in chunk:
            for key in row:
                if key not in columns:
                    columns.append(key)
        return columns, chunk[:rows]
    raise ImportDataError(f"{path.name}: the file has no rows.")


def _as_chunks(
    items: Iterable[dict[str, Any]] | Iterable[tuple[list[dict[str, Any]], int, float | None]],
) -> Iterator[tuple[list[dict[str, Any]], int, float | None]]:
    buf: list[dict[str, Any]] = []
    start = 1
    for item in items:
        if isinstance(item, tuple):
            yield item
            continue
        buf.append(item)
        if len(buf) >= CHUNK_ROWS:
            yield buf, start, None
            start += len(buf)
            buf = []
    if buf:
        yield buf, start, None


class _Importer:
    """The state of one import; :meth:`run` does it in one transaction."""

    def __init__(self, project: Project, *, text_col: str, id_col: str | None,
                 label_col: str | None, source: str, fmt: str, add_labels: bool,
                 annotator: str, spans_col: str | None = None) -> None:
        self.project = project
        self.conn = project.conn
        self.text_col, self.id_col, self.label_col = text_col, id_col, label_col
        #: Span projects: a row's value here is its list of Spans (checked by the reader);
        #: present means the record is labelled, possibly with no span.
        self.spans_col = spans_col
        self.keep = {c for c in (text_col, id_col, label_col, spans_col) if c}
        self.name = Path(source).name if source else "input"
        self.source, self.fmt = source, fmt
        self.add_labels = add_labels
        self.annotator = annotator
        self.multi = project.multi_label
        self.label_ids = {lab.name: lab.id for lab in project.labels()}
        self.report = ImportReport(file=source)
        self.now = now_iso()
        self.slice_rows = 500
        self.last_beat = time.monotonic()

    def check_columns(self, rows: list[dict[str, Any]]) -> None:
        """Every mapped column must exist (in JSON, in some object of the first chunk)."""
        present = list(dict.fromkeys(key for row in rows for key in row))
        for role, col in (("text", self.text_col), ("id", self.id_col), ("label", self.label_col)):
            if col is not None and col not in present:
                raise ImportDataError(
                    f"{self.name}: no {role} column {col!r}; the columns are: "
                    + ", ".join(repr(c) for c in present)
                    + "."
                )

    def labels_of(self, value: Any, row_no: int) -> list[str]:
        if value is None or value == "":
            return []
        try:
            names = list(dict.fromkeys(split_labels(value, self.label_ids)))
        except ImportDataError as exc:
            raise ImportDataError(f"{self.name}, row {row_no}: {exc}") from None
        if not names:
            return names
        if len(names) > 1 and not self.multi:
            raise ImportDataError(
                f"{self.name}, row {row_no}: {len(names)} labels ({', '.join(names)}) "
                "in a single-label project."
            )
        for n in names:
            if n not in self.label_ids:
                if not self.add_labels:
                    raise ImportDataError(
                        f"{self.name}, row {row_no}: label {n!r} is not in the project's "
                        f"labels ({', '.join(self.label_ids) or 'none'}); add it to the labels "
                        "first, or let the import add new labels (the import's \"Add labels\" "
                        "option; on the command line --add-labels)."
                    )
                # add_label extends the cached schema in constant time (no re-read).
                self.label_ids[n] = self.project.add_label(n).id
                self.report.new_labels.append(n)
        return names

    def span_labels(self, spans: Any, row_no: int) -> list[str]:
        names = list(dict.fromkeys(span.label for span in spans))
        for n in names:
            if n not in self.label_ids:
                if not self.add_labels:
                    raise ImportDataError(
                        f"{self.name}, row {row_no}: label {n!r} is not in the project's "
                        f"labels ({', '.join(self.label_ids) or 'none'}); add it first or "
                        "use --add-labels."
                    )
                self.label_ids[n] = self.project.add_label(n).id
                self.report.new_labels.append(n)
        return names

    def chunk(self, rows: list[dict[str, Any]], first_row: int, batch_id: int,
              next_id: int) -> int:
        """Insert one chunk; returns the next free record id."""
        report = self.report
        text_col, id_col, label_col, keep = self.text_col, self.id_col, self.label_col, self.keep
        pending: dict[str, tuple[str, str | None, str | None, list[str] | None, str | None]] = {}
        for offset, row in enumerate(rows):
            try:
                text = row[text_col]
            except KeyError:
                raise ImportDataError(
                    f"{self.name}, row {first_row + offset}: no {text_col!r} field."
                ) from None
            if type(text) is not str:
                text = clean_value(text)
                if text is None:
                    report.empty += 1
                    continue
                text = text if isinstance(text, str) else str(text)
            if not text or text.isspace():
                report.empty += 1
                continue
            h = _hash(text)
            if h in pending:
                report.duplicates += 1
                continue
            ext = row.get(id_col) if id_col else None
            if ext is not None:
                if type(ext) is not str:
                    ext = clean_value(ext)
                    ext = None if ext is None else str(ext)
                if ext == "":
                    ext = None
            meta = None
            if len(row) > len(keep):
                fields = {}
                for k, v in row.items():
                    if k in keep or v is None or v == "":
                        continue
                    fields[k] = v if type(v) is str else clean_value(v)
                if fields:
                    meta = _encode_meta(fields)
            names = self.labels_of(row.get(label_col), first_row + offset) if label_col else None
            spans_json = None
            if self.spans_col and row.get(self.spans_col) is not None:
                spans = row[self.spans_col]
                names = self.span_labels(spans, first_row + offset)
                spans_json = _JSON.encode([[x.start, x.end, x.label] for x in sorted(spans)])
            pending[h] = (text, ext, meta, names, spans_json)
        if not pending:
            return next_id
        existing = {
            r[0]
            for r in self.conn.execute(
                "SELECT hash FROM main.records WHERE hash IN (SELECT value FROM json_each(?))",
                [json.dumps(list(pending))],
            )
        }
        report.duplicates += len(existing)
        inserts = []
        annotated: list[tuple[int, list[str], str | None]] = []
        for h, (text, ext, meta, names, spans_json) in pending.items():
            if h in existing:
                continue
            inserts.append((next_id, ext, text, meta, h, batch_id))
            if names or spans_json is not None:
                annotated.append((next_id, names or [], spans_json))
            next_id += 1
        self.conn.executemany(
            "INSERT INTO main.records(id, external_id, text, meta, hash, batch_id) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            inserts,
        )
        if inserts:
            self.conn.execute(
                "INSERT INTO records_fts(rowid, text) "
                "SELECT id, text FROM main.records WHERE id >= ? AND id < ?",
                (inserts[0][0], next_id),
            )
        report.added += len(inserts)
        if annotated:
            self.annotate(annotated)
            report.labelled += len(annotated)
        return next_id

    def annotate(self, annotated: list[tuple[int, list[str], str | None]]) -> None:
        cur = self.conn.cursor()
        label_rows = []
        for record_id, names, spans_json in annotated:
            ann_id = cur.execute(
                "INSERT INTO main.annotations(record_id, annotator, status, provenance, created_at, "
                "updated_at, spans) VALUES (?, ?, 'labelled', 'imported', ?, ?, ?)",
                (record_id, self.annotator, self.now, self.now, spans_json),
            ).lastrowid
            label_rows.extend((ann_id, self.label_ids[n]) for n in names)
        cur.executemany(
            "INSERT INTO annotation_labels(annotation_id, label_id) VALUES (?, ?)", label_rows
        )

    def begin(self) -> tuple[int, int]:
        """Register the import as pending (its rows stay hidden until :meth:`publish`)."""
        from workbench.core.store import liveness

        conn = self.conn
        for other, owner, beat in conn.execute(
            "SELECT id, owner, heartbeat FROM import_batches WHERE state = 'pending'"
        ).fetchall():
            if liveness.owner_alive(owner, beat):
                raise ImportDataError(
                    f"{self.name}: another import into this project is still running; "
                    "wait for it to finish, then import again."
                )
            liveness.discard_import(self.project, other)
        with self.project.db.atomic():
            first_id = self.project.max_record_id() + 1
            batch_id = conn.execute(
                "INSERT INTO import_batches(source, format, created_at, n_records, state, "
                "first_id, owner, heartbeat) VALUES (?, ?, ?, 0, 'pending', ?, ?, ?)",
                (self.source, self.fmt, self.now, first_id, liveness.owner_tag(), now_iso()),
            ).lastrowid
        return int(batch_id), first_id

    def write_slices(self, rows: list[dict[str, Any]], first_row: int, batch_id: int,
                     next_id: int, should_stop: Callable[[], bool] | None) -> int:
        """Write rows in short transactions (about :data:`SLICE_TARGET_S` each), pausing
        between them so that a waiting writer (a label) gets in. Returns the next free id."""
        pos = 0
        while pos < len(rows):
            if should_stop is not None and should_stop():
                raise Cancelled("Import cancelled; the project is unchanged.")
            n = self.slice_rows
            labels_before = len(self.report.new_labels)
            started = time.monotonic()
            with self.project.db.atomic():
                next_id = self.chunk(rows[pos : pos + n], first_row + pos, batch_id, next_id)
                if len(self.report.new_labels) != labels_before:
                    self.conn.execute(
                        "UPDATE import_batches SET new_labels = ? WHERE id = ?",
                        (json.dumps([self.label_ids[x] for x in self.report.new_labels]),
                         batch_id),
                    )
                if started - self.last_beat > HEARTBEAT_S:
                    self.last_beat = started
                    self.conn.execute(
                        "UPDATE import_batches SET heartbeat = ? WHERE id = ?", (now_iso(), batch_id)
                    )
            took = max(time.monotonic() - started, 1e-4)
            pos += n
            self.slice_rows = int(min(max(n * SLICE_TARGET_S / took, 50), 20_000))
            time.sleep(SLICE_PAUSE_S)
        return next_id

    def publish(self, batch_id: int) -> None:
        """Make the import visible in one short transaction (or drop it if it added nothing)."""
        from workbench.core.store import liveness

        if not self.report.added:  # nothing new: leave no trace
            liveness.discard_import(self.project, batch_id)
            self.report.new_labels.clear()
            return
        with self.project.db.atomic():
            self.conn.execute(
                "UPDATE import_batches SET state = 'done', n_records = ?, owner = NULL, "
                "new_labels = NULL WHERE id = ?",
                (self.report.added, batch_id),
            )

    def run(
        self,
        chunks: Iterable[Any],
        progress: Callable[[ImportProgress], None] | None,
        should_stop: Callable[[], bool] | None,
    ) -> ImportReport:
        from workbench.core.store import liveness

        report, conn = self.report, self.conn
        cancelled = "Import cancelled; the project is unchanged."
        old_cache = conn.execute("PRAGMA cache_size").fetchone()[0]
        conn.execute(f"PRAGMA cache_size = {-_IMPORT_CACHE_KIB}")
        batch_id = None
        first_id = next_id = 0
        try:
            for rows, first_row, fraction in _as_chunks(chunks):
                if should_stop is not None and should_stop():
                    raise Cancelled(cancelled)
                if not rows:
                    continue
                if batch_id is None:  # nothing is written before the columns are known good
                    self.check_columns(rows)
                    batch_id, first_id = self.begin()
                    next_id = first_id
                next_id = self.write_slices(rows, first_row, batch_id, next_id, should_stop)
                report.rows += len(rows)
                if progress is not None:
                    progress(ImportProgress("import", report.rows, read_fraction=fraction))
            if batch_id is None:
                raise ImportDataError(f"{self.name}: the file has no data rows.")
            if should_stop is not None and should_stop():
                raise Cancelled(cancelled)
            self.publish(batch_id)
            if report.added:
                report.batch_id = batch_id
                report.new_ids = list(range(first_id, next_id))
        except BaseException:
            if batch_id is not None:
                try:
                    liveness.discard_import(self.project, batch_id)
                except Exception:  # the next open rolls it back
                    log.exception("could not roll back import batch %s", batch_id)
            raise
        finally:
            self.project.reload_labels()
            conn.execute(f"PRAGMA cache_size = {int(old_cache)}")
        log.info("imported %s: %s", self.name, report.summary())
        return report


def import_rows(
    project: Project,
    chunks: Iterable[dict[str, Any]] | Iterable[tuple[list[dict[str, Any]], int, float | None]],
    *,
    text_col: str,
    id_col: str | None = None,
    label_col: str | None = None,
    source: str = "",
    fmt: str = "",
    add_labels: bool = False,
    annotator: str | None = None,
    progress: Callable[[ImportProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    spans_col: str | None = None,
) -> ImportReport:
    """Import rows (dicts, or chunks from :func:`read_table`) in one transaction.

    Labels in ``label_col`` become annotations by ``annotator`` with provenance
    ``"imported"``; unknown label names are an error unless ``add_labels``. In a span
    project, ``spans_col`` holds each row's checked list of spans (see
    :mod:`workbench.core.spans.span_import`).
    """
    importer = _Importer(
        project,
        text_col=text_col,
        id_col=id_col or None,
        label_col=label_col or None,
        source=source,
        fmt=fmt,
        add_labels=add_labels,
        annotator=annotator or default_annotator(),
        spans_col=spans_col,
    )
    return importer.run(chunks, progress, should_stop)


def add_texts(project: Project, texts: Iterable[str]) -> list[int]:
    """Add plain texts (duplicates skipped); returns the new ids. For tests and scripts."""
    report = import_rows(project, ({"text": t} for t in texts), text_col="text", source="api")
    return report.new_ids


def import_file(
    project: Project,
    path: str | Path,
    *,
    text_col: str = "text",
    id_col: str | None = None,
    label_col: str | None = None,
    fmt: str | None = None,
    encoding: str | None = None,
    add_labels: bool = False,
    annotator: str | None = None,
    progress: Callable[[ImportProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ImportReport:
    """Import a data file into the project in one transaction (all or nothing).

    Plain text files (``txt``) have one record per line and no other columns.
    """
    path = Path(path)
    if not path.exists():
        raise ImportDataError(f"{path}: no such file.")
    if path.is_dir():
        raise ImportDataError(f"{path} is a folder, not a data file.")
    if path.stat().st_size == 0:
        raise ImportDataError(f"{path.name}: the file is empty.")
    fmt = detect_format(path, fmt)
    if fmt == "txt":
        text_col = "text"
        id_col = label_col = None
    chunks = read_table(path, fmt, encoding)
    return import_rows(
        project,
        chunks,
        text_col=text_col,
        id_col=id_col,
        label_col=label_col,
        source=str(path),
        fmt=fmt,
        add_labels=add_labels,
        annotator=annotator,
        progress=progress,
        should_stop=should_stop,
    )
