"""The assist jobs: label review, auto-retrain and the cold-start suggestions.

Each has the signature of :mod:`workbench.core.jobs`:
``job(project_path, config, *, progress, should_stop) -> result``.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.core.assist.autoretrain import RetrainOutcome
    from workbench.core.assist.review import LabelIssue
    from workbench.core.assist.suggestions import AssistEvent

__all__ = [
    "ReviewConfig",
    "RetrainConfig",
    "ColdStartConfig",
    "review_job",
    "retrain_job",
    "coldstart_job",
    "DiverseWarmConfig",
    "diverse_warm_job",
]


@dataclass
class ReviewConfig:
    """Settings of the label review (cross-validation folds, features: see
    :data:`workbench.core.assist.review_features.REVIEW_FEATURES`)."""

    folds: int = 5
    features: str = "auto"


@dataclass
class RetrainConfig:
    """Settings of an auto-retrain: a TrainConfig, or None for the last run's settings."""

    train: Any = None


@dataclass
class ColdStartConfig:
    """Settings of the cold-start refresh (none yet)."""


def review_job(
    project_path: str | Path,
    config: ReviewConfig,
    *,
    progress: Callable[[AssistEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[LabelIssue]:
    """Find likely label errors and near-duplicates with different labels."""
    from workbench.core.assist.review import review_project

    return review_project(project_path, folds=config.folds, progress=progress, should_stop=should_stop,
                          features=config.features)


def retrain_job(
    project_path: str | Path,
    config: RetrainConfig,
    *,
    progress: Callable[[AssistEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> RetrainOutcome:
    """Train a new run, export it as int8 ONNX and refresh the stored suggestions."""
    from workbench.core.assist.autoretrain import retrain_and_refresh

    return retrain_and_refresh(project_path, progress, should_stop, config=config.train)


def coldstart_job(
    project_path: str | Path,
    config: ColdStartConfig,
    *,
    progress: Callable[[AssistEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> int | None:
    """Refit the cold-start suggestion model if it is out of date; the suggesting run id.

    Before the first label, suggestions come from the label names and guidelines
    (:mod:`workbench.core.assist.zero_shot`)."""
    from workbench.core.assist.suggestions import refresh_coldstart
    from workbench.core.assist.zero_shot import zero_shot_if_unlabelled

    run_id = refresh_coldstart(project_path, progress, should_stop)
    return run_id if run_id is not None else zero_shot_if_unlabelled(project_path, progress, should_stop)


@dataclass
class DiverseWarmConfig:
    """Whose queue, and how many records the labelling view asks for at a time."""

    annotator: str = ""
    limit: int = 100


def diverse_warm_job(
    project_path: str | Path,
    config: DiverseWarmConfig,
    *,
    progress: Callable[[AssistEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> int:
    """Embed the texts the "diverse" queue will group next (cached per text), so the
    labelling view's own pick needs no encoder pass; returns how many records it ranked."""
    from workbench.core.assist.active_learning import Diverse
    from workbench.core.store.project import Project, default_annotator

    strategy = Diverse()
    strategy.should_stop, strategy.progress = should_stop, progress
    with Project.open(project_path) as project:
        return len(strategy.next_ids(project, config.annotator or default_annotator(), config.limit))
