"""Under the run's metrics: what the result means in plain words, and on request the
words that drive each label (explanations summed over the held-out texts)."""
from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from workbench.core.errors import WorkbenchError
from workbench.core.plain_words import what_this_means
from workbench.core.trust.label_words import LabelWordsConfig, label_words_job
from workbench.gui.widgets.workers import JobHandle, run_in_thread

__all__ = ["LabelWordsView"]


class LabelWordsView(QWidget):
    """"What this means" for the selected run, and its top words per label."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project_path: Any = None
        self.run_id: int | None = None
        self.job: JobHandle | None = None
        self.words: dict[str, list[tuple[str, float]]] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.meaning = QLabel("")
        self.meaning.setWordWrap(True)
        self.meaning.setToolTip("Measured on the held-out test texts the model never trained on.")
        layout.addWidget(self.meaning)
        row = QHBoxLayout()
        self.button = QPushButton("Words behind each label")
        self.button.setToolTip("Explain the held-out texts with the exported model and list, per "
                               "label, the words that pushed hardest towards it.")
        self.button.clicked.connect(self.start)
        row.addWidget(self.button)
        row.addStretch(1)
        layout.addLayout(row)
        self.words_label = QLabel("")
        self.words_label.setWordWrap(True)
        self.words_label.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.words_label)

    def show_run(self, project_path: Any, run: dict[str, Any] | None) -> None:
        """Show the plain summary of ``run`` (``None``: nothing selected)."""
        self.project_path = project_path
        self.run_id = int(run["id"]) if run else None
        metrics = (run or {}).get("metrics") or {}
        self.meaning.setText(what_this_means(metrics) if run else "")
        self.words_label.setText("")
        self.button.setEnabled(run is not None and self.job is None)

    def start(self) -> None:
        if self.run_id is None or self.project_path is None or self.job is not None:
            return
        self.button.setEnabled(False)
        self.words_label.setText("Explaining the held-out texts…")
        self.job = run_in_thread(self, label_words_job, str(self.project_path),
                                 LabelWordsConfig(self.run_id), on_done=self._done,
                                 on_failed=self._failed, on_finished=self._finished,
                                 name="label-words")

    def _done(self, words: dict[str, list[tuple[str, float]]]) -> None:
        self.words = words
        lines = [f"<b>{html.escape(label)}</b>: "
                 + (", ".join(html.escape(w) for w, _s in top) or "<i>no text got this label</i>")
                 for label, top in words.items()]
        self.words_label.setText("<br>".join(lines))

    def _failed(self, exc: BaseException) -> None:
        text = str(exc) if isinstance(exc, WorkbenchError) else f"{type(exc).__name__}: {exc}"
        self.words_label.setText(html.escape(text))

    def _finished(self) -> None:
        self.job = None
        self.button.setEnabled(self.run_id is not None)

    def shutdown(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.job.wait(10_000)
