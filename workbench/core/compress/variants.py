"""The variants of a run: the run itself and every model derived from it, each as fp32
and int8 ONNX, with the figures measured when each was exported.

Names: ``fp32``, ``int8`` and ``int4`` for the run itself (``int4``: the largest matrices
at 4 bits, the rest int8, see :mod:`workbench.core.compress.int4`); for a derived run its
method chain (``student``, ``pruned``, ``trimmed``, ``student-trimmed`` ...) and that name
plus ``-int8`` or ``-int4``; a second derived run of the same chain gets ``-r<run id>`` appended.
Measurements are kept in ``<project>.models/variants/run-<id>.json`` (written whole,
atomically, after each variant is measured).
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from workbench.core.compress.common import compression_of, parent_of
from workbench.core.errors import WorkbenchError

__all__ = ["Variant", "list_variants", "find_variant", "read_measurements", "write_measurement",
           "variant_rows", "METHOD_NAMES"]

METHOD_NAMES = {"distill": "student", "prune": "pruned", "trim": "trimmed"}
VARIANTS_DIR = "variants"


@dataclass
class Variant:
    """One deployable form of a run (or of a model derived from it)."""

    name: str
    run_id: int
    root_run: int
    parent_run: int | None
    method: str | None  # how run_id was derived from its parent (None: the run itself)
    quantized: bool
    measured: dict[str, Any] = field(default_factory=dict)
    bits: int = 32  # 32: fp32; 8: int8; 4: the largest matrices at 4 bits, the rest int8

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _runs(project: Any) -> list[dict[str, Any]]:
    from workbench.core.training.runs import list_runs

    return [r for r in list_runs(project) if r.get("model_path")]


def list_variants(project: Any, run: str | int) -> list[Variant]:
    """Every variant of run ``run`` and of the runs derived from it (recursively)."""
    from workbench.core.deploy.project_data import resolve_run

    root = int(resolve_run(project, run)["run_id"])
    runs = sorted(_runs(project), key=lambda r: r["id"])
    chain: dict[int, list[str]] = {root: []}
    for r in runs:  # parents always have smaller ids than their children
        parent = parent_of(r.get("config") or {})
        if parent in chain and r["id"] not in chain:
            method = compression_of(r.get("config") or {}) or "derived"
            chain[r["id"]] = chain[parent] + [METHOD_NAMES.get(method, method)]
    measured = read_measurements(project.path, root)
    spans = bool(getattr(project, "is_spans", False))
    out: list[Variant] = []
    used: set[str] = set()
    by_id = {r["id"]: r for r in runs}
    for run_id, steps in chain.items():
        base = "-".join(steps)
        if base in used or (not base and run_id != root):
            base = f"{base}-r{run_id}"
        used.add(base)
        row = by_id.get(run_id) or {}
        parent = parent_of(row.get("config") or {}) if run_id != root else None
        method = compression_of(row.get("config") or {}) if run_id != root else None
        for bits in ((32, 8) if spans else (32, 8, 4)):  # 4-bit forms: classifiers only
            name = (f"{base}-int{bits}" if base else f"int{bits}") if bits < 32 else (base or "fp32")
            out.append(Variant(name, run_id, root, parent, method, bits < 32, measured.get(name, {}), bits))
    return out


def find_variant(project: Any, run: str | int, name: str) -> Variant:
    variants = list_variants(project, run)
    for v in variants:
        if v.name == name:
            return v
    raise WorkbenchError(f"Run {variants[0].root_run} has no variant {name!r}: it has "
                         f"{', '.join(v.name for v in variants)}.")


def _file(project_path: Path, root: int) -> Path:
    project_path = Path(project_path)
    return project_path.with_name(project_path.stem + ".models") / VARIANTS_DIR / f"run-{root}.json"


def read_measurements(project_path: Path, root: int) -> dict[str, dict[str, Any]]:
    path = _file(project_path, root)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_measurement(project_path: Path, root: int, name: str, figures: dict[str, Any]) -> None:
    """Record one variant's figures (the file is replaced whole, never left half-written)."""
    path = _file(project_path, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = read_measurements(project_path, root)
    data[name] = figures
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    tmp.replace(path)


def variant_rows(variants: list[Variant]) -> list[dict[str, Any]]:
    """Flat rows for a table: name, run, method, and the measured figures (None if not yet;
    span runs have ``entity_f1`` and ``f1_kind`` "entity F1" where classifiers have ``macro_f1``)."""
    keys = ("size_mb", "bundle_mb", "b1_p50_ms", "b32_texts_per_s", "macro_f1", "entity_f1", "f1_kind", "agreement",
            "int8_method", "bundle_dir")
    return [{"name": v.name, "run_id": v.run_id, "parent_run": v.parent_run, "method": v.method,
             "quantized": v.quantized, "bits": v.bits, **{k: v.measured.get(k) for k in keys}} for v in variants]
