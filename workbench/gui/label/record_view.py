"""The record being labelled: its text (large, wrapped, any script), metadata and state.

Long texts show a preview of the first :data:`PREVIEW_CHARS` characters with a
"Show all" button, so a 1 MB record never stalls a key press; empty texts show a
placeholder. Paragraph direction follows the text, so Arabic or Hebrew reads right to
left and the widget's scroll bar and alignment follow the first strong character.
"""
from __future__ import annotations

import html
import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QTextOption
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from workbench.core.store.project import Annotation, Record
from workbench.gui.label.span_editor import SpanEditor

if TYPE_CHECKING:
    from workbench.core.assist.suggestions import Suggestion

from workbench.gui.widgets.label_buttons import contrast_color

__all__ = [
    "PREVIEW_CHARS",
    "CommentEdit",
    "InfoPane",
    "scrolled",
    "RecordText",
    "SuggestionLabel",
    "annotation_html",
    "contrast_color",
    "MetaForm",
    "meta_rows",
    "suggestion_text",
    "text_direction",
]

#: Characters shown before "Show all" is needed.
PREVIEW_CHARS = 20_000
#: Metadata values longer than this are cut in the side pane.
_META_VALUE_CHARS = 300


def text_direction(text: str, probe: int = 2000) -> Qt.LayoutDirection:
    """Right-to-left when the first strongly directional character is RTL."""
    for ch in text[:probe]:
        kind = unicodedata.bidirectional(ch)
        if kind == "L":
            return Qt.LayoutDirection.LeftToRight
        if kind in ("R", "AL"):
            return Qt.LayoutDirection.RightToLeft
    return Qt.LayoutDirection.LeftToRight


def _size(n_chars: int) -> str:
    if n_chars >= 1_000_000:
        return f"{n_chars / 1_000_000:.1f} million characters"
    return f"{n_chars:,} characters"


def _setup_editor(editor: QPlainTextEdit) -> None:
    editor.setReadOnly(True)
    editor.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
    editor.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
    editor.setTextInteractionFlags(
        Qt.TextInteractionFlag.TextSelectableByMouse
        | Qt.TextInteractionFlag.TextSelectableByKeyboard
    )
    editor.setPlaceholderText("(this record has no text)")
    editor.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
    editor.document().setDocumentMargin(12)


