"""Highlight, in the record text, the words that drove the model's suggestion.

When a trained run suggests and its bundle was exported (the default export folder), the
words are weighed by leaving each out (``core/deploy/explain.py``: one pass of the
bundle's explainer graph, in a worker thread) a moment after the record is shown, so quick labelling is never slowed, and tinted in the text view:
green towards the suggested label, red away from it. The cold-start model has no bundle
and gets no highlights.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QColor, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QPlainTextEdit, QTextEdit

from workbench.core.errors import WorkbenchError

__all__ = ["SuggestionExplainer", "DELAY_MS"]

log = logging.getLogger(__name__)

#: Pause after a record is shown before its words are weighed.
DELAY_MS = 250
_MAX_WORDS = 150


class SuggestionExplainer(QObject):
    """Weighs the shown record's words for its suggestion and tints them in ``editor``."""

    def __init__(self, editor: QPlainTextEdit, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.editor = editor
        self._predictors: dict[Path, Any] = {}
        self._pending: tuple[Path, str, str] | None = None
        self.spans: list[dict[str, Any]] = []
        self.job: Any = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DELAY_MS)
        self._timer.timeout.connect(self.run_now)

    def schedule(self, project: Any, run_id: int | None, text: str | None, labels: tuple[str, ...]) -> None:
        """Clear the tints; weigh ``text`` for ``labels[0]`` after :data:`DELAY_MS`."""
        self._timer.stop()
        self._pending = None
        self.spans = []
        self.editor.setExtraSelections([])
        if project is None or run_id is None or not text or not labels:
            return
        from workbench.core.deploy.project_data import default_export_dir

        folder = default_export_dir(project.path, run_id)
        if not (folder / "bundle.json").is_file() or len(text.split()) > _MAX_WORDS:
            return
        self._pending = (folder, text, labels[0])
        self._timer.start()

    def run_now(self) -> None:
        """Weigh the pending record's words (in a worker thread); :meth:`apply` tints them."""
        if self._pending is None:
            return
        folder, text, label = self._pending
        self._pending = None
        from workbench.core.deploy.explain import explain_job
        from workbench.core.deploy.inference import Predictor
        from workbench.gui.widgets.workers import run_in_thread

        try:
            predictor = self._predictors.get(folder) or Predictor.load(folder)
        except (WorkbenchError, OSError) as exc:
            log.warning("No word highlights: %s", exc)
            return
        self._predictors = {folder: predictor}
        if label not in predictor.labels:
            return
        self.job = run_in_thread(self, explain_job, predictor, text, label, on_done=self.apply,
                                 name="explain-suggestion")

    def apply(self, answer: tuple[str, str, list[dict[str, Any]]]) -> None:
        """Tint the words of an explanation, if its record is still the one shown."""
        text, label, spans = answer
        if self.editor.toPlainText() != text:
            return
        self.spans = spans
        strongest = max((abs(e["weight"]) for e in self.spans), default=0.0) or 1.0
        selections = []
        for e in self.spans:
            share = abs(e["weight"]) / strongest
            if share < 0.15:
                continue
            colour = QColor(46, 160, 67) if e["weight"] > 0 else QColor(207, 34, 46)
            colour.setAlphaF(0.15 + 0.5 * share)
            selection = QTextEdit.ExtraSelection()
            fmt = QTextCharFormat()
            fmt.setBackground(colour)
            fmt.setToolTip(f"{'towards' if e['weight'] > 0 else 'away from'} {label}: "
                           f"{100 * e['weight']:+.0f} points")
            selection.format = fmt
            cursor = QTextCursor(self.editor.document())
            cursor.setPosition(e["start"])
            cursor.setPosition(e["end"], QTextCursor.MoveMode.KeepAnchor)
            selection.cursor = cursor
            selections.append(selection)
        self.editor.setExtraSelections(selections)

    def shutdown(self) -> None:
        """Wait for a running explanation (on quit)."""
        if self.job is not None:
            self.job.cancel()
            self.job.wait(10_000)
