"""The Team tab for spans projects: agreement as pairwise entity F1 (overall and per type)
and adjudication that picks spans from each annotator's version of a record.

:class:`SpanTeamViews` adds both pages to the Team panel's tabs and, for a spans project,
shows them instead of the classification agreement and adjudication pages.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from workbench.core.errors import STORE_ERRORS
from workbench.core.spans.span_team import (
    final_spans,
    pick_spans,
    span_agreement_report,
    span_versions,
)
from workbench.core.store.spans import Span
from workbench.core.team.agreement import load_ratings
from workbench.gui.team.tables import figure_table, fill_table, fmt_figure
from workbench.gui.widgets.span_highlight import OffsetMap, label_color, span_selections

if TYPE_CHECKING:
    from workbench.core.store.project import Project

__all__ = ["SpanAdjudicationView", "SpanAgreementView", "SpanTeamViews", "span_disagreements"]


def span_disagreements(project: Project) -> list[int]:
    """Records whose labelled versions (two or more annotators) differ in their spans."""
    found = []
    for rid in sorted(load_ratings(project)):
        versions = span_versions(project, rid)
        if len(versions) >= 2 and len(set(versions.values())) > 1:
            found.append(rid)
    return found


class SpanAgreementView(QWidget):
    """Pairwise entity F1 between annotators, per pair and per entity type."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.pairs_table = figure_table(["Annotator A", "Annotator B", "Records in common",
                                         "Entity F1"], stretch=(0, 1))
        self.types_table = figure_table(["Entity type", "Mean pairwise F1"])
        note = QLabel("Entity F1 between two annotators (strict: same start, end and type); "
                      "1 = the same spans. Only records labelled by both count.")
        note.setWordWrap(True)
        note.setStyleSheet("color: gray")
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(QLabel("<b>Each pair of annotators</b>"))
        layout.addWidget(self.pairs_table, 1)
        layout.addWidget(QLabel("<b>Each entity type</b>"))
        layout.addWidget(self.types_table, 1)
        layout.addWidget(note)

    def show_project(self, project: Project | None) -> None:
        if project is None or not project.is_spans:
            fill_table(self.pairs_table, [])
            fill_table(self.types_table, [])
            self.summary.setText("")
            return
        report = span_agreement_report(project)
        fill_table(self.pairs_table, [[p["a"], p["b"], str(p["records"]), fmt_figure(p["f1"])]
                                      for p in report["pairs"]])
        fill_table(self.types_table, [[name, fmt_figure(value)]
                                      for name, value in report["per_type"].items()])
        if report["pairs"]:
            self.summary.setText(f"Mean pairwise entity F1: <b>{fmt_figure(report['mean_f1'])}"
                                 f"</b> over {len(report['pairs'])} pair(s) of annotators.")
        else:
            self.summary.setText("No record has been labelled by two annotators yet: "
                                 "agreement needs overlap.")


