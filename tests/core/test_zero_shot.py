"""Zero-shot cold start: before the first label, suggestions come from the label names and
guidelines (bundled sentence encoder), through the background cold-start job."""
from __future__ import annotations

import pytest

from workbench.core.assist.jobs import ColdStartConfig, coldstart_job
from workbench.core.assist.suggestions import (
    COLDSTART_KIND,
    prediction_run_id,
    run_row,
    suggestion_for,
)
from workbench.core.data.importer import add_texts
from workbench.core.store.project import Project

GUIDES = {
    "billing": "Charges, invoices, payments and refunds of money.",
    "delivery": "Parcels, shipping, couriers and late or lost packages.",
    "account": "Logging in, passwords and account settings.",
}
TEXTS = [
    "I was charged twice on my credit card for one order",
    "my parcel never arrived and the courier says it was delivered",
    "I cannot log in, the password reset email never comes",
    "the invoice shows the wrong amount of money",
    "the package is three weeks late",
    "how do I change the email address on my account",
]
GOLD = ["billing", "delivery", "account", "billing", "delivery", "account"]


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    yield


def test_suggestions_before_the_first_label(tmp_path):
    path = tmp_path / "z.wbproj"
    with Project.create(path, list(GUIDES)) as project:
        for name, guide in GUIDES.items():
            project.update_label(name, guideline=guide)
        ids = add_texts(project, TEXTS)
    run_id = coldstart_job(path, ColdStartConfig())
    assert run_id is not None
    with Project.open(path) as project:
        assert prediction_run_id(project) == run_id
        assert run_row(project, run_id)["kind"] == COLDSTART_KIND
        got = [suggestion_for(project, rid) for rid in ids]
    assert all(s is not None and 0 < s.confidence <= 1 for s in got)
    right = sum(s.labels[0] == g for s, g in zip(got, GOLD, strict=True))
    assert right >= 5, [s.labels for s in got]


def test_no_labels_and_no_records_means_no_zero_shot_run(tmp_path):
    path = tmp_path / "empty.wbproj"
    Project.create(path, list(GUIDES)).close()
    assert coldstart_job(path, ColdStartConfig()) is None
