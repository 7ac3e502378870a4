"""The span labelling editor: a record's text with its entity spans in their labels' colours.

Select with the mouse (the selection snaps to word boundaries when the button is released)
or with the keyboard (Ctrl+Left / Ctrl+Right move by word, Shift extends), then press a
label's key (the Label panel turns that into a core operation). The caret on a span makes
it the *current* span, outlined more thickly: a label key relabels it, Delete removes it.
Model suggestions are outlined with dashes.

Nothing here re-lays out the document after the text is set: spans are extra selections
and outlines painted for the visible lines only, so a 1 MB record stays responsive.
Offsets are Python string offsets (see :class:`~workbench.gui.widgets.span_highlight.OffsetMap`),
also in right-to-left scripts.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QSizePolicy,
    QToolButton,
    QWidget,
)

from workbench.core.store.spans import Span, snap_to_words
from workbench.gui.widgets.span_highlight import (
    OffsetMap,
    containers,
    overlap_depths,
    paint_outlines,
    span_selections,
)

__all__ = ["SpanBar", "SpanEditor", "trimmed"]


def trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    """``start``..``end`` without the white space at either end."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


class SpanEditor(QPlainTextEdit):
    """Read-only text showing spans (solid) and suggestions (dashed) in label colours."""

    #: The caret moved onto another span (or off every span): the span or None.
    current_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("spanText")
        self.text = ""  # the whole record text (the editor may show only a prefix)
        self.shown = 0  # characters of it in the editor
        self.offsets = OffsetMap("")
        self.spans: list[Span] = []
        self.suggestions: list[tuple[Span, float]] = []
        self.colors: dict[str, str] = {}
        self.current: Span | None = None
        self._suggestion: Span | None = None  # the suggestion under the caret
        self.depths: list[int] = []
        self.outer: list[bool] = []  # nested: holds another span (a bar, no background)
        self.cursorPositionChanged.connect(self._caret_moved)
        self.selectionChanged.connect(self.viewport().update)

    # ----------------------------------------------------------------- content
    def set_text(self, text: str, shown: str) -> None:
        """Show ``shown`` (a prefix of ``text``); the only call that lays out the text."""
        self.text = text
        self.shown = len(shown)
        self.offsets = OffsetMap(shown)
        self.spans, self.suggestions, self.current = [], [], None
        self.setExtraSelections([])
        self.setPlainText(shown)

    def set_spans(self, spans: Sequence[Span], suggestions: Sequence[tuple[Span, float]] = (),
                  colors: Mapping[str, str] | None = None) -> None:
        """Show spans and suggestions (a repaint, no re-layout); the caret stays."""
        if colors is not None:
            self.colors = dict(colors)
        self.spans = sorted(spans)
        self.depths = overlap_depths(self.spans)
        self.outer = containers(self.spans)
        self.suggestions = [(s, float(p)) for s, p in suggestions]
        filled = [s for s, outer in zip(self.spans, self.outer, strict=True) if not outer]
        self.setExtraSelections(
            span_selections(self, filled, self.colors, self.offsets, self.shown))
        self._caret_moved()
        self.viewport().update()

    # ----------------------------------------------------------------- positions
    def caret(self) -> int:
        """The caret as an offset into the record text."""
        return self.offsets.to_text(self.textCursor().position())

    def selected_range(self) -> tuple[int, int] | None:
        """The selection as record-text offsets (start < end), or None."""
        cursor = self.textCursor()
        if not cursor.hasSelection():
            return None
        start = self.offsets.to_text(cursor.selectionStart())
        end = self.offsets.to_text(cursor.selectionEnd())
        return (start, end) if end > start else None

    def select_range(self, start: int, end: int) -> None:
        """Select record-text offsets ``start``..``end`` (caret at ``end``)."""
        cursor = QTextCursor(self.document())
        cursor.setPosition(self.offsets.to_doc(start))
        cursor.setPosition(self.offsets.to_doc(end), QTextCursor.MoveMode.KeepAnchor)
        self.setTextCursor(cursor)

    def set_caret(self, offset: int) -> None:
        cursor = QTextCursor(self.document())
        cursor.setPosition(self.offsets.to_doc(min(offset, self.shown)))
        self.setTextCursor(cursor)

    def snapped(self, start: int, end: int) -> tuple[int, int]:
        """A selection trimmed of white space and extended to whole words."""
        start, end = trimmed(self.text, start, end)
        if end <= start:
            return start, end
        return snap_to_words(self.text, start, end)

    def word_at_caret(self) -> tuple[int, int] | None:
        """The word under (or just before) the caret, or None between words."""
        pos = self.caret()
        text = self.text
        if pos < len(text) and text[pos].isalnum():
            return snap_to_words(text, pos, pos + 1)
        if pos > 0 and text[pos - 1].isalnum():
            return snap_to_words(text, pos - 1, pos)
        return None

    def _containing(self, items: Sequence[Span], pos: int) -> Span | None:
        # The shortest span holding the caret (a nested span wins over its outer one).
        found = [s for s in items if s.start <= pos < s.end or (pos == s.end > s.start)]
        inside = [s for s in found if s.start <= pos < s.end] or found
        return min(inside, key=lambda s: s.end - s.start) if inside else None

    def span_at_caret(self) -> Span | None:
        return self._containing(self.spans, self.caret())

    def suggestion_at_caret(self) -> Span | None:
        return self._containing([s for s, _p in self.suggestions], self.caret())

    # ----------------------------------------------------------------- events
    def _caret_moved(self) -> None:
        selecting = self.textCursor().hasSelection()
        span = None if selecting else self.span_at_caret()
        suggestion = None if selecting or span is not None else self.suggestion_at_caret()
        if span != self.current or suggestion != self._suggestion:
            self.current, self._suggestion = span, suggestion
            self.current_changed.emit(span)
            self.viewport().update()

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().mouseReleaseEvent(event)
        if event.button() != Qt.MouseButton.LeftButton:
            return
        found = self.selected_range()
        if found is None:
            return
        start, end = self.snapped(*found)
        if end > start and (start, end) != found:
            self.select_range(start, end)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().paintEvent(event)
        keep = [i for i, s in enumerate(self.spans) if s.start < self.shown]
        paint_outlines(self, [self.spans[i] for i in keep], self.colors, self.offsets,
                       depths=[self.depths[i] for i in keep],
                       bars=[self.outer[i] for i in keep])
        paint_outlines(self, [s for s, _p in self.suggestions if s.start < self.shown],
                       self.colors, self.offsets, dashed=True, width=2.0)
        if self.current is not None:
            paint_outlines(self, [self.current], self.colors, self.offsets, width=2.5)