class SpanAdjudicationView(QWidget):
    """Records whose annotators disagree; tick the spans to keep from each version."""

    status_message = Signal(str)
    open_records = Signal(list)
    final_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project: Project | None = None
        self.versions: dict[str, tuple[Span, ...]] = {}
        self.record_list = QListWidget()
        self.record_list.currentRowChanged.connect(self._on_row)
        self.record_list.itemDoubleClicked.connect(
            lambda item: self.open_records.emit([int(item.data(Qt.ItemDataRole.UserRole))]))
        self.colors: dict[str, str] = {}
        self.offsets = OffsetMap("")
        self.preview = QPlainTextEdit()
        self.preview.setReadOnly(True)
        self.preview.setObjectName("finalSpans")
        self.spans_list = QListWidget()
        self.spans_list.setObjectName("candidateSpans")
        self.spans_list.itemChanged.connect(self._update_preview)
        self.save_button = QPushButton("Save final spans")
        self.save_button.clicked.connect(self.save)
        self.note = QLabel()
        self.note.setWordWrap(True)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(QLabel("<b>Final spans</b> (the ticked ones)"))
        right_layout.addWidget(self.preview, 2)
        right_layout.addWidget(QLabel("<b>Each annotator's spans</b> — tick those to keep"))
        right_layout.addWidget(self.spans_list, 3)
        row = QHBoxLayout()
        row.addWidget(self.note, 1)
        row.addWidget(self.save_button)
        right_layout.addLayout(row)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.record_list)
        splitter.addWidget(right)
        splitter.setSizes([220, 700])
        QVBoxLayout(self).addWidget(splitter)

    def set_project(self, project: Project | None) -> None:
        self.project = project
        self.refresh()

    def refresh(self) -> None:
        """Reload the records whose annotators disagree (keeping the selected one)."""
        keep = self.current_record_id()
        self.record_list.blockSignals(True)
        self.record_list.clear()
        ids = span_disagreements(self.project) if self.project is not None \
            and self.project.is_spans else []
        for rid in ids:
            done = final_spans(self.project, rid) is not None
            item = QListWidgetItem(f"Record {rid}" + ("  ✓ final" if done else ""))
            item.setData(Qt.ItemDataRole.UserRole, rid)
            self.record_list.addItem(item)
        self.record_list.blockSignals(False)
        row = ids.index(keep) if keep in ids else (0 if ids else -1)
        self.record_list.setCurrentRow(row)
        self._on_row(row)

    def current_record_id(self) -> int | None:
        item = self.record_list.currentItem()
        return None if item is None else int(item.data(Qt.ItemDataRole.UserRole))

    def _on_row(self, _row: int) -> None:
        rid = self.current_record_id()
        self.spans_list.blockSignals(True)
        self.spans_list.clear()
        if rid is None or self.project is None:
            self.versions = {}
            self.preview.setPlainText("")
            self.note.setText("No disagreement to adjudicate." if self.project else "")
            self.save_button.setEnabled(False)
            self.spans_list.blockSignals(False)
            return
        record = self.project.get_record(rid)
        self.versions = span_versions(self.project, rid)
        final = final_spans(self.project, rid)
        everyone = set.intersection(*(set(v) for v in self.versions.values()))
        colors = {lab.name: lab.color for lab in self.project.labels()}
        for annotator, spans in self.versions.items():
            for span in spans:
                words = record.text[span.start:span.end]
                item = QListWidgetItem(f"{annotator}: “{words}” {span.label} "
                                       f"({span.start}–{span.end})")
                item.setData(Qt.ItemDataRole.UserRole, (annotator, span))
                item.setForeground(label_color(span.label, colors).darker(130))
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                chosen = span in final if final is not None else span in everyone
                item.setCheckState(Qt.CheckState.Checked if chosen else Qt.CheckState.Unchecked)
                self.spans_list.addItem(item)
        self.spans_list.blockSignals(False)
        self.colors, self.offsets = colors, OffsetMap(record.text)
        self.preview.setPlainText(record.text)
        self.save_button.setEnabled(True)
        self.note.setText(f"{len(self.versions)} versions; spans everyone gave are ticked"
                          + (" (a final version is saved)" if final is not None else "."))
        self._update_preview()

    def picks(self) -> dict[str, list[Span]]:
        """The ticked spans, by annotator."""
        chosen: dict[str, list[Span]] = {}
        for i in range(self.spans_list.count()):
            item = self.spans_list.item(i)
            if item.checkState() == Qt.CheckState.Checked:
                annotator, span = item.data(Qt.ItemDataRole.UserRole)
                chosen.setdefault(annotator, []).append(span)
        return chosen

    def _update_preview(self, *_args: object) -> None:
        spans = sorted({s for picked in self.picks().values() for s in picked})
        text = self.preview.toPlainText()
        self.preview.setExtraSelections(
            span_selections(self.preview, spans, self.colors, self.offsets, len(text) + 1))

    def save(self) -> bool:
        """Save the ticked spans as the record's final spans."""
        rid = self.current_record_id()
        if rid is None or self.project is None:
            return False
        try:
            pick_spans(self.project, rid, self.picks())
        except STORE_ERRORS as exc:
            self.status_message.emit(str(exc))
            return False
        self.status_message.emit(f"Final spans of record {rid} saved.")
        self.final_changed.emit(rid)
        self.refresh()
        return True


class SpanTeamViews:
    """Adds the spans pages to the Team panel's tabs and shows the right pages per project."""

    def __init__(self, tabs: QTabWidget, panel: QWidget) -> None:
        self.tabs = tabs
        self.agreement = SpanAgreementView()
        self.adjudication = SpanAdjudicationView()
        self.adjudication.status_message.connect(panel.status_message)
        self.adjudication.open_records.connect(panel.open_records)
        self.first = tabs.count()
        tabs.addTab(self.agreement, "Entity agreement")
        tabs.addTab(self.adjudication, "Span adjudication")
        self.project: Project | None = None

    def set_project(self, project: Project | None) -> None:
        """Show the spans pages (and hide the classification ones) for a spans project."""
        self.project = project
        spans = project is not None and project.is_spans
        for index in range(self.tabs.count()):
            page = self.tabs.widget(index)
            if page in (self.agreement, self.adjudication):
                self.tabs.setTabVisible(index, spans)
            elif index < 2:  # the classification agreement and adjudication pages
                self.tabs.setTabVisible(index, not spans)
        self.refresh()

    def refresh(self) -> None:
        """Recompute agreement and the records to adjudicate (annotations changed)."""
        shown = self.project if self.project is not None and self.project.is_spans else None
        self.agreement.show_project(shown)
        self.adjudication.set_project(shown)
