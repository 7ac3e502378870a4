"""Kill -9 during span labelling through the core span operations: every span change the
child confirmed (printed after the operation returned) is on disk after the kill, and the
file passes the integrity check. Uses the loop helpers of ``killloop.py``."""
from __future__ import annotations

import json
import random
import sys

import killloop

ITERATIONS = 10
#: The states a record goes through in the child, in order.
STATES = [
    [[0, 7, "drug"]],
    [[0, 7, "drug"], [8, 13, "dose"]],
    [[0, 7, "condition"], [8, 13, "dose"]],
    [[0, 7, "condition"]],
]

#: Labels spans record by record (add, relabel, add, remove, confirm) and prints the
#: record's spans as JSON once each operation has returned.
SPAN_CHILD = r"""
import json, sys
from workbench.core.store import span_operations as ops
from workbench.core.store.project import Project
from workbench.core.store.spans import Span

path, prefix = sys.argv[1], sys.argv[2]
def show(project, rid):
    ann = project.get_annotation(rid, annotator)
    print(json.dumps([annotator, rid, [[s.start, s.end, s.label] for s in ann.spans]]), flush=True)
with Project.open(path) as project:
    print("open", flush=True)
    # Passes as fresh annotators, so a fast machine is still killed mid-way.
    for _pass in range(100):
      annotator = f"{prefix}-{_pass}"
      for rid in range(1, project.max_record_id() + 1):
        ops.add_span(project, rid, Span(0, 7, "drug"), annotator=annotator)
        show(project, rid)
        ops.add_span(project, rid, Span(8, 13, "dose"), annotator=annotator)
        show(project, rid)
        ops.relabel_span(project, rid, Span(0, 7, "drug"), "condition", annotator=annotator)
        show(project, rid)
        ops.remove_span(project, rid, Span(8, 13, "dose"), annotator=annotator)
        show(project, rid)
        if rid % 25 == 0:
            ops.label_all_occurrences(project, "aspirin", "drug", annotator=annotator)
            print("all", flush=True)
print("done", flush=True)
"""


def _make(path):
    from workbench.core.data.importer import add_texts
    from workbench.core.store.project import Project

    with Project.create(path, ["drug", "dose", "condition"], task="spans") as project:
        add_texts(project, [f"aspirin 81 mg daily, note {i}" for i in range(400)])


def test_kill_while_labelling_spans(tmp_path):
    from workbench.core.store.project import Project

    path = tmp_path / "spans.wbproj"
    _make(path)
    rng = random.Random(21)
    confirmed: dict[str, dict[int, list]] = {}
    killed = 0
    for i in range(ITERATIONS):
        annotator = f"killer-{i}"
        out = killloop.run_and_kill([sys.executable, "-c", SPAN_CHILD, str(path), annotator],
                                    delay=rng.uniform(0.02, 1.0), trigger="open")
        killed += out.killed
        for line in out.stdout:
            if line.startswith("["):
                who, rid, spans = json.loads(line)
                confirmed.setdefault(who, {})[rid] = spans
        assert killloop.integrity_ok(path)
    assert killed >= ITERATIONS // 2
    n = sum(len(v) for v in confirmed.values())
    assert n > 20  # the children did label before dying
    lost = 0
    with Project.open(path) as project:
        for annotator, records in confirmed.items():
            for rid, spans in records.items():
                ann = project.get_annotation(rid, annotator)
                on_disk = [[s.start, s.end, s.label] for s in ann.spans] if ann else None
                # The confirmed state, or the next one when the kill came between an
                # operation's commit and its printed line.
                k = STATES.index(spans)
                if on_disk not in STATES[k : k + 2]:
                    lost += 1
    assert lost == 0
