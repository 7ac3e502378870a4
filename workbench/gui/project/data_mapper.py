"""Choosing a data file: its preview, the column mapping and the import progress box
(shared by the import dialog, the new-project wizard and the export dialog)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.core.data.columns import guess_text_column
from workbench.core.data.importer import (
    ImportProgress,
    preview_file,
    split_labels,
)
from workbench.core.data.jobs import ImportConfig
from workbench.core.errors import ImportDataError, WorkbenchError

__all__ = [
    "DATA_FILE_FILTER",
    "ColumnMapping",
    "DataFileMapper",
    "ImportProgressBox",
]

log = logging.getLogger(__name__)

DATA_FILE_FILTER = (
    "Data files (*.csv *.tsv *.tab *.jsonl *.ndjson *.json *.xlsx *.parquet *.pq *.txt);;"
    "Span files (*.conll *.conllu *.iob *.bio *.jsonl *.json);;"
    "All files (*)"
)
NONE_CHOICE = "(none)"
PREVIEW_ROWS = 20
_ID_NAMES = ("id", "record_id", "uid", "key", "message_id", "doc_id")
_LABEL_NAMES = ("label", "labels", "intent", "category", "class", "tag", "tags", "topic")


@dataclass(frozen=True)
class ColumnMapping:
    """Which columns of a data file hold the text, the record id and the label(s)."""

    text_col: str
    id_col: str | None = None
    label_col: str | None = None

    def import_config(self, path: Path, *, add_labels: bool = False) -> ImportConfig:
        """The :class:`ImportConfig` that imports ``path`` with this mapping."""
        return ImportConfig(path, text_col=self.text_col, id_col=self.id_col,
                            label_col=self.label_col, add_labels=add_labels)


# --------------------------------------------------------------------- widgets
def _guess(columns: list[str], names: tuple[str, ...]) -> str | None:
    lowered = {c.lower().strip(): c for c in columns}
    for name in names:
        if name in lowered:
            return lowered[name]
    return None


class DataFileMapper(QWidget):
    """Choose a data file, preview its first rows, and map the text/id/label columns."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.columns: list[str] = []
        self.rows: list[dict[str, Any]] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)

        file_row = QHBoxLayout()
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("CSV, TSV, JSON Lines, JSON, Excel, Parquet or plain text")
        self.path_edit.editingFinished.connect(self._path_edited)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        file_row.addWidget(QLabel("Data file:"))
        file_row.addWidget(self.path_edit, 1)
        file_row.addWidget(browse)
        layout.addLayout(file_row)

        self.error_label = QLabel()
        self.error_label.setObjectName("errorText")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        layout.addWidget(self.error_label)

        self.preview = QTableWidget(0, 0)
        self.preview.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.preview.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.preview.setAlternatingRowColors(True)
        self.preview.setWordWrap(False)
        self.preview.verticalHeader().setDefaultSectionSize(24)
        self.preview.setMinimumHeight(180)
        layout.addWidget(self.preview, 1)

        self.form = form = QFormLayout()
        self.text_combo = QComboBox()
        self.id_combo = QComboBox()
        self.label_combo = QComboBox()
        self.text_combo.setToolTip("The column with the text to label")
        self.id_combo.setToolTip("Optional: your own identifier for each record, kept for export")
        self.label_combo.setToolTip("Optional: labels that already exist, imported as annotations")
        for combo in (self.text_combo, self.id_combo, self.label_combo):
            combo.currentIndexChanged.connect(self._mapping_changed)
        form.addRow("Text column:", self.text_combo)
        form.addRow("ID column:", self.id_combo)
        form.addRow("Label column:", self.label_combo)
        layout.addLayout(form)

    # ----------------------------------------------------------------- file
    def _browse(self) -> None:
        start = str(Path(self.path_edit.text()).parent) if self.path_edit.text() else ""
        path, _ = QFileDialog.getOpenFileName(self, "Choose a data file", start, DATA_FILE_FILTER)
        if path:
            self.set_file(path)

    def _path_edited(self) -> None:
        text = self.path_edit.text().strip()
        if text and text != str(self.path or ""):
            self.set_file(text)

    @property
    def path(self) -> Path | None:
        text = self.path_edit.text().strip()
        return Path(text) if text and self.columns else None

    def set_file(self, path: str | Path) -> bool:
        """Load the preview of ``path``; on a problem, show it and return False."""
        self.path_edit.setText(str(path))
        try:
            columns, rows = self.read_preview(Path(path))
        except WorkbenchError as exc:
            self._show_error(str(exc))
            self.columns, self.rows = [], []
            self._fill()
            return False
        except OSError as exc:
            self._show_error(f"Cannot read {path}: {exc.strerror or exc}")
            self.columns, self.rows = [], []
            self._fill()
            return False
        self.error_label.hide()
        self.columns, self.rows = columns, rows
        self._fill()
        return True

    def read_preview(self, path: Path) -> tuple[list[str], list[dict[str, Any]]]:
        """Column names and first rows of ``path`` (span files override this)."""
        return preview_file(path, rows=PREVIEW_ROWS)

    def _show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.show()

    def _fill(self) -> None:
        self.preview.clear()
        self.preview.setColumnCount(len(self.columns))
        self.preview.setRowCount(len(self.rows))
        self.preview.setHorizontalHeaderLabels(self.columns)
        for r, row in enumerate(self.rows):
            for c, col in enumerate(self.columns):
                value = row.get(col)
                text = "" if value is None else str(value)
                item = QTableWidgetItem(text if len(text) < 300 else text[:300] + "…")
                item.setToolTip(text[:2000])
                self.preview.setItem(r, c, item)
        text_guess = guess_text_column(self.columns, self.rows)
        id_guess = _guess(self.columns, _ID_NAMES)
        label_guess = _guess(self.columns, _LABEL_NAMES)
        for combo, guess, optional in (
            (self.text_combo, text_guess, False),
            (self.id_combo, id_guess, True),
            (self.label_combo, label_guess, True),
        ):
            combo.blockSignals(True)
            combo.clear()
            if optional:
                combo.addItem(NONE_CHOICE)
            combo.addItems(self.columns)
            if guess is not None:
                combo.setCurrentText(guess)
            combo.blockSignals(False)
        self._mapping_changed()

    # ----------------------------------------------------------------- mapping
    def _mapping_changed(self) -> None:
        mapping = self.mapping()
        for c, col in enumerate(self.columns):
            item = self.preview.horizontalHeaderItem(c)
            if item is None:
                continue
            role = ""
            if mapping is not None:
                if col == mapping.text_col:
                    role = " [text]"
                elif col == mapping.id_col:
                    role = " [id]"
                elif col == mapping.label_col:
                    role = " [label]"
            item.setText(col + role)
        # The text column takes the spare width; the others fit their (short) contents.
        header = self.preview.horizontalHeader()
        for c, col in enumerate(self.columns):
            text_col = mapping is not None and col == mapping.text_col
            mode = QHeaderView.ResizeMode.Stretch if text_col else QHeaderView.ResizeMode.Interactive
            header.setSectionResizeMode(c, mode)
            if not text_col:
                self.preview.resizeColumnToContents(c)
                self.preview.setColumnWidth(c, min(self.preview.columnWidth(c), 240))
        self.changed.emit()

    def mapping(self) -> ColumnMapping | None:
        """The chosen columns, or None while no file is loaded."""
        if not self.columns or not self.text_combo.currentText():
            return None

        def optional(combo: QComboBox) -> str | None:
            text = combo.currentText()
            return None if text in ("", NONE_CHOICE) else text

        return ColumnMapping(self.text_combo.currentText(), optional(self.id_combo), optional(self.label_combo))

    def set_mapping(self, text_col: str, id_col: str | None = None, label_col: str | None = None) -> None:
        """Choose the columns (for scripts and tests)."""
        self.text_combo.setCurrentText(text_col)
        self.id_combo.setCurrentText(id_col or NONE_CHOICE)
        self.label_combo.setCurrentText(label_col or NONE_CHOICE)

    def problem(self) -> str:
        """Why the current choice cannot be imported ('' when it can)."""
        mapping = self.mapping()
        if mapping is None:
            return "Choose a data file."
        if mapping.text_col in (mapping.id_col, mapping.label_col):
            return "The text column cannot also be the ID or label column."
        if mapping.id_col and mapping.id_col == mapping.label_col:
            return "The ID column cannot also be the label column."
        return ""

    def has_multiple_labels(self) -> bool:
        """True when a previewed label cell holds more than one label."""
        mapping = self.mapping()
        if mapping is None or mapping.label_col is None:
            return False
        return any(len(self._labels_in(row.get(mapping.label_col))) > 1 for row in self.rows)

    @staticmethod
    def _labels_in(value: object) -> list[str]:
        """Label names of a previewed cell; a cell the import would refuse counts as none
        here (the import itself names its row)."""
        try:
            return split_labels(value)
        except ImportDataError:
            return []

    def label_values(self) -> list[str]:
        """Distinct label values seen in the previewed rows, in order of appearance."""
        mapping = self.mapping()
        if mapping is None or mapping.label_col is None:
            return []
        seen: dict[str, None] = {}
        for row in self.rows:
            for name in self._labels_in(row.get(mapping.label_col)):
                seen.setdefault(name, None)
        return list(seen)


class ImportProgressBox(QWidget):
    """A progress bar with a status line, shown while an import runs."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.bar)
        layout.addWidget(self.status)
        self.bar.hide()

    def start(self, message: str = "Importing…") -> None:
        self.bar.setValue(0)
        self.bar.show()
        self.status.setObjectName("")
        self.status.setText(message)
        self.status.setStyleSheet("")

    def step(self, step: ImportProgress) -> None:
        if step.fraction is None:
            self.bar.setRange(0, 0)  # busy indicator
        else:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(step.fraction * 1000))
        if step.rows:
            self.status.setText(f"Importing… {step.rows:,} rows read")
        else:
            self.status.setText("Reading the file…")

    def finish(self, message: str, error: bool = False) -> None:
        self.bar.hide()
        self.status.setText(message)
        self.status.setObjectName("errorText" if error else "")
        # Re-polish so the stylesheet's #errorText rule applies or stops applying.
        self.status.style().unpolish(self.status)
        self.status.style().polish(self.status)
