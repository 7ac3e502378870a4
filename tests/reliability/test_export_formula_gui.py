"""The export dialog escapes spreadsheet formulas by default; the checkbox turns it off."""
from __future__ import annotations

import csv

import pytest

from workbench.core.data.importer import import_rows
from workbench.core.store.project import Project


@pytest.mark.parametrize("escape", [True, False])
def test_export_dialog_formula_checkbox(qtbot, tmp_path, escape):
    from workbench.gui.project.export_dialog import ExportDialog

    project = Project.create(tmp_path / "p.wbproj", ["a", "b"])
    import_rows(project, [{"text": "=1+1"}], text_col="text")
    project.annotate(1, ["a"])
    dialog = ExportDialog(project)
    qtbot.addWidget(dialog)
    assert dialog.escape_check.isChecked()
    dialog.escape_check.setChecked(escape)
    out = tmp_path / "labels.csv"
    dialog.path_edit.setText(str(out))
    with qtbot.waitSignal(dialog.exported, timeout=20_000):
        dialog.export_button.click()
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["text"] == ("'=1+1" if escape else "=1+1")
    project.close()
