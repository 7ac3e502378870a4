"""The Review panel's model assistance settings: the auto-retrain policy and its status."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
)

from workbench.core.store.record_queries import labelled_record_count
from workbench.gui.review.issue_list import at_left

if TYPE_CHECKING:
    from workbench.gui.review.review_panel import ReviewPanel

__all__ = ["AssistancePolicy"]

_MODES = [("auto", "Automatic (once every label has 10 examples)"), ("on", "On"), ("off", "Off")]


class AssistancePolicy:
    """The auto-retrain half of :class:`~workbench.gui.review.review_panel.ReviewPanel`."""

    def build_assistance(self: ReviewPanel) -> QGroupBox:
        box = QGroupBox("Model assistance")
        assist = QFormLayout(box)
        self.suggester = QLabel("–")
        self.suggester.setWordWrap(True)
        self.mode = QComboBox()
        for key, text in _MODES:
            self.mode.addItem(text, key)
        self.mode.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.mode.currentIndexChanged.connect(self._policy_edited)
        self.every = QSpinBox()
        self.every.setRange(5, 100_000)
        self.every.setValue(50)
        self.every.setSuffix(" new labels")
        self.every.setMinimumWidth(160)
        self.every.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.every.valueChanged.connect(self._policy_edited)
        self.retrain_status = QLabel("–")
        self.retrain_status.setWordWrap(True)
        self.retrain_button = QPushButton("Retrain now")
        self.retrain_button.setToolTip(
            "Train a new model with the last run's settings, export it and refresh the suggestions."
        )
        self.retrain_button.clicked.connect(self.start_retrain)
        row = QHBoxLayout()
        row.addWidget(self.retrain_status, 1)
        row.addWidget(self.retrain_button)
        assist.addRow("Suggestions from", self.suggester)
        assist.addRow("Auto-retrain", at_left(self.mode))
        assist.addRow("Retrain after", at_left(self.every))
        for field in (self.mode, self.every):
            label = assist.labelForField(field.parentWidget())
            if isinstance(label, QLabel):
                label.setBuddy(field)
        assist.addRow(row)
        return box

    def load_policy(self: ReviewPanel) -> None:
        from workbench.core.assist.autoretrain import load_policy

        policy = load_policy(self.project)
        for w in (self.mode, self.every):
            w.blockSignals(True)
        self.mode.setCurrentIndex(max(0, self.mode.findData(policy.mode)))
        self.every.setValue(policy.every)
        for w in (self.mode, self.every):
            w.blockSignals(False)

    def _policy_edited(self: ReviewPanel, *_args: Any) -> None:
        if self.project is None:
            return
        from workbench.core.assist.autoretrain import AutoRetrainPolicy, save_policy

        save_policy(self.project, AutoRetrainPolicy(mode=self.mode.currentData(),
                                                    every=self.every.value()))
        self.update_assist_status()

    def update_assist_status(self: ReviewPanel) -> None:
        if self.project is None:
            self.suggester.setText("–")
            self.retrain_status.setText("–")
            return
        from workbench.core.assist.autoretrain import load_policy, retrain_state
        from workbench.core.assist.suggestion_status import suggestion_status

        self.suggester.setText(suggestion_status(self.project))
        running = self.assist_kind == "retrain" and self.assist_running()
        state = self.session_state()
        if running:
            state = retrain_state(self.project, running=True)
        self.retrain_status.setText(load_policy(self.project).describe(state))

    def labelled_total(self: ReviewPanel) -> int:
        return labelled_record_count(self.project)

    def session_state(self: ReviewPanel) -> Any:
        """The auto-retrain state, counting only labels added since the project was opened:
        opening a project full of labels never starts a training run by itself."""
        import dataclasses

        from workbench.core.assist.autoretrain import retrain_state

        state = retrain_state(self.project)
        session = max(0, self.labelled_total() - self.labelled_at_open)
        return dataclasses.replace(state, new_labels=min(state.new_labels, session))
