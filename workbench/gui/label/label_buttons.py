"""One button per label, showing its shortcut, colour and count; guidelines as tooltips.

Also the labelling page that holds them: the record text, its state and suggestion, the
buttons and the side panes (details, progress, guidelines).
"""
from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPixmap
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from workbench.core.store.project import Label
from workbench.gui.label.record_view import (
    CommentEdit,
    InfoPane,
    MetaForm,
    RecordText,
    SuggestionLabel,
    scrolled,
)
from workbench.gui.label.span_editor import SpanBar
from workbench.gui.widgets.label_buttons import LabelButtons, shortcut_text

if TYPE_CHECKING:
    from workbench.core.assist.suggestions import Suggestion

__all__ = [
    "CountsView",
    "LabelPage",
    "guidelines_html",
    "keys_help",
    "save_action_texts",
]

def _swatch(color: str, size: int) -> QPixmap:
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(color))
    return pixmap


class CountsView(QWidget):
    """The annotator's progress: labelled / skipped / flagged and one line per label.

    Built once per label schema; a key press only changes the text of a few plain labels.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(6, 6, 6, 6)
        self._grid.setHorizontalSpacing(8)
        self._grid.setVerticalSpacing(3)
        self.title = QLabel("<b>Your progress</b>")
        self.summary = QLabel()
        self.summary.setObjectName("progressSummary")
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.summary.setMinimumHeight(2 * self.fontMetrics().lineSpacing() + 4)
        #: Which model suggests labels (a grey line under the per-label counts).
        self.suggester = QLabel()
        self.suggester.setObjectName("suggester")
        self.suggester.setTextFormat(Qt.TextFormat.PlainText)
        self.suggester.setWordWrap(True)
        self.suggester.setStyleSheet("color: #666666;")
        # Room for two lines: a word-wrapped label alone would not grow the scrolled pane.
        self.suggester.setMinimumHeight(2 * self.fontMetrics().lineSpacing() + 2)
        self.numbers: dict[str, QLabel] = {}
        self._rows: list[QWidget] = []

    def set_labels(self, labels: Sequence[Label]) -> None:
        """Rebuild the rows for a label schema."""
        for widget in self._rows:
            self._grid.removeWidget(widget)
            widget.deleteLater()
        self._grid.removeWidget(self.title)
        self._grid.removeWidget(self.summary)
        self._grid.removeWidget(self.suggester)
        self._rows, self.numbers = [], {}
        self._grid.addWidget(self.title, 0, 0, 1, 3)
        self._grid.addWidget(self.summary, 1, 0, 1, 3)
        size = self.fontMetrics().height() - 4
        for row, label in enumerate(labels, start=2):
            swatch = QLabel()
            swatch.setPixmap(_swatch(label.color, size))
            name = QLabel(label.name)
            name.setTextFormat(Qt.TextFormat.PlainText)
            number = QLabel("0")
            number.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            number.setMinimumWidth(self.fontMetrics().horizontalAdvance("0000000"))
            self._grid.addWidget(swatch, row, 0)
            self._grid.addWidget(name, row, 1)
            self._grid.addWidget(number, row, 2)
            self._rows += [swatch, name, number]
            self.numbers[label.name] = number
        self._grid.addWidget(self.suggester, len(labels) + 2, 0, 1, 3)
        self._grid.setColumnStretch(1, 1)
        for row in range(self._grid.rowCount()):
            self._grid.setRowStretch(row, 0)
        self._grid.setRowStretch(len(labels) + 3, 1)  # keep the rows at the top

    def set_counts(
        self, labelled: int, total: int, skipped: int, flagged: int, by_label: Mapping[str, int]
    ) -> None:
        """Show new counts (plain-text labels: cheap to update on every key press)."""
        self.summary.setText(
            f"Labelled {labelled:,} of {total:,}\nSkipped {skipped:,} · flagged {flagged:,}"
        )
        for name, number in self.numbers.items():
            number.setText(f"{by_label.get(name, 0):,}")


def keys_help(labels: Sequence[Label], multi: bool) -> list[tuple[str, str]]:
    """(key, what it does) rows of the Label panel for the help pane."""
    keys = [(shortcut_text(lab.shortcut), f"label {lab.name}") for lab in labels if lab.shortcut]
    if multi:
        keys.append(("Enter", "save the chosen labels and move on; with none chosen, "
                              "accept the suggested labels"))
    else:
        keys.append(("Enter", "accept the suggested label (outlined) and move on"))
    keys += [
        ("S", "skip (saved as skipped)"), ("F", "flag for review"),
        ("Ctrl+M", "comment"), ("Alt+Left / PgUp", "back"),
        ("Alt+Right / PgDn", "forward"), ("Ctrl+Z", "undo"),
        ("Ctrl+Shift+Z", "redo"), ("Ctrl+F", "search the records table"),
    ]
    return keys


def save_action_texts(multi: bool, spans: bool = False) -> tuple[str, str]:
    """(text, tooltip) of the Enter action: save the chosen labels or accept a suggestion."""
    if spans:
        return "Accept / done", ("Accept the suggested spans (dashed); with none left, done "
                                 "with this record: move on")
    if multi:
        return "Save", ("Save the chosen labels and move on; with none chosen, accept the "
                        "suggested labels")
    return "Accept suggestion", "Save the model's suggested label and move on"


def guidelines_html(labels: Sequence[Label], keys: Sequence[tuple[str, str]] = ()) -> str:
    """The help pane: every label with its key, colour and guideline, then other keys."""
    parts = ["<h3>Labels</h3>"]
    if not labels:
        parts.append("<p>This project has no labels yet: add some in the label editor.</p>")
    for label in labels:
        key = shortcut_text(label.shortcut)
        swatch = f"<span style='background:{label.color}'>&nbsp;&nbsp;&nbsp;</span>"
        head = f"{swatch} <b>{html.escape(label.name)}</b>"
        if key:
            head += f" &nbsp;<code>{html.escape(key)}</code>"
        body = html.escape(label.guideline).replace("\n", "<br>") if label.guideline else (
            "<span style='color:gray'>No guideline yet.</span>"
        )
        parts.append(f"<p>{head}<br>{body}</p>")
    if keys:
        parts.append("<h3>Keys</h3><table>")
        for key, what in keys:
            parts.append(
                f"<tr><td><code>{html.escape(key)}</code>&nbsp;&nbsp;</td>"
                f"<td>{html.escape(what)}</td></tr>"
            )
        parts.append("</table>")
    return "".join(parts)


class LabelPage(QWidget):
    """The labelling page's widgets and layout (the Label panel gives them behaviour).

    Text on the left with the annotation state and the model's suggestion under it, then
    the label buttons and action buttons; details, progress and guidelines on the right.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.record_text = RecordText()
        self.annotation_label = QLabel()
        self.annotation_label.setObjectName("annotationState")
        self.annotation_label.setWordWrap(True)
        self.annotation_label.setTextFormat(Qt.TextFormat.RichText)
        lines = self.annotation_label.fontMetrics().lineSpacing()
        self.annotation_label.setFixedHeight(2 * lines + 6)
        self.annotation_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.suggestion_label = SuggestionLabel()
        self.suggestion_label.setFixedHeight(2 * lines + 6)
        state_row = QHBoxLayout()
        state_row.setContentsMargins(0, 0, 0, 0)
        state_row.addWidget(self.annotation_label, 1)
        state_row.addWidget(self.suggestion_label)
        #: Spans projects: the span under the caret, every-occurrence, overlaps.
        self.span_bar = SpanBar()
        self.span_bar.hide()
        self.comment_edit = CommentEdit()
        self.comment_edit.setPlaceholderText("Comment on this record — Enter saves, Esc cancels")
        self.comment_edit.hide()
        self.label_buttons = LabelButtons()
        self.skip_button = QToolButton()
        self.flag_button = QToolButton()
        self.comment_button = QToolButton()
        self.save_button = QToolButton()
        self.help_button = QToolButton()
        actions_row = QHBoxLayout()
        for button in (self.skip_button, self.flag_button, self.comment_button,
                       self.save_button):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            actions_row.addWidget(button)
        actions_row.addStretch(1)
        self.help_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        actions_row.addWidget(self.help_button)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.record_text, 1)
        left_layout.addWidget(self.span_bar)
        left_layout.addLayout(state_row)
        left_layout.addWidget(self.comment_edit)
        left_layout.addWidget(self.label_buttons)
        left_layout.addLayout(actions_row)

        # Rich-text browsers rather than labels: new contents never change the layout, so
        # a key press repaints only what changed instead of the whole window.
        self.meta_form = MetaForm()
        self.counts_view = CountsView()
        self.help_view = InfoPane("guidelines")
        side = QSplitter(Qt.Orientation.Vertical)
        side.addWidget(scrolled(self.meta_form))
        side.addWidget(scrolled(self.counts_view))
        side.addWidget(self.help_view)
        side.setSizes([190, 210, 300])

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(side)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        page_layout = QVBoxLayout(self)
        page_layout.setContentsMargins(0, 0, 0, 0)
        page_layout.addWidget(self.splitter)

    def show_suggestion(
        self, suggestion: Suggestion | None, colors: dict[str, str], can_accept: bool
    ) -> None:
        """Show the model's suggestion (``None``: none) and outline its label buttons."""
        if suggestion is None:
            self.suggestion_label.set_suggestion(None, colors)
            self.label_buttons.set_suggested(())
            return
        hint = "Enter accepts" if can_accept else ""
        self.suggestion_label.set_suggestion(suggestion, colors, hint)
        note = f"Suggested ({suggestion.confidence:.0%})" + (f" — {hint}" if hint else "")
        self.label_buttons.set_suggested(suggestion.labels, note)
