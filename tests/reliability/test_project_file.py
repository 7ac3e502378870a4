"""Damaged, read-only and full project files; imports that never block a label; runs and
imports whose process died."""
from __future__ import annotations

import hashlib
import json
import os
import random
import resource
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from workbench.core.data.importer import add_texts, import_file, import_rows
from workbench.core.errors import ProjectError, WorkbenchError
from workbench.core.store.project import Project
from workbench.core.textnorm import content_hash
from workbench.core.training.runs import list_runs

PY = sys.executable


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _wb(*args: object, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", "workbench", *map(str, args)], capture_output=True,
                          text=True, timeout=120, **kw)


def _big_project(path: Path, n: int) -> None:
    """A project of ``n`` short records, written directly (fast) — about 330 bytes each."""
    with Project.create(path, ["pos", "neg"]) as project:
        rng = random.Random(1)
        words = [f"w{i}" for i in range(5000)]
        rows = []
        for i in range(1, n + 1):
            text = " ".join(rng.choice(words) for _ in range(55))
            rows.append((i, f"{i} {text}", content_hash(f"{i} {text}")))
        with project.db.atomic():
            project.conn.executemany(
                "INSERT INTO main.records(id, text, hash) VALUES (?, ?, ?)", rows
            )
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def _damage(path: Path, pages: int = 3) -> None:
    """Overwrite 800 random bytes at the start of ``pages`` pages in the middle of the file."""
    size = path.stat().st_size
    page = 4096
    rng = random.Random(7)
    with open(path, "r+b") as fh:
        for k in range(pages):
            fh.seek((size // page // 2 + 37 * k) * page)
            fh.write(bytes(rng.randrange(256) for _ in range(800)))


@pytest.mark.timeout(180)
def test_damage_in_a_large_project_is_found_before_any_write(tmp_path):
    path = tmp_path / "big.wbproj"
    _big_project(path, 250_000)
    assert path.stat().st_size > 70 * 2**20  # larger than what used to be checked at open
    _damage(path)
    before = _sha(path)
    # Opening stays quick (the check runs in the background) but no write gets through.
    try:
        project = Project.open(path)
    except ProjectError as exc:
        assert "damaged" in str(exc)
    else:
        with project, pytest.raises(ProjectError, match="damaged"):
            project.annotate(1, ["pos"], annotator="me")
    data = tmp_path / "more.csv"
    data.write_text("text\nsomething new\n")
    for args in (("import", path, data), ("label", path, "--id", "1", "--label", "pos")):
        result = _wb(*args)
        assert result.returncode != 0
        assert "damaged" in result.stderr and "Traceback" not in result.stderr, result.stderr
    Path(f"{path}-wal").unlink(missing_ok=True)
    Path(f"{path}-shm").unlink(missing_ok=True)
    assert _sha(path) == before


def _csv(path: Path, n: int, marker: str) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("text\n")
        for i in range(n):
            fh.write(f"{marker} row {i} with some words to index\n")
    return path


@pytest.mark.timeout(180)
def test_a_label_saves_while_a_long_import_runs(tmp_path):
    """The import commits in short pending chunks: a label pressed meanwhile is committed
    long before the import ends, and the import's rows stay hidden until it is complete."""
    path = tmp_path / "p.wbproj"
    with Project.create(path, ["pos", "neg"]) as project:
        add_texts(project, [f"existing {i}" for i in range(50)])
    data = _csv(tmp_path / "big.csv", 60_000, "imported")
    importer = subprocess.Popen([PY, "-m", "workbench", "import", str(path), str(data)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    labels: list[tuple[float, int]] = []
    try:
        with Project.open(path) as project:
            deadline = time.monotonic() + 60
            while project.conn.execute(
                "SELECT count(*) FROM main.records WHERE text LIKE 'imported%'"
            ).fetchone()[0] == 0:
                assert importer.poll() is None and time.monotonic() < deadline
                time.sleep(0.01)
            for rid in range(1, 41):
                if importer.poll() is not None:
                    break
                project.annotate(rid, ["pos"], annotator="labeller")
                # The label is committed, and the unfinished import is invisible.
                labels.append((time.monotonic(), project.record_count()))
                time.sleep(0.02)
    finally:
        out, err = importer.communicate(timeout=120)
    ended = time.monotonic()
    assert importer.returncode == 0, err
    # All or nothing: the import's rows are either all hidden or (once published, just
    # before the process exits) all there, never part of them.
    assert all(count in (50, 60_050) for _, count in labels)
    assert sum(count == 50 for _, count in labels) >= 5, "the import ended before the labels"
    assert labels[-1][0] < ended
    with Project.open(path) as project:
        assert project.record_count() == 60_050
        assert len([a for a in project.annotations_for(1)]) == 1
        assert project.conn.execute(
            "SELECT count(*) FROM annotations WHERE annotator = 'labeller'").fetchone()[0] == len(labels)
        assert project.search("imported")  # the full-text index covers the import


def test_cancelled_import_leaves_the_project_as_it_was(tmp_path):
    from project_dump import project_dump

    path = tmp_path / "p.wbproj"
    with Project.create(path, ["pos"]) as project:
        add_texts(project, ["one", "two"])
    before = project_dump(path)
    data = tmp_path / "d.csv"
    data.write_text("text,label\n" + "".join(f"row {i},new{i % 3}\n" for i in range(5000)))
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 4

    with Project.open(path) as project:
        with pytest.raises(WorkbenchError, match="cancelled"):
            import_file(project, data, label_col="label", add_labels=True, should_stop=stop)
    assert project_dump(path) == before


KILLED_IMPORT = textwrap.dedent(
    """
    import os, sys
    from workbench.core.store.project import Project
    from workbench.core.data.importer import import_rows
    def rows():
        for i in range(100000):
            if i == 30000:
                print("half", flush=True); os.kill(os.getpid(), 9)
            yield {"text": f"killed import {i}", "label": "fresh"}
    with Project.open(sys.argv[1]) as p:
        import_rows(p, rows(), text_col="text", label_col="label", add_labels=True)
    """
)


def test_an_import_killed_midway_is_rolled_back_on_the_next_open(tmp_path):
    from project_dump import project_dump

    path = tmp_path / "p.wbproj"
    with Project.create(path, ["pos"]) as project:
        add_texts(project, ["one", "two"])
        project.annotate(1, ["pos"], annotator="me")
    before = project_dump(path)
    proc = subprocess.run([PY, "-c", KILLED_IMPORT, str(path)], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL and "half" in proc.stdout
    raw = sqlite3.connect(path)
    assert raw.execute("SELECT count(*) FROM records").fetchone()[0] > 2  # rows were written
    raw.close()
    with Project.open(path) as project:  # hidden from the start, removed on open
        assert project.record_count() == 2
        assert project.label_names() == ["pos"]
        project.annotate(2, ["pos"], annotator="me")
        project.restore_annotation(2, "me", None)
    assert project_dump(path) == before


RUN_THEN_DIE = textwrap.dedent(
    """
    import os, sys
    from workbench.core.store.project import Project
    from workbench.core.training.runs import create_run
    with Project.open(sys.argv[1]) as p:
        run_id = create_run(p, base_model="tiny", config={}, snapshot_hash="x", device="cpu")
        (p.models_dir / f".run-{run_id}.partial").mkdir(parents=True)
        (p.models_dir / f".run-{run_id}.partial" / "model.safetensors").write_bytes(b"half")
    print(run_id, flush=True)
    os.kill(os.getpid(), 9)
    """
)


def test_a_run_whose_process_died_becomes_interrupted(tmp_path):
    path = tmp_path / "p.wbproj"
    Project.create(path, ["pos"]).close()
    proc = subprocess.run([PY, "-c", RUN_THEN_DIE, str(path)], capture_output=True, text=True)
    run_id = int(proc.stdout.split()[0])
    with Project.open(path) as project:
        run = list_runs(project)[0]
        assert run["id"] == run_id and run["status"] == "interrupted"
        assert "stopped" in run["error"]
        assert not list(project.models_dir.glob(".run-*.partial"))
    result = _wb("runs", path)
    assert "interrupted" in result.stdout, result.stdout + result.stderr


def test_a_running_run_of_a_live_process_is_left_alone(tmp_path):
    path = tmp_path / "p.wbproj"
    with Project.create(path, ["pos"]) as project:
        from workbench.core.training.runs import create_run

        create_run(project, base_model="tiny", config={}, snapshot_hash="x", device="cpu")
    with Project.open(path) as project:
        assert list_runs(project)[0]["status"] == "running"


def test_read_only_project_opens_for_reading(tmp_path):
    path = tmp_path / "p.wbproj"
    with Project.create(path, ["pos", "neg"]) as project:
        add_texts(project, ["one", "two"])
        project.annotate(1, ["pos"], annotator="me")
    before = _sha(path)
    with Project.open(path, read_only=True) as project:
        assert project.stats()["labelled"] == 1
        with pytest.raises(ProjectError, match="read-only"):
            project.annotate(2, ["neg"], annotator="me")
    assert _sha(path) == before
    if os.geteuid() != 0:  # permissions do not bind root
        path.chmod(0o444)
        path.parent.chmod(0o555)
        try:
            assert _wb("stats", path).returncode == 0
            out = tmp_path.parent / f"{tmp_path.name}-export.csv"
            assert _wb("export", path, out).returncode == 0
            result = _wb("label", path, "--id", "2", "--label", "neg")
            assert result.returncode != 0 and "read-only" in result.stderr
        finally:
            path.parent.chmod(0o755)
            path.chmod(0o644)


def test_a_full_disk_is_one_sentence_and_loses_nothing(tmp_path):
    path = tmp_path / "p.wbproj"
    with Project.create(path, ["pos"]) as project:
        add_texts(project, ["one"])
    from project_dump import project_dump

    before = project_dump(path)
    with Project.open(path) as project:
        pages = project.conn.execute("PRAGMA page_count").fetchone()[0]
        project.conn.execute(f"PRAGMA max_page_count = {pages + 2}")
        with pytest.raises(WorkbenchError) as info:
            import_rows(project, [{"text": f"row {i} " + "x" * 200} for i in range(3000)],
                        text_col="text")
        assert "full" in str(info.value) and "\n" not in str(info.value)
    assert project_dump(path) == before


def _limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (6000, 6000))


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_new_on_a_full_disk_leaves_no_stub(tmp_path):
    path = tmp_path / "p.wbproj"
    result = subprocess.run([PY, "-m", "workbench", "new", str(path), "--labels", "a,b"],
                            capture_output=True, text=True, preexec_fn=_limit_file_size)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
    assert _wb("new", path, "--labels", "a,b").returncode == 0


def test_search_with_control_characters(tmp_path):
    with Project.create(tmp_path / "p.wbproj", ["a"]) as project:
        add_texts(project, ["hello world"])
        assert project.search("\x00") == []
        assert project.search("hel\x00lo world") == []
        assert project.search("hello\x00") == [1]


def test_concurrent_reads_during_the_damage_check(tmp_path):
    """Reads go on while a large project is checked in the background."""
    path = tmp_path / "big.wbproj"
    _big_project(path, 120_000)
    with Project.open(path) as project:
        assert project.get_record(5).id == 5
        project.annotate(5, ["pos"], annotator="me")  # waits for the check, then saves
    with Project.open(path) as project:
        assert project.get_annotation(5, "me") is not None
    assert json.loads(_wb("stats", path, "--json").stdout)["labelled"] == 1
