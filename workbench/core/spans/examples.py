"""One record read from or written to a span file: its text and character spans."""
from __future__ import annotations

from dataclasses import dataclass, field

from workbench.core.store.spans import Span

__all__ = ["SpanExample"]


@dataclass
class SpanExample:
    """A record of a span file. ``labelled`` is False for a plain record with no spans to
    take over (the annotator labels it); ``lines`` gives the file line of each span (for
    messages), ``line`` the record's first line."""

    text: str
    spans: list[Span] = field(default_factory=list)
    line: int = 0
    labelled: bool = True
    external_id: str | None = None
    lines: list[int] = field(default_factory=list)

    def line_of(self, index: int) -> int:
        return self.lines[index] if index < len(self.lines) else self.line
