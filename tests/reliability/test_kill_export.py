"""SIGKILL during an ONNX bundle export never leaves a half-written bundle (issue 11)."""
from __future__ import annotations

from kill_export import kill_export_loop


def test_killed_exports_leave_nothing_half_written(tmp_path):
    figures = kill_export_loop(20, seed=11, workdir=tmp_path, max_seconds=150)
    assert figures["iterations"] == 20, figures
    assert figures["broken"] == 0 and figures["integrity_failures"] == 0, figures["problems"]
    assert figures["absent"] + figures["complete"] == figures["iterations"], figures
    assert figures["killed"] >= 10, figures  # most exports really were interrupted
    # At most what the last kill left (its staging folder, and the replaced bundle when
    # it died while swapping folders); earlier leftovers are removed by the next export.
    assert figures["leftovers"] <= 2, figures
