"""Run one benchmark script on two commits, interleaved, and print the figures side by side.

Each commit is checked out into a temporary git worktree and the script runs there in its
own process (``PYTHONPATH`` pointing at that tree), so both use the script and the code of
their own commit, on the same machine at the same time. Rounds alternate (old, new, old,
new, …) so that load on this shared machine falls on both alike.

    python benchmarks/compare_commits.py OLD_REV benchmarks/label_latency.py \
        --rounds 2 -- --records 200000 --labels 500 --no-scroll

Arguments after ``--`` go to the script; ``{tree}`` in them is replaced by each tree's
folder (e.g. ``--path {tree}/bench.wbproj`` keeps each commit's project file apart, as an
older commit may not open a newer schema).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _worktree(rev: str, where: Path) -> Path:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(where), rev],
                   check=True, capture_output=True)
    return where


def _run(tree: Path, script: str, args: list[str]) -> str:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    args = [a.replace("{tree}", str(tree)) for a in args]
    result = subprocess.run([sys.executable, str(tree / script), *args], cwd=tree, env=env,
                            capture_output=True, text=True)
    out = result.stdout
    if result.returncode != 0:
        out += f"\n(exit {result.returncode})\n{result.stderr[-3000:]}"
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", help="the earlier commit (e.g. a hash or main~5)")
    parser.add_argument("script", help="benchmark script, relative to the repository root")
    parser.add_argument("--new", default="HEAD", help="the later commit (default: HEAD)")
    parser.add_argument("--rounds", type=int, default=2)
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    opts = parser.parse_args(argv[:split])
    args = argv[split + 1 :]
    base = Path(tempfile.mkdtemp(prefix="wb-compare-"))
    trees = {}
    try:
        for tag, rev in (("old", opts.old), ("new", opts.new)):
            trees[tag] = _worktree(rev, base / tag)
            sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", rev],
                                 capture_output=True, text=True).stdout.strip()
            print(f"{tag}: {rev} ({sha})")
        for round_no in range(1, opts.rounds + 1):
            for tag in ("old", "new"):
                print(f"\n===== round {round_no}, {tag} commit =====", flush=True)
                print(_run(trees[tag], opts.script, args).rstrip(), flush=True)
    finally:
        for tree in trees.values():
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                           capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
