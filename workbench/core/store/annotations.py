"""Annotations in the project store: reading them, writing one, putting an earlier state back.

:class:`AnnotationStoreMixin` is part of :class:`~workbench.core.store.project.Project`; the
user's operations on annotations (with undo) are in :mod:`workbench.core.store.operations`.
"""
from __future__ import annotations

import getpass
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workbench.core.errors import WorkbenchError
from workbench.core.store.clock import now_iso
from workbench.core.store.spans import Span, check_spans, spans_from_json, spans_to_json

if TYPE_CHECKING:
    from workbench.core.store._sqlite_utils import sqlite_utils

__all__ = ["STATUSES", "Annotation", "AnnotationStoreMixin", "default_annotator", "now_iso"]

STATUSES = ("labelled", "skipped", "flagged")


def default_annotator() -> str:
    """The annotator name: ``WORKBENCH_ANNOTATOR`` if set, else the OS user name."""
    env = os.environ.get("WORKBENCH_ANNOTATOR", "").strip()
    if env:
        return env
    try:
        return getpass.getuser() or "annotator"
    except Exception:  # no user name in some containers
        return "annotator"


@dataclass(frozen=True)
class Annotation:
    """One annotator's judgement of one record."""

    id: int
    record_id: int
    annotator: str
    labels: tuple[str, ...]
    status: str
    comment: str | None
    provenance: str
    created_at: str
    updated_at: str
    #: Character spans (span projects; empty for classification). ``labels`` are then
    #: the distinct labels of the spans, in the label schema's order.
    spans: tuple[Span, ...] = ()


