"""The model card's opening for a non-specialist reader, and its calibration section.

The card opens with what the model does and how often it is right, in words (see
:func:`workbench.core.plain_words.what_this_means`), before any technical figure.
"""
from __future__ import annotations

from typing import Any

from workbench.core.plain_words import FIGURE_HELP, what_this_means

__all__ = ["summary_lines", "calibration_lines"]


def summary_lines(report: dict[str, Any], training: dict[str, Any] | None) -> list[str]:
    """"## In plain words" lines: the task, how often it is right, how to read confidence."""
    labels = report["labels"]
    results = (training or {}).get("results") or {}
    lines = ["## In plain words", ""]
    lines.append(
        f"This model reads a short text and picks {'one or more' if report['multi_label'] else 'one'} "
        f"of {len(labels)} labels ({', '.join(labels)}).")
    meaning = what_this_means(results)
    if meaning:
        lines.append(meaning)
    agreement = report.get("agreement")
    if report.get("quantized") and isinstance(agreement, (int, float)):
        lines.append(f"The small (int8) file gives the same answer as the full model for "
                     f"{agreement:.0%} of the texts checked.")
    if report.get("parity_ok"):
        lines.append("The exported model gives the same scores as the trained one (checked at "
                     "export).")
    calibration = results.get("calibration") or {}
    if calibration:
        lines.append(
            "Its confidence is calibrated: of the texts it labels at about 80 %, about 8 in 10 "
            "are right. Below about 60 % it is unsure: have a person check those texts.")
    return lines + [""]


def calibration_lines(training: dict[str, Any] | None) -> list[str]:
    """"## Confidence calibration" lines with the temperature and the ECE before/after."""
    calibration = ((training or {}).get("results") or {}).get("calibration") or {}
    if not calibration:
        return []
    return [
        "## Confidence calibration",
        "",
        f"- Method: {calibration.get('method', 'temperature scaling')}; temperature "
        f"{calibration.get('temperature', 1.0):.3f} (stored in `bundle.json`, applied by "
        "`predict.py`)",
        f"- Expected calibration error on the test split "
        f"(n={calibration.get('test_examples', 0)}): {calibration.get('ece_before', 0):.3f} "
        f"before, {calibration.get('ece_after', 0):.3f} after",
        f"- {FIGURE_HELP['ece']}",
        "",
    ]
