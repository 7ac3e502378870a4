"""Integrated gradients in the Inference tab: the run behind the open bundle, explained on
its PyTorch model (``core/training/integrated_gradients.py``, optional captum).

The bundle's own explanation (leave-one-word-out, ``explain.py``) shows as the text is typed;
this is a second opinion a user asks for with a button, computed in a worker thread. It is
offered when the bundle's run belongs to the open project and its model folder is there.
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from workbench.core.errors import WorkbenchError
from workbench.gui.widgets.highlight import highlighted_html
from workbench.gui.widgets.workers import JobHandle, run_in_thread

__all__ = ["GradientsView", "IG_HELP"]

IG_HELP = ("Integrated gradients follow the model's gradients from a text with every word "
           "blanked out to the real text; a word's weight is its share of the change in the "
           "label's probability (green: towards the label, red: against). Needs the run's "
           "PyTorch model and the captum package.")


def _ig_job(model_dir: str, text: str, *, progress: Any = None, should_stop: Any = None) -> tuple[str, dict]:
    from workbench.core.training.integrated_gradients import integrated_gradients

    return text, integrated_gradients(model_dir, text)


class GradientsView(QWidget):
    """A button and a line: "Integrated gradients, why LABEL: …" for the typed text."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model_dir: Path | None = None
        self.text = ""
        self.job: JobHandle | None = None
        self.button = QPushButton("Integrated gradients")
        self.button.setToolTip(IG_HELP)
        self.button.clicked.connect(self.start)
        self.label = QLabel("")
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setToolTip(IG_HELP)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.button)
        row.addWidget(self.label, 1)
        self.set_run(None)

    def set_run(self, project: Any, run_id: Any = None, labels: Any = None, *,
                classification: bool = True) -> None:
        """The open bundle's run in ``project`` when that run has the bundle's labels (a
        bundle of another project is not explained by this one's model); hidden otherwise."""
        self.model_dir = None
        if project is not None and run_id is not None and classification:
            from workbench.core.deploy.project_data import read_run_file, resolve_run

            try:
                folder = Path(resolve_run(project, int(run_id))["model_path"])
                same = [str(x) for x in read_run_file(folder).get("labels", [])] == [str(x) for x in labels or []]
            except (WorkbenchError, KeyError, TypeError, ValueError, OSError):
                folder, same = None, False
            if folder is not None and same and (folder / "config.json").is_file():
                self.model_dir = folder
        self.label.setText("")
        self.setVisible(self.model_dir is not None)
        self.button.setEnabled(self.model_dir is not None and self.job is None)

    def set_text(self, text: str) -> None:
        """The text in the box changed: an older answer no longer applies."""
        if text != self.text:
            self.text = text
            self.label.setText("")

    def start(self) -> None:
        if self.model_dir is None or self.job is not None or not self.text.strip():
            return
        self.button.setEnabled(False)
        self.label.setText("<i>Following the gradients…</i>")
        self.job = run_in_thread(self, _ig_job, str(self.model_dir), self.text, name="integrated gradients",
                                 on_done=self._done, on_failed=self._failed, on_finished=self._finished)

    def _done(self, answer: tuple[str, dict]) -> None:
        text, out = answer
        if text != self.text:
            return
        self.last = out
        self.label.setText(f"<i>Integrated gradients, why {html.escape(str(out['label']))}:</i> "
                           f"{highlighted_html(text, out['explanation'])}")

    def _failed(self, exc: BaseException) -> None:
        self.label.setText(html.escape(str(exc) if isinstance(exc, WorkbenchError)
                                       else f"Integrated gradients failed: {exc}"))

    def _finished(self) -> None:
        self.job = None
        self.button.setEnabled(self.model_dir is not None)

    def shutdown(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.job.wait(10_000)
