"""The sentence shown when a run finishes: the same duration as the runs table, the real
epoch count (saying when it stopped early) and what the result means in plain words."""
from __future__ import annotations

import logging
from typing import Any

from workbench.core.plain_words import epochs_summary, what_this_means
from workbench.gui.train.train_results import format_duration, run_duration_s

__all__ = ["finished_message"]

log = logging.getLogger(__name__)


def finished_message(result: Any, project: Any) -> str:
    """"Run #1 finished in 21 s (7 of 20 epochs, stopped early …). The model gets …"."""
    metrics = result.metrics or {}
    run: dict[str, Any] = {}
    if project is not None:
        from workbench.core.errors import WorkbenchError
        from workbench.core.training.runs import get_run

        try:
            run = get_run(project, result.run_id)
        except WorkbenchError:
            log.warning("Run %s not found after it finished", result.run_id)
    text = f"Run #{result.run_id} finished"
    duration = run_duration_s(run) if run else None
    if duration is not None:
        text += f" in {format_duration(duration)}"
    effective = (run.get("config") or {}).get("effective") or {}
    planned = effective.get("epochs")
    if metrics.get("history"):
        text += f" ({epochs_summary(metrics, planned)} epochs)"
    f1 = metrics.get("macro_f1")
    if isinstance(f1, (int, float)):
        where = "cross-validated" if metrics.get("split") == "cross-validation" else "test"
        spread = f" ± {metrics['macro_f1_std']:.3f}" if "macro_f1_std" in metrics else ""
        text += f", {where} macro-F1 {f1:.3f}{spread}"
    meaning = what_this_means(metrics)
    return text + "." + (f"\n{meaning}" if meaning else "")
