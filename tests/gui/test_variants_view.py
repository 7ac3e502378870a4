"""The Deploy tab's variants table: make a trimmed variant, export it measured (child
processes, real ONNX, tiny BERT)."""
from __future__ import annotations

import pytest
from deploy_fixtures import make_project_with_run

from workbench.core.store.project import Project
from workbench.gui.deploy.deploy_panel import DeployPanel
from workbench.gui.deploy.variants_view import COLUMNS


@pytest.fixture
def project(tiny_base_model, tmp_path):
    p = Project.open(make_project_with_run(tiny_base_model, tmp_path))
    yield p
    p.close()


@pytest.fixture
def panel(qtbot):
    widget = DeployPanel()
    qtbot.addWidget(widget)
    yield widget
    widget.shutdown()


def _names(view) -> list[str]:
    return [view.table.item(i, 0).text() for i in range(view.table.rowCount())]


def test_make_a_trimmed_variant_then_export_it_measured(panel, project, qtbot):
    view = panel.variants
    panel.set_project(project)
    assert _names(view) == ["fp32", "int8", "int4"]
    assert view.table.item(1, COLUMNS.index("Size MB")).text() == "–"  # not measured yet
    assert view.table.horizontalHeaderItem(COLUMNS.index("Macro-F1")).text() == "Macro-F1"  # a classifier
    assert not view.export_button.isEnabled()  # nothing selected

    view.method_combo.setCurrentIndex(2)  # Trim the vocabulary
    assert view.forms.currentIndex() == 2
    with qtbot.waitSignal(view.changed, timeout=120_000):
        view.make_button.click()
        assert view.cancel_button.isEnabled() and not view.make_button.isEnabled()
    assert "Run 2 made (trim of run 1)" in view.message.text()
    assert _names(view) == ["fp32", "int8", "int4", "trimmed", "trimmed-int8", "trimmed-int4"]
    assert view.table.item(4, COLUMNS.index("From run")).text() == "1"

    view.table.selectRow(4)
    assert view.selected_variant() == "trimmed-int8" and view.export_button.isEnabled()
    with qtbot.waitSignal(view.changed, timeout=120_000):
        view.export_button.click()
    assert "Exported trimmed-int8" in view.message.text()
    row = _names(view).index("trimmed-int8")
    assert float(view.table.item(row, COLUMNS.index("Size MB")).text()) > 0
    assert view.table.item(row, COLUMNS.index("int8")).text() in ("dynamic", "static")
    assert float(view.table.item(row, COLUMNS.index("Agreement")).text()) >= 0
