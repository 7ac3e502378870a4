"""Fixtures for GUI tests: demo-style data files and ready-made projects."""
from __future__ import annotations

import csv

import pytest

from workbench.core.data.importer import add_texts


@pytest.fixture
def support_csv(tmp_path):
    """A small CSV with id, text and intent columns (12 rows, 3 intents)."""
    path = tmp_path / "support.csv"
    rows = [
        ("A1", "Where is my parcel?", "delivery"),
        ("A2", "I was charged twice", "billing"),
        ("A3", "Cannot log in to my account", "account"),
        ("A4", "Tracking has not moved for a week", "delivery"),
        ("A5", "Refund the extra charge please", "billing"),
        ("A6", "Reset my password", "account"),
        ("A7", "The courier left it at the wrong house", "delivery"),
        ("A8", "Why is my invoice higher this month?", "billing"),
        ("A9", "Two-factor code never arrives", "account"),
        ("A10", "Can I change the delivery address?", "delivery"),
        ("A11", "Update my card details", "billing"),
        ("A12", "Delete my account", "account"),
    ]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "text", "intent"])
        writer.writerows(rows)
    return path


@pytest.fixture
def small_project(tmp_path):
    """A project with three labels and five unlabelled records; closed after the test."""
    from workbench.core.store.project import Project

    project = Project.create(tmp_path / "small.wbproj", ["billing", "delivery", "account"])
    add_texts(project,
        [
            "Where is my parcel?",
            "I was charged twice",
            "Cannot log in",
            "Refund please",
            "Reset my password",
        ]
    )
    yield project
    project.close()