class SpanBar(QWidget):
    """Under the text of a spans record: what the caret is on, every-occurrence, overlaps."""

    overlap_toggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.info = QLabel()
        self.info.setObjectName("spanInfo")
        self.info.setTextFormat(Qt.TextFormat.PlainText)
        self.info.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.every_button = QToolButton()
        self.every_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.every_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.overlap_box = QCheckBox("Allow overlapping spans")
        self.overlap_box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.overlap_box.setToolTip(
            "Per project: whether spans may overlap or nest (off: an overlapping span is refused)")
        self.overlap_box.clicked.connect(self.overlap_toggled)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.info, 1)
        row.addWidget(self.every_button)
        row.addWidget(self.overlap_box)

    def show_current(self, span: Span | None, text: str, suggestion: Span | None = None) -> None:
        """Describe the span under the caret (or say what the keys do)."""
        if span is not None:
            words = text[span.start:span.end]
            words = words if len(words) <= 60 else words[:57] + "…"
            # LRM first and the words isolated: a right-to-left word keeps the line in order.
            self.info.setText(f"\u200e“\u2068{words}\u2069” is {span.label} "
                              f"({span.start}–{span.end}): a label key changes it, "
                              "Delete removes it.")
        elif suggestion is not None:
            self.info.setText(f"Suggested {suggestion.label} ({suggestion.start}–"
                              f"{suggestion.end}): Enter accepts it.")
        else:
            self.info.setText("Select words (mouse, or Shift+Ctrl+Arrow), then press a "
                              "label's key. Enter: accept suggestions, then done.")
