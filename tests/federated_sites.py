"""Start several federation sites as separate processes, paying torch's import once.

Run as ``python federated_sites.py``: this process imports the site job's libraries once,
says ``ready``, then for each line ``ADDRESS OUT_DIR PROJECT:NAME[@CA_CERT] ...`` on stdin forks one
process per site (this process never opens a gRPC connection, so forking is safe), says
``started`` and, once all have ended, ``done``. Each site runs ``join_job`` and writes
``OUT_DIR/NAME.json`` with its exit code, messages and result; ``OUT_DIR/pids.json`` maps
names to process ids so a test can kill one site.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def _site(address: str, out: Path, project: str, name: str, ca_cert: str = "") -> int:
    from workbench.core.errors import WorkbenchError
    from workbench.core.federated import JoinConfig, SiteConfig, join_job

    messages: list[str] = []
    record: dict = {"code": 0}
    try:
        result = join_job(project, JoinConfig(SiteConfig(address=address, name=name, connect_s=120.0,
                                                      ca_cert=ca_cert)),
                          progress=lambda e: messages.append(f"{time.time():.1f} {e.message}"), should_stop=lambda: False)
        record.update(rounds=result.rounds, run_id=result.run_id, metrics=result.last_metrics)
    except WorkbenchError as exc:
        record.update(code=1, error=str(exc))
    record["messages"] = messages
    (out / f"{name}.json").write_text(json.dumps(record))
    return record["code"]


def main() -> int:
    # Everything a site loads lazily, imported before forking (no gRPC channel exists yet,
    # and with one OpenMP thread no thread pool either: forking is safe).
    import sklearn.metrics  # noqa: F401
    import torch  # noqa: F401
    from flwr.client import NumPyClient, start_client  # noqa: F401
    from transformers import AutoModelForSequenceClassification, BertForSequenceClassification  # noqa: F401

    import workbench.core.federated.local  # noqa: F401
    import workbench.core.federated.site  # noqa: F401

    print("ready", flush=True)
    for line in sys.stdin:
        address, out_dir, *specs = line.split()
        out = Path(out_dir)
        pids = {}
        for spec in specs:
            spec, _at, ca_cert = spec.partition("@")
            project, name = spec.rsplit(":", 1)
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    code = _site(address, out, project, name, ca_cert)
                finally:
                    os._exit(code)
            pids[name] = pid
        (out / "pids.json").write_text(json.dumps(pids))
        print("started", flush=True)
        for pid in pids.values():
            os.waitpid(pid, 0)
        print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
