"""Architecture contracts: layers and feature packages (import-linter, configured in
pyproject.toml), no import cycles, no dynamic imports of Workbench's own modules, no
private member used outside the module that defines it, no module over 500 lines."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "workbench"
MAX_LINES = 500


def _modules() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py") if "bundle_template" not in p.parts]


def test_import_linter_contracts_are_kept():
    tool = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(tool), "--no-cache"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_no_import_cycles_among_workbench_modules():
    graph = grimp.build_graph("workbench", exclude_type_checking_imports=True)
    cycles = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            if graph.chain_exists(importer=imported, imported=module):
                cycles.append(f"{module} <-> {imported}")
    assert cycles == []


#: Any dynamic import: a module name in a variable hides the module graph just as well.
DYNAMIC = re.compile(r"\b(import_module|__import__)\(")


def test_no_dynamic_imports():
    found = [f"{p.relative_to(ROOT)}:{i}" for p in _modules()
             for i, line in enumerate(p.read_text().splitlines(), 1) if DYNAMIC.search(line)]
    assert found == []


def _defined_private_names(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def test_no_private_member_is_used_outside_its_module():
    trees = {p: ast.parse(p.read_text()) for p in _modules()}
    ours = set().union(*(_defined_private_names(t) for t in trees.values()))
    found = []
    for path, tree in trees.items():
        local = _defined_private_names(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ours and node.attr not in local:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: .{node.attr}")
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("workbench"):
                found += [f"{path.relative_to(ROOT)}:{node.lineno}: import {a.name}"
                          for a in node.names if a.name.startswith("_")
                          and not a.name.startswith("__") and node.module.split(".")[-1] != "_sqlite_utils"]
    assert found == []


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_size(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.name} has {lines} lines; split it by responsibility"
