"""Benchmark: import a large CSV into a new project, side by side with ``sqlite-utils insert``.

Generates a CSV of realistic support-style messages (40-400 characters), then

1. imports it with Workbench (content hashes, duplicate check, FTS index, one transaction),
2. inserts the same file with the ``sqlite-utils insert DB table FILE --csv`` command,
3. opens the imported project and computes its stats,

each in its own child process, and prints wall time, rows/s, peak RSS and the ratios.
It asserts nothing: the figures are for people to read.

    python benchmarks/import_1m.py                # 1,000,000 rows
    python benchmarks/import_1m.py --rows 100000  # a quicker run
"""
from __future__ import annotations

import argparse
import csv
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SUBJECTS = [
    "my order", "the invoice", "my account", "the app", "the delivery", "my password",
    "the refund", "my subscription", "the parcel", "the payment", "the website",
    "my card", "the update", "the checkout page", "my booking", "the warranty claim",
    "the mobile app", "my profile", "the shipping label", "the discount code",
]
PROBLEMS = [
    "still has not arrived", "was charged twice", "keeps crashing when I open it",
    "shows the wrong amount", "cannot be found anywhere", "was cancelled without notice",
    "is stuck on processing", "does not accept my details", "arrived damaged",
    "has been pending for a week", "logs me out every few minutes", "is missing an item",
    "says the code has expired", "will not load on my phone", "was sent to the wrong address",
]
OPENERS = [
    "Hi,", "Hello team,", "Good morning.", "Hey there!", "Dear support,", "Quick question:",
    "Sorry to bother you again.", "", "", "Urgent:", "Hi again,", "Thanks for the help so far.",
]
DETAILS = [
    "I ordered it on {day} and the tracking number does not work.",
    "I have tried {n} times already and nothing changes.",
    "Reference number {ref}, in case that helps.",
    "This is the {nth} time I am writing about this.",
    "Could you please look into it before {day}?",
    "My colleague had the same issue last {period}.",
    "I paid {amount} EUR and only got a partial confirmation.",
    "The error message says code {code}.",
    "I would like a refund or a replacement, whichever is faster.",
    "Can I change the address to {city} instead?",
    "Nothing in the help pages explains this.",
    "Please call me back on my usual number.",
]
CLOSERS = ["Thanks.", "Regards, {name}", "Cheers", "Thank you in advance!", "", "Best, {name}", "?!"]
NAMES = ["Ana", "Ben", "Chloe", "Dmitri", "Eva", "Farid", "Grace", "Hiro", "Ines", "Jonas"]
DAYS = ["Monday", "Tuesday", "Friday", "the 3rd", "the 14th", "the 28th", "last weekend"]
CITIES = ["Lyon", "Porto", "Leeds", "Gdansk", "Utrecht", "Bologna", "Graz", "Aarhus"]
INTENTS = ["shipping", "billing", "account", "technical", "refund"]


def make_text(rng: random.Random) -> str:
    """One message of 40-400 characters."""
    parts = [rng.choice(OPENERS), f"{rng.choice(SUBJECTS).capitalize()} {rng.choice(PROBLEMS)}."]
    target = rng.randint(40, 400)
    while len(" ".join(parts)) < target - 30:
        parts.append(
            rng.choice(DETAILS).format(
                day=rng.choice(DAYS),
                n=rng.randint(2, 9),
                ref=f"#{rng.randint(100000, 999999)}",
                nth=rng.choice(["second", "third", "fourth"]),
                period=rng.choice(["week", "month", "year"]),
                amount=f"{rng.randint(5, 900)}.{rng.randint(0, 99):02d}",
                code=f"E{rng.randint(100, 999)}",
                city=rng.choice(CITIES),
            )
        )
    parts.append(rng.choice(CLOSERS).format(name=rng.choice(NAMES)))
    text = " ".join(p for p in parts if p)
    if len(text) > 400:
        text = text[:397].rsplit(" ", 1)[0] + "..."
    if len(text) < 40:
        text += " Order " + str(rng.randint(10**6, 10**7))
    return text


