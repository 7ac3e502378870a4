"""The new-project wizard: data file and columns, labels, then the import with progress.

The project is created and filled in a worker thread in one go; Cancel (or an error)
removes the half-made file, so nothing is left behind.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from workbench.core.data.importer import ImportReport
from workbench.core.data.jobs import NewProjectConfig, create_project_job
from workbench.core.store.project import PROJECT_SUFFIX
from workbench.gui.project.data_mapper import ImportProgressBox
from workbench.gui.project.span_import import (
    NewSpanProjectConfig,
    SpanFileMapper,
    create_span_project_job,
    plain_message,
)
from workbench.gui.widgets.workers import JobHandle, run_in_thread

__all__ = ["NewProjectWizard"]

log = logging.getLogger(__name__)


def _free_path(folder: Path, stem: str) -> Path:
    candidate = folder / f"{stem}{PROJECT_SUFFIX}"
    n = 2
    while candidate.exists():
        candidate = folder / f"{stem}-{n}{PROJECT_SUFFIX}"
        n += 1
    return candidate


class DataPage(QWizardPage):
    """Page 1: the data file, its preview, the columns, the project file and task type."""

    def __init__(self, wizard: NewProjectWizard) -> None:
        super().__init__()
        self._wizard = wizard
        self.setTitle("Data")
        self.setSubTitle("Pick the file with your texts, check the preview and choose the columns.")
        layout = QVBoxLayout(self)
        self.mapper = SpanFileMapper()
        self.mapper.changed.connect(self._data_changed)
        layout.addWidget(self.mapper, 1)

        layout.addWidget(QLabel("What do you label?"))
        task_grid = QGridLayout()
        self.single_radio = QRadioButton("Single label")
        self.multi_radio = QRadioButton("Multiple labels")
        self.spans_radio = QRadioButton("Spans (entities in the text)")
        self.single_radio.setChecked(True)
        group = QButtonGroup(self)
        for row, (radio, sentence) in enumerate((
            (self.single_radio, "Each record gets exactly one label, e.g. its topic."),
            (self.multi_radio, "Each record gets any number of labels, e.g. every topic it "
                               "mentions."),
            (self.spans_radio, "You mark words in the text, e.g. drug names and doses in "
                               "clinical notes."),
        )):
            group.addButton(radio)
            hint = QLabel(sentence)
            hint.setObjectName("hintText")
            task_grid.addWidget(radio, row, 0)
            task_grid.addWidget(hint, row, 1)
        task_grid.setColumnStretch(1, 1)
        layout.addLayout(task_grid)
        self.spans_radio.toggled.connect(self.mapper.set_span_mode)
        for radio in (self.single_radio, self.multi_radio, self.spans_radio):
            radio.toggled.connect(self.completeChanged)

        save_row = QHBoxLayout()
        save_row.addWidget(QLabel("Project file:"))
        self.project_edit = QLineEdit()
        self.project_edit.setPlaceholderText(f"where to save the project (*{PROJECT_SUFFIX})")
        self.project_edit.textChanged.connect(self.completeChanged)
        save_row.addWidget(self.project_edit, 1)
        browse = QPushButton("Save as…")
        browse.clicked.connect(self._browse_project)
        save_row.addWidget(browse)
        layout.addLayout(save_row)
        self.problem_label = QLabel()
        self.problem_label.setObjectName("errorText")
        self.problem_label.setWordWrap(True)
        layout.addWidget(self.problem_label)
        self._auto_project_path = ""
        self._previewed: Path | None = None

    def _data_changed(self) -> None:
        path = self.mapper.path
        current = self.project_edit.text().strip()
        if path is not None and (not current or current == self._auto_project_path):
            folder = path.parent if os.access(path.parent, os.W_OK) else Path.home()
            self._auto_project_path = str(_free_path(folder, path.stem))
            self.project_edit.setText(self._auto_project_path)
        if path is not None and path != self._previewed:
            self._previewed = path
            if self.mapper.is_span_file:  # a CoNLL file holds entities
                self.spans_radio.setChecked(True)
            elif not self.spans_radio.isChecked():
                # Cells holding several labels ("a|b", '["a", "b"]') suggest multi-label.
                self.multi_radio.setChecked(self.mapper.has_multiple_labels())
                self.single_radio.setChecked(not self.mapper.has_multiple_labels())
        self.completeChanged.emit()

    def _browse_project(self) -> None:
        start = self.project_edit.text().strip()
        path, _ = QFileDialog.getSaveFileName(
            self, "Save the new project as", start, f"Workbench projects (*{PROJECT_SUFFIX})"
        )
        if path:
            if not path.endswith(PROJECT_SUFFIX):
                path += PROJECT_SUFFIX
            self.project_edit.setText(path)

    def task(self) -> str:
        """"single_label", "multi_label" or "spans" (as ``workbench new --task``)."""
        if self.spans_radio.isChecked():
            return "spans"
        return "multi_label" if self.multi_radio.isChecked() else "single_label"

    def project_path(self) -> Path | None:
        text = self.project_edit.text().strip()
        if not text:
            return None
        path = Path(text).expanduser()
        if path.suffix != PROJECT_SUFFIX:
            path = path.with_name(path.name + PROJECT_SUFFIX)
        return path

    def problem(self) -> str:
        problem = self.mapper.problem()
        if problem:
            return problem
        if self.mapper.is_span_file and self.task() != "spans":
            return "This file holds entities: choose “Spans (entities in the text)”."
        path = self.project_path()
        if path is None:
            return "Choose where to save the project."
        if path.exists():
            return f"{path.name} already exists: choose another project file name."
        if not path.parent.is_dir():
            return f"The folder {path.parent} does not exist."
        if not os.access(path.parent, os.W_OK):
            return f"Workbench cannot write in {path.parent}: choose another place to save."
        return ""

    def isComplete(self) -> bool:  # noqa: N802 - Qt override
        problem = self.problem()
        # Only nag once a file is chosen; an empty first page speaks for itself.
        self.problem_label.setText(problem if self.mapper.path is not None else "")
        return not problem


class LabelsPage(QWizardPage):
    """Page 2: the labels, typed or taken from the label column."""

    def __init__(self, wizard: NewProjectWizard) -> None:
        super().__init__()
        self._wizard = wizard
        self.setTitle("Labels")
        self._classes_subtitle = ("The classes you will assign. You can rename, reorder and "
                                  "recolour them later.")
        self._from_column_text = ("The labels listed below, plus any other label found in "
                                  "the label column")
        self._typed_text = ("Only the labels listed below (a row with another label stops "
                            "the import)")
        self.setSubTitle(self._classes_subtitle)
        layout = QVBoxLayout(self)
        self.from_column_radio = QRadioButton(self._from_column_text)
        self.typed_radio = QRadioButton(self._typed_text)
        group = QButtonGroup(self)
        group.addButton(self.from_column_radio)
        group.addButton(self.typed_radio)
        self.from_column_radio.toggled.connect(self.completeChanged)
        layout.addWidget(self.from_column_radio)
        layout.addWidget(self.typed_radio)
        layout.addWidget(QLabel("Labels, one per line (the first nine get the keys 1–9):"))
        self.labels_edit = QPlainTextEdit()
        self.labels_edit.setPlaceholderText("billing\ndelivery\nrefund")
        self.labels_edit.textChanged.connect(self.completeChanged)
        layout.addWidget(self.labels_edit, 1)
        self.note = QLabel()
        self.note.setObjectName("hintText")
        self.note.setWordWrap(True)
        layout.addWidget(self.note)

    def initializePage(self) -> None:  # noqa: N802 - Qt override
        if self._wizard.data_page.task() == "spans":
            self._init_spans()
            return
        self.setSubTitle(self._classes_subtitle)
        self.from_column_radio.setText(self._from_column_text)
        self.typed_radio.setText(self._typed_text)
        mapping = self._wizard.data_page.mapper.mapping()
        has_column = bool(mapping and mapping.label_col)
        self.from_column_radio.setEnabled(has_column)
        if has_column:
            self.from_column_radio.setChecked(True)
            if not self.labels_edit.toPlainText().strip():
                self.labels_edit.setPlainText("\n".join(self._wizard.data_page.mapper.label_values()))
            self.note.setText(
                f"The labels in the column {mapping.label_col!r} are imported as annotations. "
                "The list starts with those seen in the preview; edit it to choose the "
                "order (and so the keys 1–9) or to add labels the data does not use yet."
            )
        else:
            self.typed_radio.setChecked(True)
            self.note.setText("No label column was chosen: every record starts unlabelled.")

    def _init_spans(self) -> None:
        mapper = self._wizard.data_page.mapper
        self.setSubTitle("The kinds of entities you will mark (drug, dose, condition, ...). "
                         "You can rename, reorder and recolour them later.")
        self.from_column_radio.setText(
            "The labels listed below, plus any other label found in the file's entities")
        self.typed_radio.setText(
            "Only the labels listed below (an entity with another label stops the import)")
        found = mapper.label_values()
        self.from_column_radio.setEnabled(mapper.is_span_file)
        if mapper.is_span_file:
            self.from_column_radio.setChecked(True)
            if not self.labels_edit.toPlainText().strip():
                self.labels_edit.setPlainText("\n".join(found))
            self.note.setText(
                "The entities in the file are imported as annotations. The list starts with "
                "the labels seen in the preview; edit it to choose the order (and so the "
                "keys 1–9) or to add labels the file does not use yet.")
        else:
            self.typed_radio.setChecked(True)
            self.note.setText("The file has no entities: every record starts unlabelled.")

    def labels(self) -> list[str]:
        names = [line.strip() for line in self.labels_edit.toPlainText().splitlines()]
        return list(dict.fromkeys(n for n in names if n))

    def add_from_column(self) -> bool:
        return self.from_column_radio.isEnabled() and self.from_column_radio.isChecked()

    def isComplete(self) -> bool:  # noqa: N802 - Qt override
        return bool(self.labels()) or self.add_from_column()


class ImportPage(QWizardPage):
    """Page 3: summary, then the import with a progress bar."""

    def __init__(self, wizard: NewProjectWizard) -> None:
        super().__init__()
        self._wizard = wizard
        self.setTitle("Create the project")
        self.setSubTitle("Press Create to import the data. Cancel stops it and leaves nothing behind.")
        layout = QVBoxLayout(self)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        layout.addStretch(1)
        self.progress_box = ImportProgressBox()
        layout.addWidget(self.progress_box)

    def initializePage(self) -> None:  # noqa: N802 - Qt override
        w = self._wizard
        mapping = w.data_page.mapper.mapping()
        labels = w.labels_page.labels()
        lines = [
            f"<b>Data:</b> {w.data_page.mapper.path}",
            f"<b>Project file:</b> {w.data_page.project_path()}",
        ]
        if not w.data_page.mapper.is_span_file:
            lines.append(f"<b>Text column:</b> {mapping.text_col if mapping else ''}")
        if mapping and mapping.id_col:
            lines.append(f"<b>ID column:</b> {mapping.id_col}")
        if mapping and mapping.label_col:
            lines.append(f"<b>Label column:</b> {mapping.label_col}")
        kind = {"multi_label": "multi-label", "spans": "spans (entities in the text)"}.get(
            w.data_page.task(), "single-label")
        where = "the file's entities" if w.data_page.mapper.is_span_file else "the label column"
        shown = ", ".join(labels) if labels else f"(from {where})"
        if labels and w.labels_page.add_from_column():
            shown += f", and any other found in {where}"
        lines.append(f"<b>Labels ({kind}):</b> {shown}")
        self.summary.setText("<br>".join(lines))
        self.progress_box.finish("")


class NewProjectWizard(QWizard):
    """Create a project from a data file. Emits ``project_created(path)`` when done."""

    project_created = Signal(str)

    def __init__(self, parent: QWidget | None = None, start_file: str | Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New project")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.resize(860, 640)
        self.data_page = DataPage(self)
        self.labels_page = LabelsPage(self)
        self.import_page = ImportPage(self)
        self.addPage(self.data_page)
        self.addPage(self.labels_page)
        self.addPage(self.import_page)
        self.setButtonText(QWizard.WizardButton.FinishButton, "Create")
        self.job: JobHandle | None = None
        self.created_path: Path | None = None
        self.report: ImportReport | None = None
        if start_file is not None:
            self.data_page.mapper.set_file(start_file)

    # ----------------------------------------------------------------- the import
    def accept(self) -> None:
        """Finish pressed: start the import; the wizard closes when it has succeeded."""
        if self.created_path is not None:
            super().accept()
            return
        self.start_import()

    def start_import(self) -> JobHandle | None:
        """Create the project in a worker thread (also callable from scripts and tests)."""
        if self.job is not None and self.job.is_running():
            return self.job
        page = self.data_page
        mapping = page.mapper.mapping()
        project_path = page.project_path()
        if page.problem() or mapping is None or project_path is None or page.mapper.path is None:
            self.import_page.progress_box.finish(page.problem() or "Choose a data file.", error=True)
            return None
        self._set_busy(True)
        self.import_page.progress_box.start(f"Creating {project_path.name}…")
        add_labels = self.labels_page.add_from_column()
        if page.task() == "spans":
            job = create_span_project_job
            config = NewSpanProjectConfig(page.mapper.span_config(add_labels=add_labels),
                                          labels=self.labels_page.labels())
        else:
            job = create_project_job
            config = NewProjectConfig(
                mapping.import_config(page.mapper.path, add_labels=add_labels),
                labels=self.labels_page.labels(),
                multi_label=page.multi_radio.isChecked(),
            )
        self.job = run_in_thread(
            self,
            job,
            project_path,
            config,
            on_progress=self.import_page.progress_box.step,
            on_done=self._on_done,
            on_failed=self._on_failed,
            on_cancelled=self._on_cancelled,
            name="new-project",
        )
        self._pending_path = project_path
        return self.job

    def _set_busy(self, busy: bool) -> None:
        for which in (QWizard.WizardButton.BackButton, QWizard.WizardButton.FinishButton):
            button = self.button(which)
            if button is not None:
                button.setEnabled(not busy)

    def _on_done(self, report: ImportReport) -> None:
        self.report = report
        self.created_path = self._pending_path
        self.job = None
        self.import_page.progress_box.finish(f"Created: {report.summary()}.")
        self.project_created.emit(str(self.created_path))
        super().accept()

    def _on_failed(self, exc: BaseException) -> None:
        self.job = None
        message = plain_message(exc, add_labels="go back and choose “plus any other label "
                                "found”").replace("Import failed:", "Could not create the project:")
        self.import_page.progress_box.finish(message + " No project was created.", error=True)
        self._set_busy(False)

    def _on_cancelled(self) -> None:
        self.job = None
        self.import_page.progress_box.finish("Cancelled: no project was created.")
        self._set_busy(False)

    def reject(self) -> None:
        """Cancel stops a running import first; pressed again (or idle) it closes."""
        if self.job is not None and self.job.is_running():
            self.import_page.progress_box.status.setText("Cancelling…")
            self.job.cancel()
            return
        super().reject()

    def shutdown(self) -> None:
        """Stop a running import and wait for it (called when the app quits)."""
        if self.job is not None:
            self.job.cancel()
            self.job.wait(10_000)
