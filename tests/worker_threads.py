"""Running a job in a worker thread, as the panels do, from a test."""
from __future__ import annotations

import threading
from typing import Any


def in_worker(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``fn`` in a worker thread (as the Train panel does) and return its result."""
    box: dict = {}

    def work() -> None:
        try:
            box["result"] = fn(*args, **kwargs)
        except BaseException as exc:  # handed back to the test
            box["error"] = exc

    t = threading.Thread(target=work)
    t.start()
    t.join(timeout=600)
    if "error" in box:
        raise box["error"]
    return box["result"]
