"""The Team panel: agreement figures, annotators and assignment, adjudication, merging.

Merging a teammate's file runs in a worker thread that opens its own connection to the
project; the panel (and the rest of the window) refreshes when it has finished.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from workbench.core import project_operations, team
from workbench.core.errors import WorkbenchError
from workbench.core.plain_words import agreement_words
from workbench.core.settings import setting_info
from workbench.core.store.changes import Changes
from workbench.gui.team.adjudication import AdjudicationView
from workbench.gui.team.span_team import SpanTeamViews
from workbench.gui.team.tables import figure_table, fill_table, fmt_figure
from workbench.gui.widgets.config_form import spin_bounds
from workbench.gui.widgets.panel import ChangesListener
from workbench.gui.widgets.workers import JobHandle, run_in_thread

if TYPE_CHECKING:
    from workbench.core.store.project import Project
    from workbench.core.team import AgreementReport, MergeReport

__all__ = ["TeamPanel"]

log = logging.getLogger(__name__)

_MODES = [
    ("all", "Everyone labels everything"),
    ("k", "Each record by k annotators"),
    ("split", "Split the records between annotators"),
]
_RULES = [
    ("adjudicated-first", "Adjudicated label first, else majority"),
    ("majority", "Majority only (ignore adjudicated labels)"),
]


class TeamPanel(ChangesListener, QWidget):
    """Agreement, annotators and assignment, adjudication and merge for a project."""

    status_message = Signal(str)
    open_records = Signal(list)
    #: The project changed here (settings, a final label, a merge): a Changes value.
    changed = Signal(object)
    #: Emitted with the :class:`~workbench.core.team.MergeReport` after every merge.
    merged = Signal(object)
    #: Emitted with the error message when a merge is refused or fails.
    merge_failed = Signal(str)
    #: Emitted when a merge was cancelled (the project is unchanged).
    merge_cancelled = Signal()
    #: Emitted when fresh agreement figures are shown (they are computed in the background).
    agreement_ready = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project: Project | None = None
        self.report: AgreementReport | None = None
        self.last_merge_report: MergeReport | None = None
        self.show_dialogs = True
        self._job: JobHandle | None = None
        self._agreement_job: JobHandle | None = None
        self._agreement_stale = False
        self._loading = False

        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self._reload)
        self.merge_button = QPushButton("Merge…")
        self.merge_button.setToolTip("Bring in a teammate's annotations from their copy of the project")
        self.merge_button.clicked.connect(self.merge_dialog)
        self.cancel_merge_button = QPushButton("Cancel merge")
        self.cancel_merge_button.setToolTip("Stop the merge; the project stays as it was")
        self.cancel_merge_button.clicked.connect(self.cancel_merge)
        self.cancel_merge_button.setVisible(False)
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.refresh_button)
        top.addWidget(self.merge_button)
        top.addWidget(self.cancel_merge_button)

        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_agreement(), "Agreement")
        self.adjudication = AdjudicationView()
        self.adjudication.status_message.connect(self.status_message)
        self.adjudication.open_records.connect(self.open_records)
        self.adjudication.final_changed.connect(self._on_final_changed)
        self.tabs.addTab(self.adjudication, "Adjudication")
        self.tabs.addTab(self._build_settings(), "Annotators && settings")
        self.span_views = SpanTeamViews(self.tabs, self)  # spans projects: entity pages

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.tabs, 1)
        self.set_project(None)

    # ----------------------------------------------------------------- building
    def _build_agreement(self) -> QWidget:
        page = QWidget()
        self.overall_label = QLabel()
        self.overall_label.setTextFormat(Qt.TextFormat.RichText)
        self.overall_label.setWordWrap(True)
        self.pairs_table = figure_table(["Annotator A", "Annotator B", "Records in common",
                                   "Cohen's κ", "Raw agreement"], stretch=(0, 1))
        self.labels_table = figure_table(["Label", "Mean pairwise κ", "Fleiss' κ",
                                          "Krippendorff's α", "Shared records with it"])
        self.agreement_note = QLabel(
            "κ and α: how far annotators agree beyond luck (1 = always, 0 = chance). Only records "
            "labelled by two or more annotators count. Per label: chosen or not (one vs the rest)."
        )
        self.agreement_note.setWordWrap(True)
        self.agreement_note.setStyleSheet("color: gray")
        layout = QVBoxLayout(page)
        layout.addWidget(self.overall_label)
        layout.addWidget(QLabel("<b>Each pair of annotators</b>"))
        layout.addWidget(self.pairs_table, 1)
        layout.addWidget(QLabel("<b>Each label</b>"))
        layout.addWidget(self.labels_table, 1)
        layout.addWidget(self.agreement_note)
        return page

    def _build_settings(self) -> QWidget:
        page = QWidget()
        roster_box = QGroupBox("Annotators")
        self.roster_list = QListWidget()
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("Name as the annotator sets it (WORKBENCH_ANNOTATOR)")
        self.name_edit.returnPressed.connect(self._add_annotator)
        add = QPushButton("Add")
        add.clicked.connect(self._add_annotator)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self._remove_annotator)
        row = QHBoxLayout()
        row.addWidget(self.name_edit, 1)
        row.addWidget(add)
        row.addWidget(self.remove_button)
        box_layout = QVBoxLayout(roster_box)
        box_layout.addWidget(self.roster_list)
        box_layout.addLayout(row)

        rules = QGroupBox("Labelling rules")
        self.mode_combo = QComboBox()
        for key, text in _MODES:
            self.mode_combo.addItem(text, key)
        self.mode_combo.currentIndexChanged.connect(self._save_assignment)
        self.k_spin = QSpinBox()
        k_info = setting_info(team.TeamSettings, "assignment_k")  # the CLI's bounds too
        self.k_spin.setRange(*spin_bounds(k_info))
        self.k_spin.setValue(k_info.default)
        self.k_spin.valueChanged.connect(self._save_assignment)
        self.blind_check = QCheckBox("Blind labelling: hide other annotators' labels while labelling")
        self.blind_check.toggled.connect(self._save_blind)
        self.rule_combo = QComboBox()
        for key, text in _RULES:
            self.rule_combo.addItem(text, key)
        self.rule_combo.currentIndexChanged.connect(self._save_rule)
        self.rule_summary = QLabel()
        self.rule_summary.setWordWrap(True)
        for widget, name in ((self.mode_combo, "assignment"), (self.k_spin, "assignment_k"),
                             (self.blind_check, "blind"), (self.rule_combo, "final_rule")):
            widget.setToolTip(team.TeamSettings.help(name))
        form = QFormLayout(rules)
        form.addRow("Assignment:", self.mode_combo)
        form.addRow("Annotators per record (k):", self.k_spin)
        form.addRow(self.blind_check)
        form.addRow("Final labels for training:", self.rule_combo)
        form.addRow(self.rule_summary)

        layout = QVBoxLayout(page)
        layout.addWidget(roster_box, 1)
        layout.addWidget(rules)
        return page

    # ----------------------------------------------------------------- contract
    def set_project(self, project: Project | None) -> None:
        self.project = project
        self._pending_changes = None
        for w in (self.merge_button, self.refresh_button, self.tabs):
            w.setEnabled(project is not None)
        self.adjudication.set_project(project)
        self.span_views.set_project(project)
        self._load_settings()
        self._load_agreement()

    def _refresh_now(self, changes: Changes) -> None:
        """Labels and settings stay current (an adjudication in progress keeps its undo)."""
        if changes.label_schema or changes.settings or changes.record_ids is None:
            if self.project is not None:
                self.project.reload_labels()
            self.adjudication.reload_labels()
            self._load_settings()

    def _reload(self) -> None:
        """Reload everything now (the Refresh button, after a merge made here)."""
        everything = Changes.everything()
        self._refresh_now(everything)
        self._refresh_shown(everything)

    def _refresh_shown(self, changes: Changes) -> None:
        """Recompute agreement and reload disagreements (in the background)."""
        if changes.touches("annotations", "final_labels", "label_schema", "records",
                           "settings"):
            self._load_agreement()
            self.span_views.refresh()

    def shutdown(self) -> None:
        for job in (self._job, self._agreement_job):
            if job is not None and job.is_running():
                job.cancel()
                job.wait(30_000)

    # ----------------------------------------------------------------- agreement
    def _load_agreement(self) -> None:
        """Compute the agreement figures in the background (large projects take seconds)."""
        self._update_tab_count()
        if self.project is None:
            self.report = None
            self.summary.setText("Open a project to see its annotators and agreement.")
            self.overall_label.setText("")
            fill_table(self.pairs_table, [])
            fill_table(self.labels_table, [])
            return
        if self._agreement_job is not None and self._agreement_job.is_running():
            self._agreement_stale = True
            return
        self._agreement_stale = False
        self.overall_label.setText("Computing agreement…")
        self._agreement_job = run_in_thread(
            self, team.agreement_job, str(self.project.path), team.AgreementConfig(),
            on_done=self._on_agreement, on_failed=self._on_agreement_failed,
            on_finished=self._on_agreement_finished, name="agreement",
        )

    def _on_agreement_finished(self) -> None:
        if self._agreement_stale:
            self._load_agreement()

    def _on_agreement_failed(self, exc: BaseException) -> None:
        self.overall_label.setText(f"Agreement could not be computed: {exc}")
        self.status_message.emit(f"Agreement could not be computed: {exc}")

    def _on_agreement(self, rep: AgreementReport) -> None:
        if self.project is None or self._agreement_stale:
            return
        self.report = rep
        self.summary.setText(
            f"{len(rep.annotators)} annotator(s); {rep.records_labelled} records labelled, "
            f"{rep.overlap} by two or more; {rep.disagreements} with disagreement. "
            + rep.imported_note()
        )
        if rep.overlap == 0:
            self.overall_label.setText(
                "No record has been labelled by two annotators yet: agreement needs overlap. "
                "Use the assignment “everyone labels everything” or “each record by k "
                "annotators”, or merge a teammate's file."
            )
        else:
            self.overall_label.setText(
                f"<b>Fleiss' κ:</b> {fmt_figure(rep.fleiss)} &nbsp; "
                f"<b>Krippendorff's α</b> ({rep.alpha_distance}): {fmt_figure(rep.alpha)} &nbsp; "
                f"on {rep.overlap} records"
                + (" &nbsp;(multi-label: κ figures are means over labels)" if rep.multi_label else "")
                + f"<br>{agreement_words(rep.alpha if rep.alpha is not None else rep.fleiss)}"
            )
        fill_table(
            self.pairs_table,
            [
                [p.a, p.b, str(p.overlap), fmt_figure(p.kappa),
                 "n/a" if p.percent_agreement is None else f"{p.percent_agreement:.0%}"]
                for p in rep.pairs
            ],
        )
        fill_table(
            self.labels_table,
            [
                [name, fmt_figure(f["cohen_mean"]), fmt_figure(f["fleiss"]), fmt_figure(f["alpha"]),
                 str(f["records_with_label"])]
                for name, f in rep.per_label.items()
            ],
        )
        self.agreement_ready.emit(rep)

    # ----------------------------------------------------------------- settings
    def _load_settings(self) -> None:
        self._loading = True
        try:
            self.roster_list.clear()
            if self.project is None:
                self.rule_summary.setText("")
                return
            counts = self.project.stats()["by_annotator"]
            names = team.roster(self.project)
            for name in names:
                self.roster_list.addItem(f"{name}  ({counts.get(name, 0)} annotations)")
            for name in sorted(set(counts) - set(names)):
                self.roster_list.addItem(f"{name}  ({counts[name]} annotations, not on the list)")
            mode, k = team.assignment(self.project)
            self.mode_combo.setCurrentIndex([m for m, _ in _MODES].index(mode))
            if mode == "k":
                self.k_spin.setValue(k)
            self.k_spin.setEnabled(mode == "k")
            self.blind_check.setChecked(team.is_blind(self.project))
            rule = team.final_rule(self.project)
            self.rule_combo.setCurrentIndex([r for r, _ in _RULES].index(rule))
            self._show_rule_summary()
        finally:
            self._loading = False

    def _show_rule_summary(self) -> None:
        from workbench.core.store.snapshot import label_counts

        if self.project is not None:
            self.rule_summary.setText(label_counts(self.project).summary())

    def _selected_name(self) -> str | None:
        item = self.roster_list.currentItem()
        if item is None:
            return None
        return item.text().split("  (")[0]

    def _add_annotator(self) -> None:
        if self.project is None:
            return
        name = self.name_edit.text().strip()
        try:
            team.add_annotator(self.project, name)
        except WorkbenchError as exc:
            self.status_message.emit(str(exc))
            return
        self.name_edit.clear()
        self._load_settings()

    def _remove_annotator(self) -> None:
        name = self._selected_name()
        if self.project is None or name is None:
            return
        try:
            team.remove_annotator(self.project, name)
        except WorkbenchError as exc:
            self.status_message.emit(str(exc))
            return
        self._load_settings()

    def _save_assignment(self) -> None:
        if self._loading or self.project is None:
            return
        mode = self.mode_combo.currentData()
        self.k_spin.setEnabled(mode == "k")
        changes = project_operations.set_assignment(
            self.project, mode, self.k_spin.value() if mode == "k" else None
        )
        note = team.assignment_note(self.project, self.adjudication.adjudicator)
        self.status_message.emit(note or "Everyone labels every record.")
        self.changed.emit(changes)

    def _save_blind(self, checked: bool) -> None:
        if self._loading or self.project is None:
            return
        changes = project_operations.set_blind(self.project, checked)
        self.status_message.emit(
            "Blind labelling on: annotators do not see each other's labels."
            if checked else "Blind labelling off: other annotators' labels are shown."
        )
        self.changed.emit(changes)

    def _save_rule(self) -> None:
        if self._loading or self.project is None:
            return
        changes = project_operations.set_final_rule(self.project, self.rule_combo.currentData())
        self._show_rule_summary()
        self.changed.emit(changes)

    def _update_tab_count(self) -> None:
        open_items = self.adjudication.open_count()
        self.tabs.setTabText(1, f"Adjudication ({open_items})" if open_items else "Adjudication")

    def _on_final_changed(self, record_id: int) -> None:
        self._show_rule_summary()
        self._update_tab_count()
        self.changed.emit(Changes(final_labels=True, record_ids=frozenset({record_id})))

    # ----------------------------------------------------------------- merge
    def merge_dialog(self) -> None:
        """Ask for a teammate's project file and merge it (File > Merge… calls this)."""
        if self.project is None:
            self.status_message.emit("Open a project first.")
            return
        path, _ = QFileDialog.getOpenFileName(
            self, "Merge a teammate's project", str(self.project.path.parent),
            "Workbench projects (*.wbproj);;All files (*)",
        )
        if path:
            self.merge_file(path)

    def merge_file(self, path: str | Path) -> JobHandle | None:
        """Merge ``path`` into the open project in the background."""
        if self.project is None:
            return None
        if self._job is not None and self._job.is_running():
            self.status_message.emit("A merge is already running.")
            return None
        self.merge_button.setEnabled(False)
        self.cancel_merge_button.setVisible(True)
        self.status_message.emit(f"Merging {Path(path).name}…")
        self._job = run_in_thread(
            self, team.merge_job, str(self.project.path), team.MergeConfig(str(path)),
            on_done=self._on_merged, on_failed=self._on_merge_failed,
            on_cancelled=self._on_merge_cancelled, on_finished=self._on_merge_finished,
            name="merge",
        )
        return self._job

    def cancel_merge(self) -> None:
        """Stop a running merge before its next record; the project stays unchanged."""
        if self._job is not None and self._job.is_running():
            self._job.cancel()

    def _on_merge_cancelled(self) -> None:
        self.status_message.emit("Merge cancelled; the project is unchanged.")
        self.merge_cancelled.emit()

    def _on_merged(self, report: MergeReport) -> None:
        self.last_merge_report = report
        self._reload()
        self.status_message.emit(report.summary().splitlines()[0])
        if report.changed:
            self.changed.emit(project_operations.MERGED)
        if self.show_dialogs:
            box = QMessageBox(QMessageBox.Icon.Information, "Merge finished", report.summary(),
                              QMessageBox.StandardButton.Ok, self)
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.open()
        self.merged.emit(report)

    def _on_merge_failed(self, exc: BaseException) -> None:
        message = str(exc) if isinstance(exc, WorkbenchError) else f"Merge failed: {exc}"
        self.status_message.emit(message)
        if self.show_dialogs:
            box = QMessageBox(QMessageBox.Icon.Warning, "Merge refused", message,
                              QMessageBox.StandardButton.Ok, self)
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.open()
        self.merge_failed.emit(message)

    def _on_merge_finished(self) -> None:
        self.merge_button.setEnabled(self.project is not None)
        self.cancel_merge_button.setVisible(False)
