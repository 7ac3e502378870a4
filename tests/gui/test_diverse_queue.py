"""Labelling view with the "diverse" queue: the first records come at once (grouped by
TF-IDF), the sentence embeddings are computed in the background, then the queue groups
by meaning."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from workbench.core.assist import embeddings as emb
from workbench.core.assist.suggestions import META_RUN, store_predictions
from workbench.core.data.importer import add_texts
from workbench.core.store.project import Project, now_iso
from workbench.gui.label.label_panel import LabelPanel
from workbench.gui.label.queue_warmup import SYNC_LIMIT

pytestmark = pytest.mark.timeout(240)


def test_diverse_queue_embeds_in_the_background(qtbot, tmp_path):
    import json

    project = Project.create(tmp_path / "q.wbproj", ["delivery", "login"])
    texts = [f"my parcel number {i} is late and the courier never came" for i in range(SYNC_LIMIT)]
    texts += [f"I cannot sign in with password {i}, the reset email never arrives" for i in range(SYNC_LIMIT)]
    ids = add_texts(project, texts)
    project.db.execute(
        "INSERT INTO runs(id, kind, status, created_at, config, model_path) "
        "VALUES (1, 'train', 'completed', ?, ?, 'q.models/run-1')",
        [now_iso(), json.dumps({"labels": ["delivery", "login"]})])
    rng = np.random.default_rng(0)
    p = rng.uniform(0.3, 0.7, len(ids))
    store_predictions(project, 1, ids, ["delivery", "login"], np.c_[p, 1 - p])
    project.set_meta(META_RUN, "1")
    panel = LabelPanel()
    qtbot.addWidget(panel)
    with qtbot.waitActive(panel):
        panel.show()
        panel.activateWindow()
    try:
        panel.set_project(project)
        folder = emb.cache_folder(project.models_dir)
        assert emb.missing_count(texts, folder=folder) == len(texts)
        panel.queue_combo.setCurrentIndex(panel.queue_combo.findText("diverse"))
        panel.queue_combo.activated.emit(panel.queue_combo.currentIndex())
        strategy = panel.nav.strategy
        assert strategy.name == "diverse" and panel.warmup.job is not None
        panel.record_text.editor.setFocus()
        first = panel.current.id
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_1)  # label: the queue refills now
        assert panel.current.id != first
        # More new texts than the view may embed itself: this pick grouped by TF-IDF.
        assert strategy.features_used == "tfidf" and panel.current is not None
        qtbot.waitUntil(lambda: panel.warmup.job is None, timeout=200_000)
        # Every text still in the queue is cached (the labelled one may have left it first).
        assert emb.missing_count([t for i, t in zip(ids, texts, strict=True) if i != first],
                                 folder=folder) == 0
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_1)  # the next refill: by meaning
        assert strategy.features_used == "embeddings" and panel.current is not None
    finally:
        panel.shutdown()
        project.close()
