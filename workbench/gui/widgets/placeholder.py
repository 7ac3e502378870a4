"""Stand-ins: a panel that says what will appear in a tab that is not available yet, and
the welcome page shown while no project is open."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from workbench.core.resources import resource_path
from workbench.core.store.project import Project
from workbench.gui.widgets.panel import ChangesListener

__all__ = ["PlaceholderPanel", "WelcomePage"]


class PlaceholderPanel(ChangesListener, QWidget):
    """Stands in for a panel whose module is missing (or failed to load)."""

    status_message = Signal(str)
    open_records = Signal(list)
    changed = Signal(object)

    def __init__(self, title: str, description: str, problem: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("placeholderPanel")
        self.title = title
        outer = QHBoxLayout(self)
        outer.addStretch(1)
        column = QWidget()
        column.setMaximumWidth(560)
        outer.addWidget(column, 4)
        outer.addStretch(1)
        layout = QVBoxLayout(column)
        layout.addStretch(1)
        heading = QLabel(f"{title}: coming soon")
        heading.setObjectName("placeholderTitle")
        heading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(heading)
        body = QLabel(description)
        body.setObjectName("placeholderText")
        body.setWordWrap(True)
        body.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(body)
        if problem:
            detail = QLabel(problem)
            detail.setObjectName("placeholderProblem")
            detail.setWordWrap(True)
            detail.setAlignment(Qt.AlignmentFlag.AlignCenter)
            detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            layout.addWidget(detail)
        layout.addStretch(2)

    def set_project(self, project: Project | None) -> None:
        """Nothing to show; present so the main window can treat every tab alike."""


class WelcomePage(QWidget):
    """Shown while no project is open: start a project, open one, or try the demo."""

    new_requested = Signal()
    open_requested = Signal()
    demo_requested = Signal()
    recent_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("welcomePage")
        outer = QHBoxLayout(self)
        outer.addStretch(1)
        column = QVBoxLayout()
        outer.addLayout(column, 2)
        outer.addStretch(1)
        column.addStretch(1)
        icon = QLabel()
        pixmap = QPixmap(str(resource_path("icons", "workbench-64.png")))
        if not pixmap.isNull():
            icon.setPixmap(pixmap)
        column.addWidget(icon, 0, Qt.AlignmentFlag.AlignHCenter)
        title = QLabel("Workbench")
        title.setObjectName("welcomeTitle")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        column.addWidget(title)
        tagline = QLabel(
            "Label your texts, train a classifier on them and export it, all on this computer."
        )
        tagline.setObjectName("hintText")
        tagline.setWordWrap(True)
        tagline.setAlignment(Qt.AlignmentFlag.AlignCenter)
        column.addWidget(tagline)
        column.addSpacing(18)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.new_button = QPushButton("New project…")
        self.new_button.setObjectName("primaryButton")
        self.open_button = QPushButton("Open project…")
        self.demo_button = QPushButton("Try the demo project")
        self.demo_button.setToolTip("370 customer-support messages in 6 intents, partly labelled")
        self.new_button.clicked.connect(self.new_requested)
        self.open_button.clicked.connect(self.open_requested)
        self.demo_button.clicked.connect(self.demo_requested)
        for button in (self.new_button, self.open_button, self.demo_button):
            button.setMinimumWidth(150)
            buttons.addWidget(button)
        buttons.addStretch(1)
        column.addLayout(buttons)
        column.addSpacing(24)
        self.recent_title = QLabel("Recent projects")
        self.recent_title.setObjectName("sectionTitle")
        column.addWidget(self.recent_title)
        self.recent_list = QListWidget()
        self.recent_list.setObjectName("recentList")
        self.recent_list.setMaximumHeight(200)
        self.recent_list.itemActivated.connect(self._activated)
        column.addWidget(self.recent_list)
        column.addStretch(2)

    def set_recent(self, paths: list[str]) -> None:
        """List recent project files (the full path as tooltip)."""
        self.recent_list.clear()
        for path in paths:
            item = QListWidgetItem(f"{Path(path).stem}    —    {Path(path).parent}")
            item.setData(Qt.ItemDataRole.UserRole, path)
            item.setToolTip(path)
            self.recent_list.addItem(item)
        self.recent_title.setVisible(bool(paths))
        self.recent_list.setVisible(bool(paths))

    def _activated(self, item: QListWidgetItem) -> None:
        self.recent_chosen.emit(str(item.data(Qt.ItemDataRole.UserRole)))
