"""Words of a text highlighted by how much they drove a prediction (green: towards the
label, red: away from it), as rich text for a QLabel."""
from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

__all__ = ["highlighted_html", "EXPLAIN_HELP"]

EXPLAIN_HELP = ("Each word was hidden from the model in turn: green words made the predicted "
                "label more likely, red words less likely; the stronger the colour, the bigger "
                "the effect.")


def highlighted_html(text: str, explanation: Sequence[dict[str, Any]], *, limit: int = 600) -> str:
    """``text`` (cut to ``limit`` characters) with each explained word's background tinted
    by its weight, relative to the strongest weight."""
    strongest = max((abs(e["weight"]) for e in explanation), default=0.0) or 1.0
    out: list[str] = []
    pos = 0
    for e in sorted(explanation, key=lambda e: e["start"]):
        start, end = int(e["start"]), int(e["end"])
        if start < pos or start >= limit:
            continue
        out.append(html.escape(text[pos:start]))
        share = min(1.0, abs(float(e["weight"])) / strongest)
        word = html.escape(text[start:end])
        if share < 0.08:
            out.append(word)
        else:
            colour = "46, 160, 67" if e["weight"] > 0 else "207, 34, 46"
            out.append(f"<span style='background-color: rgba({colour}, {0.15 + 0.6 * share:.2f})'>"
                       f"{word}</span>")
        pos = end
    out.append(html.escape(text[pos:limit]) + ("…" if len(text) > limit else ""))
    return "".join(out)
