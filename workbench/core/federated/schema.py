"""The federation's label schema: what every site's project must agree on.

The coordinator's project defines it (label names in model order, single- or multi-label,
the guidelines); a site joins only when its project has the same label names and the same
task. The schema is the only project content that travels, and it goes from the
coordinator to the sites, never back.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from workbench.core.errors import WorkbenchError

if TYPE_CHECKING:
    from workbench.core.store.project import Project

__all__ = ["FederationSchema", "schema_difference", "SchemaMismatch"]


class SchemaMismatch(WorkbenchError):
    """A site's project does not match the federation's label schema."""


@dataclass(frozen=True)
class FederationSchema:
    """Label names (in the model's output order), the task and the guidelines."""

    labels: tuple[str, ...]
    task: str  # "single_label" | "multi_label"
    guidelines: dict[str, str] = field(default_factory=dict)

    @property
    def multi_label(self) -> bool:
        return self.task == "multi_label"

    @classmethod
    def from_project(cls, project: Project) -> FederationSchema:
        """The schema of ``project``; span (entity) projects are refused."""
        if project.is_spans:
            raise WorkbenchError(
                "Federated training works with classification projects; this is an entity "
                "(span) project."
            )
        labels = project.labels()
        if len(labels) < 2:
            raise WorkbenchError("A federation needs a project with at least two labels.")
        return cls(
            labels=tuple(label.name for label in labels),
            task=project.task,
            guidelines={label.name: label.guideline for label in labels if label.guideline},
        )

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "labels": list(self.labels)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FederationSchema:
        try:
            data = json.loads(text)
            return cls(labels=tuple(data["labels"]), task=str(data["task"]),
                       guidelines=dict(data.get("guidelines") or {}))
        except (ValueError, KeyError, TypeError) as exc:
            raise WorkbenchError(f"The coordinator sent an unreadable label schema ({exc}).") from None


def _names(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names)


def schema_difference(federation: FederationSchema, site: FederationSchema) -> str | None:
    """``None`` when ``site`` may join ``federation``, else what differs, in words."""
    problems = []
    if federation.task != site.task:
        words = {"single_label": "single-label", "multi_label": "multi-label"}
        problems.append(
            f"the federation is {words.get(federation.task, federation.task)}, this project is "
            f"{words.get(site.task, site.task)}"
        )
    missing = [n for n in federation.labels if n not in site.labels]
    extra = [n for n in site.labels if n not in federation.labels]
    if missing:
        problems.append(f"labels missing here: {_names(missing)}")
    if extra:
        problems.append(f"labels the federation does not have: {_names(extra)}")
    if not problems:
        return None
    return "The label schema differs from the federation's: " + "; ".join(problems) + "."