def generate(path: Path, rows: int, seed: int = 7) -> None:
    """Write ``rows`` rows with columns id, text, channel, label (label on 5% of rows)."""
    rng = random.Random(seed)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "text", "channel", "label"])
        for i in range(rows):
            label = rng.choice(INTENTS) if rng.random() < 0.05 else ""
            w.writerow([f"T{i:07d}", make_text(rng), rng.choice(["email", "chat", "phone"]), label])


CHILD_IMPORT = r"""
import json, resource, sys, time
from workbench.core.store.project import Project
from workbench.core.data.importer import import_file
t0 = time.perf_counter()
p = Project.create(sys.argv[1], ["shipping", "billing", "account", "technical", "refund"])
r = import_file(p, sys.argv[2], text_col="text", id_col="id", label_col="label")
p.close()
t = time.perf_counter() - t0
print(json.dumps({"seconds": t, "added": r.added, "duplicates": r.duplicates,
                  "labelled": r.labelled,
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

CHILD_OPEN = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from workbench.core.store.project import Project
p = Project.open(sys.argv[1])
s = p.stats()
t_stats = time.perf_counter() - t0
t1 = time.perf_counter()
hits = {w: len(p.search(w)) for w in ("refund", "Gdansk", "warranty claim")}
t_search = (time.perf_counter() - t1) / 3
p.close()
print(json.dumps({"seconds": t_stats, "search_s": t_search, "records": s["records"],
                  "labelled": s["labelled"], "hits": hits,
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

CHILD_CMD = r"""
import json, resource, subprocess, sys, time
t0 = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
t = time.perf_counter() - t0
print(json.dumps({"seconds": t,
                  "rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def run_child(code: str, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dir", help="work folder (default: a temporary one, removed after)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()

    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="wb_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    csv_path = work / "messages.csv"
    try:
        t0 = time.perf_counter()
        generate(csv_path, args.rows)
        size_mib = csv_path.stat().st_size / 2**20
        print(f"generated {args.rows:,} rows ({size_mib:.0f} MiB) in {time.perf_counter() - t0:.1f} s")

        proj = work / "bench.wbproj"
        for p in (proj, Path(str(proj) + "-wal"), Path(str(proj) + "-shm")):
            p.unlink(missing_ok=True)
        wb = run_child(CHILD_IMPORT, str(proj), str(csv_path))
        wb_rate = args.rows / wb["seconds"]
        print(
            f"workbench import:   {wb['seconds']:7.1f} s  {wb_rate:9,.0f} rows/s  "
            f"peak RSS {wb['rss_mib']:6.0f} MiB  (added {wb['added']:,}, "
            f"duplicates {wb['duplicates']:,}, labelled {wb['labelled']:,}; hashes + FTS index)"
        )

        su_db = work / "sqlite_utils.db"
        su_db.unlink(missing_ok=True)
        exe = shutil.which("sqlite-utils") or str(Path(sys.executable).with_name("sqlite-utils"))
        su = run_child(CHILD_CMD, exe, "insert", str(su_db), "records", str(csv_path), "--csv")
        su_rate = args.rows / su["seconds"]
        print(
            f"sqlite-utils insert: {su['seconds']:7.1f} s  {su_rate:9,.0f} rows/s  "
            f"peak RSS {su['rss_mib']:6.0f} MiB  (plain insert, no index)"
        )
        print(f"ratio (workbench rows/s / sqlite-utils rows/s): {wb_rate / su_rate:.2f}")

        op = run_child(CHILD_OPEN, str(proj))
        print(
            f"open project + stats (incl. Python imports): {op['seconds']:.2f} s "
            f"({op['records']:,} records, {op['labelled']:,} labelled, "
            f"peak RSS {op['rss_mib']:.0f} MiB)"
        )
        print(f"full-text search, mean of 3 queries: {op['search_s'] * 1000:.0f} ms {op['hits']}")
        print(f"project file: {proj.stat().st_size / 2**20:.0f} MiB")
    finally:
        if not args.keep and not args.dir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
