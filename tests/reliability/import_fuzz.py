"""Seeded fuzz harness for the importer, and a peak-memory benchmark for huge inputs.

``run_fuzz`` mutates valid CSV/TSV/JSONL/JSON/XLSX/Parquet/TXT files (byte flips,
truncation, NULs, BOMs, odd encodings, huge or nested values, wrong columns, junk) and
imports each into a real project. The oracle: a clean import, or a ``WorkbenchError`` whose
message is one line and after which the project is unchanged. Anything else is a
"traceback".
"""
from __future__ import annotations

import io
import json
import random
import traceback
from pathlib import Path
from typing import Any

from project_dump import project_dump

from workbench.core.data.importer import add_texts

__all__ = ["run_fuzz", "peak_rss_for_inputs", "dump_tables"]

FORMATS = ["csv", "tsv", "jsonl", "json", "xlsx", "parquet", "txt"]
ENCODINGS = [None, None, None, "latin-1", "utf-16", "utf-32", "cp1252", "utf-7", "rot13",
             "ascii", "no-such-codec"]


def dump_tables(path: Path) -> dict[str, list[tuple]]:
    """Every row of every table and the full-text index's entries (see project_dump)."""
    return project_dump(path)


def _rows(rng: random.Random) -> list[dict[str, Any]]:
    words = ["parcel", "refund", "naïve", "😀", "=1+1", "a,b", 'q"uote', "line\nbreak", "",
             "\ud800" if rng.random() < 0.1 else "ok", "tab\there", " "]
    labels = ["pos", "neg", "pos|neg", "new label", "", None, 3, True, ["pos"], {"a": 1}]
    n = rng.randint(0, 30)
    rows = []
    for i in range(n):
        rows.append({
            "id": f"r{i}",
            "text": " ".join(rng.choice(words) for _ in range(rng.randint(0, 6))) + f" {i}",
            "label": rng.choice(labels),
            "meta": rng.choice([1, 2.5, None, "x", [1, 2], {"k": "v"}]),
        })
    return rows


def _encode(fmt: str, rows: list[dict[str, Any]], rng: random.Random) -> bytes:
    import pandas as pd

    def cell(v: Any) -> Any:
        return json.dumps(v) if isinstance(v, (list, dict)) else v

    if fmt in ("csv", "tsv", "txt"):
        import csv

        buf = io.StringIO()
        if fmt == "txt":
            buf.write("".join(str(r["text"]).replace("\n", " ") + "\n" for r in rows))
        else:
            w = csv.writer(buf, delimiter="," if fmt == "csv" else "\t")
            w.writerow(["id", "text", "label", "meta"])
            for r in rows:
                w.writerow([cell(r[k]) if r[k] is not None else "" for k in r])
        return buf.getvalue().encode("utf-8", "surrogatepass")
    if fmt == "jsonl":
        return "".join(json.dumps(r) + "\n" for r in rows).encode()
    if fmt == "json":
        return json.dumps(rows if rng.random() < 0.8 else {"records": rows}).encode()
    frame = pd.DataFrame([{k: (cell(v) if not isinstance(v, str) else
                               v.encode("utf-8", "replace").decode()) for k, v in r.items()}
                          for r in rows] or [{"id": None, "text": None, "label": None}])
    buf = io.BytesIO()
    if fmt == "xlsx":
        frame.astype(str).to_excel(buf, index=False)
    else:
        frame.astype(str).to_parquet(buf, index=False)
    return buf.getvalue()


