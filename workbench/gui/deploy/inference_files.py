"""The Inference tab's choice of the file to classify: the text column chosen by the import
wizard's rule, a preview of its first texts, and no output file replaced silently."""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QFileDialog, QMessageBox

from workbench.core.data.columns import guess_text_column, peek_rows

__all__ = ["InputFileChoice", "FILE_FILTER"]

FILE_FILTER = "Texts (*.csv *.tsv *.jsonl *.txt);;All files (*)"


class InputFileChoice:
    """Mixed into the Inference panel: its input/output file fields, column list and preview
    (``input_edit``, ``output_edit``, ``column_combo``, ``preview_label``, ``peeked_rows``)."""

    input_edit: Any
    output_edit: Any
    column_combo: Any
    preview_label: Any
    peeked_rows: list[dict[str, Any]]

    def choose_input(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Texts to classify", "", FILE_FILTER)
        if path:
            self.set_input_file(path)

    def choose_output(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Write predictions to", self.output_edit.text(),
                                              "CSV (*.csv);;JSON Lines (*.jsonl)")
        if path:
            self.output_edit.setText(path)

    def input_changed(self) -> None:
        if self.input_edit.text().strip():
            self.set_input_file(self.input_edit.text().strip())

    def set_input_file(self, path: str | Path) -> None:
        """Choose the input file: fill the column list and suggest an output file."""
        path = Path(path)
        self.input_edit.setText(str(path))
        columns, self.peeked_rows = peek_rows(path, 20)
        self.column_combo.blockSignals(True)
        self.column_combo.clear()
        self.column_combo.addItems(columns)
        self.column_combo.setEnabled(bool(columns))
        guess = guess_text_column(columns, self.peeked_rows)  # the import wizard's rule
        if guess is not None:
            self.column_combo.setCurrentText(guess)
        self.column_combo.blockSignals(False)
        self.show_preview()
        if not self.output_edit.text().strip():
            self.output_edit.setText(str(path.with_name(path.stem + ".predictions.csv")))

    def show_preview(self) -> None:
        """The first texts of the chosen column, so a wrong column shows before classifying."""
        column = self.column_combo.currentText()
        texts = [str(r.get(column) or "") for r in self.peeked_rows[:3]] if column else []
        shown = "<br>".join(html.escape(t if len(t) <= 90 else t[:87] + "…") for t in texts)
        self.preview_label.setText(f"<i>First texts:</i><br>{shown}" if shown else "")

    def confirm_overwrite(self, path: Path) -> bool:
        """Ask before replacing an existing output file (never replaced silently)."""
        answer = QMessageBox.question(
            self, "Replace file?", f"{path} already exists. Replace it with the new predictions?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

