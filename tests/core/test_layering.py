"""Layering: nothing under workbench.core imports Qt."""
from __future__ import annotations

import pkgutil
import subprocess
import sys

import workbench.core


def test_core_modules_do_not_import_qt():
    names = [
        m.name
        for m in pkgutil.walk_packages(workbench.core.__path__, prefix="workbench.core.")
    ]
    assert "workbench.core.store.project" in names and "workbench.core.data.importer" in names
    code = (
        "import importlib, sys\n"
        f"names = {names!r}\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "qt = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6'))\n"
        "print('QT', qt)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "QT []" in r.stdout, r.stdout
