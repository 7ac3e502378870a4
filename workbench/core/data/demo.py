"""The demo project: 370 customer-support messages in six intents, 240 already labelled."""
from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.core.data.importer import import_rows
from workbench.core.resources import resource_path
from workbench.core.store.project import Project, remove_project_files

__all__ = ["DEMO_LABELS", "DEMO_PRELABELLED", "DemoConfig", "create_demo_job"]

#: The demo's labels, in button order, with the guideline shown as each button's tooltip.
DEMO_LABELS = [
    ("billing", "Charges, invoices, payment methods, prices and subscription fees."),
    ("delivery", "Where an order is, shipping, tracking, addresses and delivery problems."),
    ("refund", "Returns, exchanges, refunds and cancelling an order."),
    ("account", "Logging in, passwords, profile, security and account settings."),
    ("technical", "The website or app not working: errors, crashes, slowness, pairing."),
    ("feedback", "Praise, complaints and suggestions that ask for no action."),
]
#: How many demo messages arrive already labelled (so a model can be trained at once).
DEMO_PRELABELLED = 240


@dataclass
class DemoConfig:
    """How many of the demo messages arrive labelled (so a model can be trained at once)."""

    prelabelled: int = DEMO_PRELABELLED


def create_demo_job(
    project_path: str | Path,
    config: DemoConfig,
    *,
    progress: Callable[[Any], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> str:
    """Create the demo project at ``project_path``; returns its path (nothing left on cancel).

    The first messages come labelled (by the current annotator) so the Train tab works
    straight away; the rest wait in the labelling queue.
    """
    source = resource_path("demo", "support_messages.csv")
    with open(source, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    path = Path(project_path)
    project = Project.create(path, [name for name, _ in DEMO_LABELS])
    try:
        for name, guideline in DEMO_LABELS:
            project.update_label(name, guideline=guideline)
        project.set_meta("name", "Support messages (demo)")
        labelled = rows[: config.prelabelled]
        unlabelled = [{"id": r["id"], "text": r["text"]} for r in rows[config.prelabelled :]]
        for batch, label_col in ((labelled, "intent"), (unlabelled, None)):
            import_rows(project, batch, text_col="text", id_col="id", label_col=label_col,
                        source=str(source), fmt="csv", progress=progress, should_stop=should_stop)
    except BaseException:
        project.close()
        remove_project_files(path)
        raise
    project.close()
    return str(path)