class RecordText(QWidget):
    """Read-only, wrapped, large text of one record with a "Show all" button for long ones."""

    show_all_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.header = QLabel()
        self.header.setObjectName("recordHeader")
        self.header.setTextFormat(Qt.TextFormat.PlainText)
        self.header.setStyleSheet("color: #666666;")
        # Ignored width: a longer header never triggers a relayout of the window.
        self.header.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.plain_editor = QPlainTextEdit()
        self.plain_editor.setObjectName("recordText")
        self.span_editor = SpanEditor()
        self.editors = QStackedWidget()
        for editor in (self.plain_editor, self.span_editor):
            _setup_editor(editor)
            self.editors.addWidget(editor)
        #: The editor in use: the plain one, or the span editor for spans projects.
        self.editor: QPlainTextEdit = self.plain_editor
        self._shown_id: int | None = None
        self.set_font_size(15)

        self.cut_note = QLabel()
        self.show_all_button = QPushButton("Show all")
        self.show_all_button.setToolTip("Load the whole text (may take a moment for huge records)")
        self.show_all_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.show_all_button.clicked.connect(self.show_all)
        cut_row = QHBoxLayout()
        cut_row.setContentsMargins(0, 0, 0, 0)
        cut_row.addWidget(self.cut_note, 1)
        cut_row.addWidget(self.show_all_button)
        self.cut_bar = QWidget()
        self.cut_bar.setLayout(cut_row)
        self.cut_bar.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.header)
        layout.addWidget(self.editors, 1)
        layout.addWidget(self.cut_bar)
        self._full_text = ""
        self.truncated = False

    def set_font_size(self, points: int) -> None:
        """Set the reading font size (points)."""
        font = QFont(self.editor.font())
        font.setPointSize(max(6, int(points)))
        for editor in (self.plain_editor, self.span_editor):
            editor.setFont(font)

    def set_span_mode(self, on: bool) -> None:
        """Use the span editor (spans projects) or the plain one."""
        editor = self.span_editor if on else self.plain_editor
        if editor is not self.editor:
            self.editor = editor
            self._shown_id = None
            self.editors.setCurrentWidget(editor)

    def set_record(self, record: Record | None, header: str = "") -> None:
        """Show a record (or nothing), cutting very long texts to a preview."""
        # Without a record the body says what the state is (finished, no project), not
        # "(this record has no text)"; the header above it then stays empty.
        self.header.setText(header if record is not None else "")
        self.editor.setPlaceholderText("(this record has no text)" if record is not None else header)
        text = record.text if record is not None else ""
        if record is not None and record.id == self._shown_id and text == self._full_text:
            return  # the same record again (e.g. after an edit): no re-layout
        self._shown_id = record.id if record is not None else None
        self._full_text = text
        self.truncated = len(text) > PREVIEW_CHARS
        shown = text[:PREVIEW_CHARS] if self.truncated else text
        direction = text_direction(shown)
        self.editor.setLayoutDirection(direction)
        self._set_text(shown)
        option = self.editor.document().defaultTextOption()
        option.setTextDirection(direction)
        rtl = direction == Qt.LayoutDirection.RightToLeft
        side = Qt.AlignmentFlag.AlignRight if rtl else Qt.AlignmentFlag.AlignLeft
        option.setAlignment(side | Qt.AlignmentFlag.AlignAbsolute)
        self.editor.document().setDefaultTextOption(option)
        if self.truncated:
            self.cut_note.setText(
                f"Showing the first {PREVIEW_CHARS:,} of {_size(len(text))}."
            )
        self.cut_bar.setVisible(self.truncated)

    def show_all(self) -> None:
        """Load the complete text of a cut record."""
        if not self.truncated:
            return
        self.truncated = False
        self._set_text(self._full_text)
        self.cut_bar.hide()
        self.show_all_requested.emit()

    def _set_text(self, shown: str) -> None:
        if self.editor is self.span_editor:
            self.span_editor.set_text(self._full_text, shown)
        else:
            self.editor.setPlainText(shown)

    def shown_text(self) -> str:
        """The text currently in the editor (the preview for a long record)."""
        return self.editor.toPlainText()


class InfoPane(QTextBrowser):
    """A read-only rich-text pane that skips re-layout when its contents are unchanged."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.setObjectName(name)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setOpenLinks(False)
        self._shown: str | None = None

    def show_html(self, text: str) -> None:
        if text != self._shown:
            self._shown = text
            self.setHtml(text)


def scrolled(widget: QWidget) -> QScrollArea:
    """``widget`` in a scroll area: its size changes never re-lay out the window."""
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setWidget(widget)
    area.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    return area


class CommentEdit(QLineEdit):
    """One-line comment editor: Enter saves, Escape cancels."""

    cancelled = Signal()

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.key() == Qt.Key.Key_Escape:
            self.cancelled.emit()
            return
        super().keyPressEvent(event)


def meta_rows(record: Record | None) -> list[tuple[str, str]]:
    """(name, value) pairs for the details pane: record id, split, then imported columns."""
    if record is None:
        return []
    rows: list[tuple[str, str]] = [("Record", str(record.id))]
    if record.external_id:
        rows.append(("Id", record.external_id))
    rows.append(("Split", record.split))
    rows.append(("Length", f"{len(record.text):,} characters"))
    for key, value in record.meta.items():
        text = value if isinstance(value, str) else repr(value)
        if len(text) > _META_VALUE_CHARS:
            text = text[:_META_VALUE_CHARS] + "…"
        rows.append((str(key), text))
    return rows


class MetaForm(QWidget):
    """The record's details as a form of plain labels.

    Records of one project share their columns, so showing the next record only changes
    the text of the value labels; the form is rebuilt when the columns differ.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._form = QFormLayout(self)
        self._form.setContentsMargins(6, 6, 6, 6)
        self._form.setVerticalSpacing(3)
        self._form.addRow(QLabel("<b>Details</b>"))
        self._keys: list[str] = []
        self.values: list[QLabel] = []

    def set_record(self, record: Record | None) -> None:
        rows = meta_rows(record)
        keys = [k for k, _v in rows]
        if keys != self._keys:
            while self._form.rowCount() > 1:
                self._form.removeRow(1)
            self.values = []
            for key, _value in rows:
                name = QLabel(key)
                name.setTextFormat(Qt.TextFormat.PlainText)
                name.setStyleSheet("color: #666666;")
                value = QLabel()
                value.setTextFormat(Qt.TextFormat.PlainText)
                value.setWordWrap(True)
                value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
                self._form.addRow(name, value)
                self.values.append(value)
            self._keys = keys
        for label, (_key, value) in zip(self.values, rows, strict=True):
            label.setText(value)

    def text(self) -> str:
        """The details as "name: value" lines (for tests and copying)."""
        return "\n".join(f"{k}: {v.text()}" for k, v in zip(self._keys, self.values, strict=True))


