"""The labelling view's own keys (label shortcuts must avoid the reserved ones)."""
from __future__ import annotations

__all__ = ["KEYS", "RESERVED_LABEL_KEYS"]

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
