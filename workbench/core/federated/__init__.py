"""Federated training on Flower: one model trained on several sites' projects whose
records never leave their machines.

A coordinator (:func:`serve_job`) runs a federation from a project that defines the labels;
sites (:func:`join_job`) take part with their own projects. Only weights and a few metric
numbers travel; the global model ends as a normal run of the coordinator's project.
Flower (``flwr``) is an optional extra: ``pip install 'workbench[federated]'``.

Importing this package imports neither torch nor Flower.
"""
from __future__ import annotations

from typing import Any

from workbench.core.federated.config import (
    DEFAULT_ADDRESS,
    FederationConfig,
    FederationEvent,
    FederationResult,
    JoinConfig,
    ServeConfig,
    SiteConfig,
    SiteResult,
)
from workbench.core.federated.schema import FederationSchema, SchemaMismatch, schema_difference

__all__ = [
    "DEFAULT_ADDRESS",
    "FederationConfig",
    "FederationEvent",
    "FederationResult",
    "FederationSchema",
    "JoinConfig",
    "SchemaMismatch",
    "ServeConfig",
    "SiteConfig",
    "SiteResult",
    "join_job",
    "schema_difference",
    "serve_job",
]


def serve_job(project_path: Any, config: ServeConfig, *, progress: Any, should_stop: Any) -> FederationResult:
    """The coordinator job (see :mod:`workbench.core.federated.coordinator`)."""
    from workbench.core.federated.coordinator import serve_job as run

    return run(project_path, config, progress=progress, should_stop=should_stop)


def join_job(project_path: Any, config: JoinConfig, *, progress: Any, should_stop: Any) -> SiteResult:
    """The site job (see :mod:`workbench.core.federated.site`)."""
    from workbench.core.federated.site import join_job as run

    return run(project_path, config, progress=progress, should_stop=should_stop)