def _labels_html(labels: Sequence[str], colors: dict[str, str]) -> str:
    spans = []
    for name in labels:
        bg = colors.get(name, "#888888")
        spans.append(
            f"<span style='background:{bg}; color:{contrast_color(bg)}'>"
            f"&nbsp;{html.escape(name)}&nbsp;</span>"
        )
    return " ".join(spans)


def annotation_html(
    mine: Annotation | None,
    others: Sequence[Annotation],
    colors: dict[str, str],
    pending_comment: str | None = None,
) -> str:
    """One or two lines describing the annotator's own annotation (and others', if shown)."""
    if mine is None:
        parts = ["<b>Not annotated yet.</b>"]
    elif mine.status == "labelled":
        parts = [f"<b>Your label:</b> {_labels_html(mine.labels, colors)}"]
    else:
        parts = [f"<b>{html.escape(mine.status.capitalize())}</b>"]
        if mine.labels:
            parts.append(_labels_html(mine.labels, colors))
    if mine is not None and mine.comment:
        parts.append(f"<i>Comment:</i> {html.escape(mine.comment)}")
    if pending_comment:
        parts.append(
            f"<i>Comment (saved with your label):</i> {html.escape(pending_comment)}"
        )
    lines = ["&nbsp;&nbsp;".join(parts)]
    if others:
        shown = []
        for ann in others:
            what = _labels_html(ann.labels, colors) if ann.labels else html.escape(ann.status)
            shown.append(f"{html.escape(ann.annotator)}: {what}")
        lines.append("<span style='color:gray'>Others:</span> " + "&nbsp;&nbsp;".join(shown))
    return "<br>".join(lines)


def suggestion_text(suggestion: Suggestion) -> str:
    """Plain "Suggested: billing (87%)" for a suggestion."""
    return f"Suggested: {', '.join(suggestion.labels)} ({suggestion.confidence:.0%})"


class SuggestionLabel(QLabel):
    """The model's suggestion for the shown record, quiet grey text; hidden when there is none.

    The suggesting model is the tooltip. ``hint`` (e.g. "Enter accepts") follows the
    suggestion while accepting it is possible.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("suggestion")
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.setStyleSheet("color: #555555;")
        self.suggestion: Suggestion | None = None
        self.hide()

    def set_suggestion(
        self, suggestion: Suggestion | None, colors: dict[str, str], hint: str = ""
    ) -> None:
        """Show a suggestion (``None``: hide)."""
        self.suggestion = suggestion
        if suggestion is None:
            self.hide()
            self.clear()
            self.setToolTip("")
            return
        names = ", ".join(
            f"<span style='color:{colors.get(name, '#888888')}'>&#9632;</span>"
            f"&nbsp;<b>{html.escape(name)}</b>"
            for name in suggestion.labels
        )
        text = f"Suggested: {names} ({suggestion.confidence:.0%})"
        if hint:
            text += f"&nbsp;&nbsp;<span style='color:gray'>{html.escape(hint)}</span>"
        self.setText(text)
        self.setToolTip(f"Suggested by: {html.escape(suggestion.source)}")
        self.show()

    def plain_text(self) -> str:
        """The suggestion as plain text ("" when none is shown)."""
        return "" if self.suggestion is None else suggestion_text(self.suggestion)
