"""After training, the trained run's suggestions replace the quick model's by themselves.

When the Label panel learns of a trained run (a ``runs`` change, or a project opened)
while the quick cold-start model still suggests, the run's int8 bundle is exported if it
has none and the unlabelled records are predicted in a worker thread: the same job as
auto-retrain and ``workbench predict-project`` (``core/assist/project_predictions.py``).
The panel is then told the predictions are stored. One attempt per run and session; a
failure is reported once in the status bar and the Inference tab's "Predict unlabelled
records" remains the manual way.
"""
from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QObject, Signal

from workbench.core.errors import WorkbenchError
from workbench.gui.widgets.workers import run_in_thread

__all__ = ["TrainedSuggestions"]

log = logging.getLogger(__name__)


def _waiting_run(project: Any) -> int | None:
    """The newest trained run when it should suggest but does not yet, else None."""
    from workbench.core.assist.suggestions import (
        COLDSTART_KIND,
        latest_trained_run,
        prediction_run_id,
        run_row,
        unlabelled_record_ids,
    )

    if project.is_spans:
        return None
    trained = latest_trained_run(project)
    if trained is None:
        return None
    current = prediction_run_id(project)
    if current is not None and (run_row(project, current) or {}).get("kind") != COLDSTART_KIND:
        return None  # a trained run already suggests (the user chose it, or a newer one)
    return trained if unlabelled_record_ids(project) else None


class TrainedSuggestions(QObject):
    """Starts the prediction job of a newly trained run, once per run."""

    #: Emitted with a status-bar sentence when the job starts, ends or fails.
    status = Signal(str)
    #: Emitted when the run's predictions are stored (and its project is still the one shown).
    stored = Signal()

    def __init__(self, parent: QObject | None = None, *, current: Any = None) -> None:
        super().__init__(parent)
        self.current = current or (lambda: None)  #: returns the project shown now
        self.job: Any = None
        self.run_id: int | None = None
        self.path = ""
        self.tried: set[tuple[str, int]] = set()

    @property
    def busy(self) -> bool:
        return self.job is not None

    def check(self, project: Any) -> bool:
        """Start the job when the project's newest trained run should suggest; True if started."""
        if self.job is not None or project is None:
            return False
        try:
            run_id = _waiting_run(project)
        except (WorkbenchError, OSError) as exc:
            log.warning("Cannot check for a trained run: %s", exc)
            return False
        key = (str(project.path), run_id)
        if run_id is None or key in self.tried:
            return False
        from workbench.core.assist.project_predictions import predict_project

        self.tried.add(key)
        self.run_id, self.path = run_id, str(project.path)
        self.status.emit(f"Run {run_id} is trained: preparing its suggestions in the background "
                         "(export and prediction of the unlabelled records)…")
        self.job = run_in_thread(self, predict_project, str(project.path), run_id,
                                 on_done=self._done, on_failed=self._failed,
                                 on_finished=self._finished, name="trained-suggestions")
        return True

    def _done(self, report: Any) -> None:
        self.status.emit(f"Suggestions now come from run {report.run_id} "
                         f"({report.n_predicted:,} unlabelled records predicted).")
        project = self.current()
        if project is not None and str(project.path) == self.path:
            self.stored.emit()

    def _failed(self, exc: BaseException) -> None:
        self.status.emit(f"Run {self.run_id}'s suggestions could not be prepared: {exc} "
                         "(Inference tab: \"Predict unlabelled records\" tries again).")

    def _finished(self) -> None:
        self.job = None

    def shutdown(self) -> None:
        """Cancel and wait for a running job (on quit or a project change)."""
        job, self.job = self.job, None
        if job is not None:
            job.cancel()
            wait = getattr(job, "wait", None)
            if wait is not None:
                wait(30_000)
