"""Coloured character spans over a ``QPlainTextEdit``: shared by the Label and Inference tabs.

Spans are character offsets into a Python string (code points). Qt positions count UTF-16
units and turn ``"\\r\\n"`` into one paragraph break, so :class:`OffsetMap` converts both
ways; for the usual text (no characters outside the BMP, no ``"\\r\\n"``) it is the
identity and costs nothing.

Backgrounds are ``ExtraSelection`` s (a repaint, never a re-layout of the document);
outlines (solid for spans, dashed for suggestions) are painted only for the visible blocks
by :func:`paint_outlines`, so a 1 MB record stays responsive.
"""
from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from PySide6.QtCore import QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QPlainTextEdit, QTextEdit

from workbench.core.store.label_schema import PALETTE

__all__ = [
    "OffsetMap",
    "SpanLike",
    "containers",
    "label_color",
    "paint_outlines",
    "span_rects",
    "span_selections",
    "overlap_depths",
]

#: Characters that shift Qt positions against Python offsets.
_SHIFTS = re.compile("[\U00010000-\U0010ffff]|\r\n")


class SpanLike(Protocol):
    start: int
    end: int
    label: str


def label_color(name: str, colors: Mapping[str, str]) -> QColor:
    """The label's colour, or a stable palette colour for a label the project lacks."""
    code = colors.get(name)
    if code is None:
        code = PALETTE[sum(map(ord, name)) % len(PALETTE)]
    return QColor(code)


class OffsetMap:
    """Python string offsets <-> positions in a ``QTextDocument`` holding the same text."""

    def __init__(self, text: str) -> None:
        self._text_at: list[int] = []  # python offsets after which the shift changes
        self._shift: list[int] = []  # cumulative doc - text shift from that offset on
        self._doc_at: list[int] = []
        shift = 0
        for match in _SHIFTS.finditer(text):
            shift += 1 if match.group() != "\r\n" else -1
            after = match.end()
            self._text_at.append(after)
            self._shift.append(shift)
            self._doc_at.append(after + shift)

    @property
    def identity(self) -> bool:
        return not self._text_at

    def to_doc(self, offset: int) -> int:
        i = bisect_right(self._text_at, offset)
        return offset + (self._shift[i - 1] if i else 0)

    def to_text(self, position: int) -> int:
        i = bisect_right(self._doc_at, position)
        return position - (self._shift[i - 1] if i else 0)


def overlap_depths(spans: Sequence[SpanLike]) -> list[int]:
    """How deep each span sits inside earlier overlapping ones (0: overlaps none before it)."""
    depths: list[int] = []
    for i, span in enumerate(spans):
        depth = 0
        for j in range(i):
            other = spans[j]
            if other.start < span.end and span.start < other.end:
                depth = max(depth, depths[j] + 1)
        depths.append(min(depth, 3))
    return depths


def containers(spans: Sequence[SpanLike]) -> list[bool]:
    """For each span, whether it holds another whole span (nested entities): such an outer
    span is drawn as a bar under its text instead of a background, so the inner ones keep
    their own colours."""
    out = []
    for i, span in enumerate(spans):
        out.append(any(j != i and span.start <= o.start and o.end <= span.end
                       and (o.start, o.end) != (span.start, span.end)
                       for j, o in enumerate(spans)))
    return out


def span_selections(
    editor: QPlainTextEdit,
    spans: Iterable[SpanLike],
    colors: Mapping[str, str],
    offsets: OffsetMap,
    limit: int,
    alpha: int = 110,
) -> list[QTextEdit.ExtraSelection]:
    """One translucent background per span that starts within the first ``limit`` characters;
    longer spans first so a nested one stays visible on top."""
    doc = editor.document()
    selections = []
    for span in sorted(spans, key=lambda s: (s.start - s.end, s.start)):
        if span.start >= limit:
            continue
        color = label_color(span.label, colors)
        color.setAlpha(alpha)
        fmt = QTextCharFormat()
        fmt.setBackground(color)
        fmt.setToolTip(span.label)
        cursor = QTextCursor(doc)
        cursor.setPosition(offsets.to_doc(span.start))
        cursor.setPosition(offsets.to_doc(min(span.end, limit)), QTextCursor.MoveMode.KeepAnchor)
        sel = QTextEdit.ExtraSelection()
        sel.cursor = cursor
        sel.format = fmt
        selections.append(sel)
    return selections


def span_rects(editor: QPlainTextEdit, start: int, end: int) -> list[QRectF]:
    """Viewport rectangles covering document positions ``start``..``end`` (one per line),
    only for blocks that are currently visible."""
    doc = editor.document()
    rects: list[QRectF] = []
    if end <= start:
        return rects
    offset = editor.contentOffset()
    bottom = editor.viewport().height()
    first = editor.firstVisibleBlock()
    block = doc.findBlock(start)
    if block.blockNumber() < first.blockNumber():
        block = first
    while block.isValid() and block.position() <= end:
        geometry = editor.blockBoundingGeometry(block).translated(offset)
        if geometry.top() > bottom:
            break
        layout = block.layout()
        b_start = block.position()
        lo, hi = max(start, b_start) - b_start, min(end, b_start + block.length() - 1) - b_start
        if hi > lo and layout is not None:
            for n in range(layout.lineCount()):
                line = layout.lineAt(n)
                l_lo = max(lo, line.textStart())
                l_hi = min(hi, line.textStart() + line.textLength())
                if l_hi <= l_lo:
                    continue
                x1, _ = line.cursorToX(l_lo)
                x2, _ = line.cursorToX(l_hi)
                rect = line.rect()
                left, right = min(x1, x2), max(x1, x2)
                rects.append(QRectF(left, rect.top(), right - left, rect.height())
                             .translated(geometry.topLeft()))
        block = block.next()
    return rects


def paint_outlines(
    editor: QPlainTextEdit,
    spans: Sequence[SpanLike],
    colors: Mapping[str, str],
    offsets: OffsetMap,
    *,
    dashed: bool = False,
    width: float = 1.0,
    depths: Sequence[int] | None = None,
    bars: Sequence[bool] | None = None,
) -> None:
    """Outline the visible parts of ``spans`` on the editor's viewport (call in paintEvent);
    where ``bars`` is true, a thick bar under the text instead."""
    if not spans:
        return
    first = editor.firstVisibleBlock().position()
    bottom = editor.cursorForPosition(QPoint(0, editor.viewport().height())).block()
    last = bottom.position() + bottom.length()
    painter = QPainter(editor.viewport())
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    try:
        for i, span in enumerate(spans):
            d_start, d_end = offsets.to_doc(span.start), offsets.to_doc(span.end)
            if d_end < first or d_start > last:
                continue
            pen = QPen(label_color(span.label, colors), width)
            if dashed:
                pen.setStyle(Qt.PenStyle.DashLine)
            painter.setPen(pen)
            inset = 2.0 * (depths[i] if depths else 0)
            bar = bool(bars and bars[i])
            if bar:
                pen.setWidthF(3.0)
                painter.setPen(pen)
            for rect in span_rects(editor, d_start, d_end):
                if bar:
                    y = rect.bottom() - 1.5
                    painter.drawLine(QPointF(rect.left(), y), QPointF(rect.right(), y))
                else:
                    painter.drawRect(rect.adjusted(-1 + inset, inset, 1 - inset, -inset))
    finally:
        painter.end()
