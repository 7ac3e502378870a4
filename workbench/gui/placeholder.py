"""A panel that says what will appear in a tab that is not available yet."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from workbench.core.project import Project

__all__ = ["PlaceholderPanel"]


class PlaceholderPanel(QWidget):
    """Stands in for a panel whose module is missing (or failed to load)."""

    def __init__(self, title: str, description: str, problem: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("placeholderPanel")
        self.title = title
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        heading = QLabel(f"{title}: coming soon")
        heading.setObjectName("placeholderTitle")
        heading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(heading)
        body = QLabel(description)
        body.setObjectName("placeholderText")
        body.setWordWrap(True)
        body.setAlignment(Qt.AlignmentFlag.AlignCenter)
        body.setMaximumWidth(560)
        layout.addWidget(body, 0, Qt.AlignmentFlag.AlignHCenter)
        if problem:
            detail = QLabel(problem)
            detail.setObjectName("placeholderProblem")
            detail.setWordWrap(True)
            detail.setAlignment(Qt.AlignmentFlag.AlignCenter)
            detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            layout.addWidget(detail, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(2)

    def set_project(self, project: Project | None) -> None:
        """Nothing to show; present so the main window can treat every tab alike."""
