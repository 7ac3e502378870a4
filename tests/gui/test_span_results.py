"""Spans in the Train tab's results (per type, wrong spans that open their record) in the
real main window, on a real project file."""
from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings, Qt

from workbench.core.data.importer import add_texts
from workbench.core.store.project import Project
from workbench.core.training.runs import create_run, finish_run
from workbench.gui.main_window import MainWindow

pytestmark = pytest.mark.timeout(60)

TEXTS = ["Aspirin 100 mg for headache.", "Ibuprofen twice daily.", "Warfarin 5 mg, fever."]
METRICS = {
    "task": "spans", "entity_f1": 0.5, "entity_macro_f1": 0.4, "micro_f1": 0.5,
    "macro_f1": 0.4, "partial": {"precision": 0.7, "recall": 0.5, "f1": 0.6},
    "counts": {"gold": 7, "predicted": 6, "correct": 4},
    "per_type": {"drug": {"precision": 0.75, "recall": 0.6, "f1": 0.667, "support": 5},
                 "dose": {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}},
    "errors": [
        {"record_id": 2, "start": 0, "end": 9, "label": "drug", "kind": "missed",
         "predicted": None},
        {"record_id": 3, "start": 9, "end": 13, "label": "dose", "kind": "spurious",
         "predicted": "dose"},
        {"record_id": 3, "start": 15, "end": 20, "label": "condition", "kind": "wrong_type",
         "predicted": "drug"},
    ],
}


@pytest.fixture
def spans_path(tmp_path):
    path = tmp_path / "notes.wbproj"
    project = Project.create(path, ["drug", "dose", "condition"], task="spans")
    add_texts(project, TEXTS)
    run_id = create_run(project, base_model="tiny", config={}, snapshot_hash="x", device="cpu")
    finish_run(project, run_id, status="completed", metrics=METRICS, model_path="model")
    project.close()
    return path


@pytest.fixture
def window(qtbot, tmp_path):
    win = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    win.errors = []
    win.show_error = lambda title, text: win.errors.append(text)
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    yield win
    win.close()


def test_entity_results_list_wrong_spans_that_open_in_the_label_panel(qtbot, window, spans_path):
    assert window.open_project(spans_path), window.errors
    train = window.panels["Train"]
    window.tabs.setCurrentWidget(train)
    assert train.tabs.isTabVisible(2)
    entities = train.entities
    train.tabs.setCurrentWidget(entities)
    summary = entities.summary.text()
    assert "Entity micro-F1 0.500" in summary and "partial-overlap F1 0.600" in summary
    assert "4 of 7 annotated spans found, 6 predicted" in summary
    assert entities.per_type.rowCount() == 2
    assert entities.per_type.item(0, 0).text() == "drug"
    assert entities.per_type.item(0, 3).text() == "0.667"
    rows = entities.rows()
    assert [r[:4] for r in rows] == [("2", "Missed", "drug", "–"),
                                     ("3", "Spurious", "–", "dose"),
                                     ("3", "Wrong type", "condition", "drug")]
    assert rows[0][6] == "…[Ibuprofen] twice daily.…"
    # Filter by kind.
    entities.kind_combo.setCurrentIndex(entities.kind_combo.findData("spurious"))
    entities.kind_combo.activated.emit(entities.kind_combo.currentIndex())
    assert [r[1] for r in entities.rows()] == ["Spurious"]
    assert "1 error(s)" in entities.error_note.text()
    # Double-click opens the record in the Label panel.
    table = entities.errors
    rect = table.visualRect(table.model().index(0, 1))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    label = window.panels["Label"]
    assert window.tabs.currentWidget() is label
    assert label.current is not None and label.current.id == 3


def test_entities_tab_hidden_for_classification_projects(window, small_project):
    path = small_project.path
    small_project.close()
    assert window.open_project(path)
    assert not window.panels["Train"].tabs.isTabVisible(2)


@pytest.mark.timeout(150)  # a real training run in a child process: 25-50 s, more on a busy machine
def test_training_a_spans_project_in_the_train_tab_fills_its_entities(qtbot, tmp_path,
                                                                      tiny_base_model):
    import json

    from workbench.core.spans.span_demo import SpanDemoConfig, create_span_demo_job
    from workbench.gui.train.train_panel import TrainPanel

    path = tmp_path / "demo.wbproj"
    create_span_demo_job(path, SpanDemoConfig(prelabelled=40))
    project = Project.open(path)
    panel = TrainPanel()
    qtbot.addWidget(panel)
    panel.resize(1200, 800)
    try:
        panel.set_project(project)
        assert panel.tabs.isTabVisible(2)
        panel.set_base_model(str(tiny_base_model))
        for name, value in (("max_steps", 4), ("batch_size", 8), ("threads", 1),
                            ("max_length", 32)):
            panel.set_setting(name, value)
        with qtbot.waitSignal(panel.run_finished, timeout=180_000) as blocker:
            qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
        result = blocker.args[0]
        assert result is not None and result.status == "completed", panel.error_banner.text()
        metrics = json.loads(project.db.execute(
            "SELECT metrics FROM runs WHERE id = ?", [result.run_id]).fetchone()[0])
        assert panel.history.selected_run_ids() == [result.run_id]
        entities = panel.entities
        assert f"Entity micro-F1 {metrics['entity_f1']:.3f}" in entities.summary.text()
        assert entities.per_type.rowCount() == len(metrics["per_type"])
        assert entities.errors.rowCount() == len(metrics["errors"]) > 0  # an untrained model
        first = metrics["errors"][0]
        assert entities.rows()[0][:2] == (str(first["record_id"]),
                                          {"missed": "Missed", "spurious": "Spurious",
                                           "wrong_type": "Wrong type"}[first["kind"]])
    finally:
        panel.shutdown()
        panel.set_project(None)
        project.close()
