"""One sentence for the UI saying where suggestions come from, and why there are none.

It tells apart the states a user meets in the first hour: labels present but the quick
model not fitted yet ("Preparing…"), every record labelled (nothing left to suggest, and
what to do next), and a trained run whose suggestions are not stored yet.
"""
from __future__ import annotations

from workbench.core.assist.suggestions import (
    COLDSTART_KIND,
    describe_run,
    latest_trained_run,
    prediction_run_id,
    run_row,
    unlabelled_record_ids,
)
from workbench.core.store.project import Project

__all__ = ["suggestion_status", "ALL_LABELLED"]

ALL_LABELLED = ("Every record is labelled: nothing left to suggest. Next: train a model, "
                "review the labels, or import more records.")


def _distinct_labels(project: Project) -> int:
    return project.db.execute(
        "SELECT count(DISTINCT al.label_id) FROM annotation_labels al JOIN annotations a "
        "ON a.id = al.annotation_id WHERE a.status = 'labelled'"
    ).fetchone()[0]


def suggestion_status(project: Project) -> str:
    """Which model suggests, or why nothing does yet (a short sentence)."""
    run_id = prediction_run_id(project)
    if run_id is None:
        if not unlabelled_record_ids(project):
            return ALL_LABELLED
        if _distinct_labels(project) >= 2:
            return "Preparing suggestions from the labelled records…"
        return "No suggestions yet: label a few records with at least two different labels."
    text = describe_run(project, run_id)
    if (run_row(project, run_id) or {}).get("kind") == COLDSTART_KIND:
        trained = latest_trained_run(project)
        if trained is not None:
            text += (f". Run {trained} is trained; its suggestions take over once its "
                     "predictions are stored (this starts by itself after training; the "
                     "Inference tab's \"Predict unlabelled records\" does it too).")
    return text
