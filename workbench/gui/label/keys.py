"""The labelling view's own keys (label shortcuts must avoid the reserved ones), and the
shortcut actions of the labels themselves."""
from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

from workbench.core.store.project import Label

__all__ = ["KEYS", "RESERVED_LABEL_KEYS", "label_shortcut_actions"]

#: Single keys the labelling view uses itself; a label shortcut must not be one of them.
RESERVED_LABEL_KEYS = frozenset({"s", "f"})
#: The view's own keys, for the help pane and the buttons.
KEYS = {
    "skip": "S",
    "flag": "F",
    "comment": "Ctrl+M",
    "save": "Return",
    "back": "Alt+Left",
    "back2": "PgUp",
    "forward": "Alt+Right",
    "forward2": "PgDown",
    "undo": "Ctrl+Z",
    "redo": "Ctrl+Shift+Z",
    "redo2": "Ctrl+Y",
    "help": "F1",
    "find": "Ctrl+F",
}


def label_shortcut_actions(owner: QWidget, old: Sequence[QAction], labels: Sequence[Label],
                           context: Qt.ShortcutContext,
                           triggered: Callable[[], None]) -> list[QAction]:
    """Replace ``old`` on ``owner`` with one action per label that has a key; each action's
    data is the label's name."""
    for act in old:
        owner.removeAction(act)
        act.deleteLater()
    actions = []
    for label in labels:
        if not label.shortcut:
            continue
        act = QAction(label.name, owner)
        act.setShortcut(QKeySequence(label.shortcut))
        act.setShortcutContext(context)
        act.setData(label.name)
        act.triggered.connect(triggered)
        owner.addAction(act)
        actions.append(act)
    return actions