def _mutate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    kind = rng.choice(["none", "flip", "truncate", "nul", "bom", "junk", "nested", "huge",
                       "columns", "insert", "multi"])
    b = bytearray(data)
    if kind == "flip" and b:
        for _ in range(rng.randint(1, 20)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    elif kind == "truncate" and b:
        del b[rng.randrange(len(b)):]
    elif kind == "nul" and b:
        b.insert(rng.randrange(len(b)), 0)
    elif kind == "bom":
        b[:0] = rng.choice([b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\xff\xfe\x00\x00",
                            b"\x00\x00\xfe\xff"])
    elif kind == "junk":
        b[rng.randrange(len(b) + 1):0] = bytes(rng.randrange(256) for _ in range(64))
    elif kind == "nested":
        depth = rng.choice([50, 2000, 100_000])
        b += b'{"text": ' + b"[" * depth + b"]" * depth + b"}\n"
    elif kind == "huge":
        b += b'"' + b"x" * rng.choice([100, 11 * 2**20]) + b'"\n'
    elif kind == "columns":
        b = bytearray(data.replace(b"text", b"txet", 1))
    elif kind == "insert" and b:
        pos = rng.randrange(len(b))
        b[pos:pos] = rng.choice([b'"', b",", b"\n", b"\r", b"[", b"{", b"\\u", b"\t", b"]"])
    elif kind == "multi" and b:
        for _ in range(3):
            b[rng.randrange(len(b))] = rng.randrange(256)
    return bytes(b), kind


def run_fuzz(cases: int, seed: int, workdir: Path) -> dict[str, Any]:
    """Import ``cases`` mutated files; counts of outcomes and up to 20 failing examples."""
    from workbench.core.data.importer import import_file
    from workbench.core.errors import WorkbenchError
    from workbench.core.store.project import Project

    rng = random.Random(seed)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, Any] = {"tried": 0, "refused_cleanly": 0, "imported": 0, "tracebacks": 0,
                              "changed_after_refusal": 0, "multi_line_messages": 0,
                              "failures": []}
    project_path = workdir / "fuzz.wbproj"
    project = Project.create(project_path, ["pos", "neg"], multi_label=True, overwrite=True)
    add_texts(project, ["seed record"])
    try:
        for case in range(cases):
            fmt = rng.choice(FORMATS)
            data, kind = _mutate(_encode(fmt, _rows(rng), rng), rng)
            encoding = rng.choice(ENCODINGS) if fmt not in ("xlsx", "parquet") else None
            read_fmt = fmt if rng.random() < 0.9 else rng.choice(FORMATS)
            path = workdir / f"case{case}.{fmt}"
            path.write_bytes(data)
            kwargs = {"fmt": read_fmt, "encoding": encoding, "add_labels": rng.random() < 0.7,
                      "label_col": "label" if read_fmt != "txt" and rng.random() < 0.7 else None,
                      "id_col": "id" if rng.random() < 0.5 else None}
            example = {"case": case, "format": fmt, "read_as": read_fmt, "mutation": kind,
                       "encoding": encoding, "file": str(path)}
            counts["tried"] += 1
            before = dump_tables(project_path)
            try:
                n_before = project.max_record_id()
                report = import_file(project, path, **kwargs)
                n_after = len(before["records"]) + report.added
                if n_after != len(dump_tables(project_path)["records"]) or \
                        project.max_record_id() < n_before:
                    raise AssertionError("record count does not match the report")
                counts["imported"] += 1
            except WorkbenchError as exc:
                message = str(exc)
                bad = []
                if "\n" in message or "\r" in message or not message.strip():
                    counts["multi_line_messages"] += 1
                    bad.append("message is not one line")
                if dump_tables(project_path) != before:
                    counts["changed_after_refusal"] += 1
                    bad.append("project changed")
                if bad:
                    counts["failures"].append({**example, "problem": bad, "message": message})
                else:
                    counts["refused_cleanly"] += 1
                    path.unlink()
            except Exception as exc:  # noqa: BLE001 - the harness records every escape
                counts["tracebacks"] += 1
                if len(counts["failures"]) < 20:
                    counts["failures"].append({
                        **example, "problem": f"{type(exc).__name__}: {exc}"[:300],
                        "traceback": traceback.format_exc(limit=-3)})
            else:
                path.unlink()
    finally:
        project.close()
    return counts


_CHILD = r"""
import resource, sys
from pathlib import Path
from workbench.core.store.project import Project
from workbench.core.data.importer import import_file
from workbench.core.errors import WorkbenchError
proj = Path(sys.argv[1]); src = Path(sys.argv[2])
p = Project.create(proj, ["a"], overwrite=True)
try:
    outcome = import_file(p, src).summary()
except WorkbenchError as exc:
    outcome = "refused: " + str(exc)
p.close()
print(outcome)
"""


def _write_big(path: Path, size: int) -> None:
    block = b"a" * (1 << 20)
    kind = path.suffix
    with open(path, "wb") as fh:
        fh.write({".txt": b"", ".jsonl": b'{"text": "', ".json": b'[{"text": "',
                  ".csv": b'text\n"'}[kind])
        for _ in range(size // len(block)):
            fh.write(block)
        fh.write({".txt": b"\n", ".jsonl": b'"}\n', ".json": b'"}]', ".csv": b'"\n'}[kind])


def peak_rss_for_inputs(workdir: Path, size: int = 200 * 2**20) -> dict[str, Any]:
    """Peak RSS (MB) of a fresh process importing each huge input, with its outcome.

    Inputs: a one-line TXT, a one-line JSON Lines record, a JSON array with one big record,
    a CSV with one big cell (all ``size`` bytes) and a 2-row Parquet with 100,000 columns.
    """
    import os
    import resource
    import subprocess
    import sys

    import pyarrow as pa
    import pyarrow.parquet as pq

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    inputs = []
    for suffix in (".txt", ".jsonl", ".json", ".csv"):
        path = workdir / f"big{suffix}"
        _write_big(path, size)
        inputs.append(path)
    wide = workdir / "wide.parquet"
    pq.write_table(pa.table({f"c{i}": ["x", "y"] for i in range(100_000)}), wide)
    inputs.append(wide)
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    results: dict[str, Any] = {}
    for path in inputs:
        # ru_maxrss of RUSAGE_CHILDREN is the largest child so far: run each in a
        # grandchild-free wrapper so every figure is its own.
        code = ("import resource, subprocess, sys\n"
                "subprocess.run([sys.executable, '-c', sys.argv[1], *sys.argv[2:]], check=True)\n"
                "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
        out = subprocess.run(
            [sys.executable, "-c", code, _CHILD, str(workdir / "rss.wbproj"), str(path)],
            capture_output=True, text=True, env=env, check=True)
        outcome, peak_kib = out.stdout.strip().splitlines()[-2:]
        results[path.name] = {"peak_rss_mb": round(int(peak_kib) / 1024, 1),
                              "size_mb": round(path.stat().st_size / 2**20, 1),
                              "outcome": outcome}
        path.unlink()
    del resource
    return results
