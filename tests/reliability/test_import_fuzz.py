"""Seeded importer fuzzing: every mutated input imports cleanly or is refused with one line
and leaves the project unchanged (see import_fuzz.py)."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from import_fuzz import run_fuzz  # noqa: E402


def test_importer_fuzz_no_tracebacks_and_no_change_after_refusal(tmp_path):
    result = run_fuzz(cases=400, seed=20240611, workdir=tmp_path)
    assert result["tried"] == 400
    assert result["tracebacks"] == 0, result["failures"]
    assert result["changed_after_refusal"] == 0, result["failures"]
    assert result["multi_line_messages"] == 0, result["failures"]
    assert result["imported"] > 20 and result["refused_cleanly"] > 100