class AnnotationStoreMixin:
    """Annotation methods; the host class provides ``db``, ``conn``, ``multi_label``,
    ``is_spans``, ``allow_overlapping_spans``, ``label_names`` and ``label_ids``."""

    db: sqlite_utils.Database
    #: Annotations this object removed (undo, clear): a record may be unannotated again.
    removals: int = 0

    def _annotation_rows(self, where: str, params: Sequence[Any]) -> list[Annotation]:
        rows = self.db.execute(
            "SELECT a.id, a.record_id, a.annotator, a.status, a.comment, a.provenance, "
            "a.created_at, a.updated_at, a.spans, "
            "(SELECT json_group_array(l.name) FROM (SELECT l.name FROM annotation_labels al "
            " JOIN labels l ON l.id = al.label_id WHERE al.annotation_id = a.id "
            " ORDER BY l.position, l.id) l) "
            f"FROM annotations a WHERE {where} ORDER BY a.id",
            list(params),
        ).fetchall()
        return [
            Annotation(
                id=r[0],
                record_id=r[1],
                annotator=r[2],
                labels=tuple(json.loads(r[9]) if r[9] else ()),
                status=r[3],
                comment=r[4],
                provenance=r[5],
                created_at=r[6],
                updated_at=r[7],
                spans=spans_from_json(r[8]),
            )
            for r in rows
        ]

    def get_annotation(self, record_id: int, annotator: str | None = None) -> Annotation | None:
        annotator = annotator or default_annotator()
        found = self._annotation_rows("a.record_id = ? AND a.annotator = ?", [record_id, annotator])
        return found[0] if found else None

    def annotations_for(self, record_id: int) -> list[Annotation]:
        """Every annotator's annotation of a record."""
        return self._annotation_rows("a.record_id = ?", [record_id])

    def annotate(
        self,
        record_id: int,
        labels: Sequence[str] = (),
        *,
        annotator: str | None = None,
        status: str = "labelled",
        comment: str | None = None,
        provenance: str = "manual",
        spans: Sequence[Span] | None = None,
    ) -> Annotation:
        """Create or replace one annotator's annotation of a record; committed on return.

        In a span project ``spans`` are the record's entities (checked against its text, the
        labels and the overlap setting) and ``labels`` is ignored: the annotation's labels
        are the distinct labels of the spans, and a record may be labelled with no span.
        """
        annotator = annotator or default_annotator()
        if status not in STATUSES:
            raise WorkbenchError(f"Unknown status {status!r}.")
        spans_json: str | None = None
        if self.is_spans:
            if spans is None and list(labels):
                raise WorkbenchError("This is a span project: label spans of the text "
                                     "(start, end, label), not whole records.")
            span_list = sorted(set(spans or ()))
            text_row = self.db.execute("SELECT text FROM records WHERE id = ?",
                                       [record_id]).fetchone()
            if text_row is None:
                raise WorkbenchError(f"Record {record_id} does not exist.")
            check_spans(text_row[0], span_list, self.label_names(),
                        self.allow_overlapping_spans)
            used = {s.label for s in span_list}
            labels = [name for name in self.label_names() if name in used]
            spans_json = spans_to_json(span_list)
        else:
            if spans:
                raise WorkbenchError("Spans can only be given in a span project.")
            labels = list(dict.fromkeys(labels))
            if status == "labelled" and not labels:
                raise WorkbenchError("A labelled record needs at least one label.")
            if len(labels) > 1 and not self.multi_label:
                raise WorkbenchError("This is a single-label project: give exactly one label.")
        label_ids = self.label_ids(labels)
        now = now_iso()
        with self.db.atomic():
            exists = self.db.execute("SELECT 1 FROM records WHERE id = ?", [record_id]).fetchone()
            if exists is None:
                raise WorkbenchError(f"Record {record_id} does not exist.")
            self.db.execute(
                "INSERT INTO main.annotations(record_id, annotator, status, comment, provenance, "
                "created_at, updated_at, spans) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(record_id, annotator) DO UPDATE SET status = excluded.status, "
                "comment = excluded.comment, provenance = excluded.provenance, "
                "updated_at = excluded.updated_at, spans = excluded.spans",
                [record_id, annotator, status, comment, provenance, now, now, spans_json],
            )
            ann_id = self.db.execute(
                "SELECT id FROM annotations WHERE record_id = ? AND annotator = ?",
                [record_id, annotator],
            ).fetchone()[0]
            self.db.execute("DELETE FROM annotation_labels WHERE annotation_id = ?", [ann_id])
            self.conn.executemany(
                "INSERT INTO annotation_labels(annotation_id, label_id) VALUES (?, ?)",
                [(ann_id, lid) for lid in label_ids],
            )
        result = self.get_annotation(record_id, annotator)
        assert result is not None
        return result

    def restore_annotation(self, record_id: int, annotator: str,
                           previous: Annotation | None) -> None:
        """Put back an earlier state of one annotation (``None``: no annotation). For undo."""
        if previous is None:
            with self.db.atomic():
                self.db.execute(
                    "DELETE FROM main.annotations WHERE record_id = ? AND annotator = ?",
                    [record_id, annotator],
                )
            # Records can become unannotated again: queues that remember how far an
            # annotator got compare this count (see workbench.core.assist.queue).
            self.removals += 1
            return
        self.annotate(
            record_id,
            previous.labels,
            annotator=annotator,
            status=previous.status,
            comment=previous.comment,
            provenance=previous.provenance,
            spans=previous.spans,
        )
        with self.db.atomic():
            self.db.execute(
                "UPDATE main.annotations SET created_at = ?, updated_at = ? "
                "WHERE record_id = ? AND annotator = ?",
                [previous.created_at, previous.updated_at, record_id, annotator],
            )

    def delete_annotation(self, record_id: int, annotator: str | None = None) -> None:
        self.restore_annotation(record_id, annotator or default_annotator(), None)

    def annotators(self) -> list[str]:
        return [
            r[0]
            for r in self.db.execute(
                "SELECT DISTINCT annotator FROM annotations ORDER BY annotator"
            )
        ]

    def labelled_examples(self) -> list[tuple[int, str, list[str], str]]:
        """(record id, text, labels, split) for every record with a labelled annotation.

        With several annotators, a record's labels are resolved by majority over the
        annotators (see :func:`workbench.core.store.snapshot.resolve_labels` for the full rule).
        """
        from workbench.core.store.snapshot import resolve_labels

        return resolve_labels(self).examples

    # ----------------------------------------------------------------- queue
    def unlabelled_ids(self, annotator: str | None = None, limit: int = 100,
                       after_id: int = 0) -> list[int]:
        """Ids of records this annotator has not annotated yet, in import order."""
        annotator = annotator or default_annotator()
        rows = self.db.execute(
            "SELECT r.id FROM records r WHERE r.id > ? AND NOT EXISTS ("
            " SELECT 1 FROM annotations a WHERE a.record_id = r.id AND a.annotator = ?) "
            "ORDER BY r.id LIMIT ?",
            [after_id, annotator, limit],
        ).fetchall()
        return [r[0] for r in rows]
