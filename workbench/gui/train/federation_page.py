"""The Federation page of the Train tab: coordinate a federation or join one as a site.

A thin view over :func:`workbench.core.federated.serve_job` / ``join_job``, run in a child
process with progress and cancel; the rounds table fills live from the jobs' events.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.core.errors import WorkbenchError
from workbench.core.federated.config import (
    DEFAULT_ADDRESS,
    FederationConfig,
    JoinConfig,
    ServeConfig,
    SiteConfig,
)
from workbench.core.federated.privacy_config import PrivacyConfig
from workbench.core.training.config import TrainConfig
from workbench.gui.widgets.config_form import ConfigForm

__all__ = ["FederationPage"]

ROLES = ("Coordinator (this project defines the labels)", "Site (join with this project)")
#: FederationConfig fields with inputs of their own at the top of the page.
HAND_MADE = ("address", "rounds", "min_sites", "exchange")


class FederationPage(QWidget):
    """Role, address, rounds and sites; Start/Stop; the rounds as they complete."""

    #: A federation ended with a new run in this project (the panel reloads its runs).
    run_added = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project_path: str | None = None
        #: Where the coordinator's training settings come from (the Train form).
        self.training_source: Callable[[], TrainConfig] | None = None
        self.handle: Any = None
        self.role = QComboBox()
        self.role.addItems(ROLES)
        self.address = QLineEdit(DEFAULT_ADDRESS)
        self.rounds = QSpinBox(minimum=1, maximum=1000, value=5)
        self.min_sites = QSpinBox(minimum=1, maximum=1000, value=2)
        self.exchange = QComboBox()  # what travels each round
        self.exchange.addItem("Every weight (full fine-tuning)", "full")
        self.exchange.addItem("LoRA adapters only (about 1 % of the bytes)", "lora")
        self.exchange.setToolTip("LoRA: each site trains small adapter matrices and only those "
                                 "(and the classifier head) are sent; needs the peft package.")
        form = QFormLayout()
        form.addRow("Role", self.role)
        form.addRow("Address", self.address)
        form.addRow("Rounds", self.rounds)
        form.addRow("Minimum sites", self.min_sites)
        form.addRow("What travels", self.exchange)
        # The coordinator's other settings (local epochs; folded: FedProx, the server step,
        # time limits, TLS, resume, traffic log) and a site's own: forms from their configs.
        self.federation = ConfigForm(FederationConfig, exclude=HAND_MADE,
                                     advanced_title="More federation settings")
        self.site = ConfigForm(SiteConfig, exclude=("address",), advanced_title="More site settings")
        form.addRow(self.federation)
        form.addRow(self.site)
        self.site.setVisible(False)
        # Differential privacy (the coordinator's choice): form from PrivacyConfig's settings.
        self.privacy = ConfigForm(PrivacyConfig, advanced_title="More privacy settings")
        self.privacy.value_changed.connect(self._show_budget)
        self.rounds.valueChanged.connect(self._show_budget)
        self.budget = QLabel()
        self.budget.setWordWrap(True)
        form.addRow("Privacy", self.privacy)
        form.addRow("", self.budget)
        self.start_button = QPushButton("Start")
        self.start_button.setEnabled(False)  # until a project is open
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.start_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        self.sites = QLabel("Sites: none yet")
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["Round", "Sites", "Macro-F1", "Accuracy",
                                              "Privacy spent (ε)"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        self.log = QPlainTextEdit(readOnly=True)
        self.log.setMaximumBlockCount(500)
        note = QLabel("Only weights and metric numbers leave this machine; records, texts and "
                      "labels stay in the project. Training settings are the coordinator's.")
        note.setWordWrap(True)
        note.setStyleSheet("color: #555555;")
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(note)
        layout.addWidget(self.sites)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.log, 1)
        self.role.currentIndexChanged.connect(self._role_changed)
        self._show_budget()

    def _role_changed(self) -> None:
        coordinator = self.role.currentIndex() == 0
        self.rounds.setEnabled(coordinator)
        self.min_sites.setEnabled(coordinator)
        self.exchange.setEnabled(coordinator)
        self.federation.setVisible(coordinator)
        self.site.setVisible(not coordinator)
        self.privacy.set_editable(coordinator)
        self._show_budget()

    def _show_budget(self, *_args: Any) -> None:
        """The privacy budget the chosen settings spend over the chosen rounds."""
        from workbench.core.federated.accounting import epsilon, epsilon_words

        values = self.privacy.values()
        if self.role.currentIndex() != 0 or not values["differential_privacy"]:
            self.budget.setText("")
            return
        try:
            spent = epsilon(values["noise_multiplier"], self.rounds.value(), values["delta"])
        except WorkbenchError as exc:
            self.budget.setText(str(exc))
            return
        self.budget.setText(f"Privacy spent after {self.rounds.value()} rounds: "
                            f"{epsilon_words(spent, values['delta'])}, per site. Smaller is "
                            "more private; more noise or fewer rounds make it smaller.")

    def set_project(self, project_path: str | None) -> None:
        self.project_path = project_path
        self.start_button.setEnabled(project_path is not None and self.handle is None)

    # ------------------------------------------------------------------ the job
    def job_and_config(self) -> tuple[Any, Any]:
        """The job to run and its config, from the form."""
        from workbench.core.federated import join_job, serve_job

        address = self.address.text().strip() or DEFAULT_ADDRESS
        if self.role.currentIndex() == 0:
            base = self.training_source() if self.training_source else TrainConfig()
            training = TrainConfig.from_dict({**base.to_dict(), "method": "finetune"})
            fed = self.federation.config(address=address, rounds=self.rounds.value(),
                                         min_sites=self.min_sites.value(), exchange=self.exchange.currentData())
            return serve_job, ServeConfig(fed, training, self.privacy.config())
        return join_job, JoinConfig(self.site.config(address=address))

    def start(self) -> None:
        from workbench.gui.widgets.workers import run_in_child

        if self.project_path is None or self.handle is not None:
            return
        try:
            job, config = self.job_and_config()
        except WorkbenchError as exc:  # e.g. the Train form's settings are refused
            self.log.appendPlainText(f"Cannot start: {exc}")
            return
        self.table.setRowCount(0)
        self.log.clear()
        self.handle = run_in_child(self, job, self.project_path, config, name="federation",
                                   on_progress=self.on_event, on_done=self._done,
                                   on_failed=self._failed, on_cancelled=self._cancelled,
                                   on_finished=self._finished)
        self.start_button.setEnabled(False)
        self.stop_button.setEnabled(True)

    def stop(self) -> None:
        if self.handle is not None:
            self.handle.cancel()

    def on_event(self, event: Any) -> None:
        """Show one progress event: its message, the sites, and a row per finished round
        (at the coordinator: weighted over the sites; at a site: on its own test split)."""
        if event.message:
            self.log.appendPlainText(f"{event.phase}: {event.message}")
        sites = getattr(event, "sites", None)
        if sites:
            self.sites.setText(f"Sites: {', '.join(sites)}")
        metrics = getattr(event, "metrics", None)
        if event.phase in ("round", "evaluate") and metrics:
            row = self.table.rowCount()
            self.table.insertRow(row)
            privacy = getattr(event, "privacy", None) or {}
            spent = privacy.get("epsilon")
            values = [str(event.round), str(len(sites)) if sites else "this site",
                      f"{metrics.get('macro_f1', 0):.3f}", f"{metrics.get('accuracy', 0):.3f}",
                      f"{spent:.3g}" if spent is not None else ("no bound" if privacy else "")]
            for col, text in enumerate(values):
                self.table.setItem(row, col, QTableWidgetItem(text))

    def _done(self, result: Any) -> None:
        run = getattr(result, "run_id", None)
        self.log.appendPlainText(f"Finished: run {run}." if run else "Finished.")
        if run:
            self.run_added.emit()

    def _failed(self, exc: BaseException) -> None:
        self.log.appendPlainText(f"Stopped with an error: {exc}")

    def _cancelled(self) -> None:
        self.log.appendPlainText("Stopped.")

    def _finished(self) -> None:
        self.handle = None
        self.stop_button.setEnabled(False)
        self.start_button.setEnabled(self.project_path is not None)
