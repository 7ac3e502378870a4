"""The self-test never reaches for the network.

``workbench --self-test`` runs in a subprocess whose ``sitecustomize`` (so any Python child
process is covered too) replaces socket connects, sends and name look-ups with a guard that
records the attempt in a log file and raises. Local (AF_UNIX) sockets are allowed. A
control run shows that the guard does catch a real connection attempt.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

GUARD = r'''
import os
import socket

_LOG = os.environ["WB_NET_LOG"]


def _attempt(kind, detail):
    with open(_LOG, "a", encoding="utf-8") as f:
        f.write(f"{os.getpid()} {kind} {detail!r}\n")
    raise OSError(f"network access blocked by the test guard ({kind} {detail!r})")


def _local(sock):
    return getattr(socket, "AF_UNIX", None) is not None and sock.family == socket.AF_UNIX


_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex
_sendto = socket.socket.sendto


def connect(self, address):
    if _local(self):
        return _connect(self, address)
    _attempt("connect", address)


def connect_ex(self, address):
    if _local(self):
        return _connect_ex(self, address)
    _attempt("connect_ex", address)


def sendto(self, data, *args):
    if _local(self):
        return _sendto(self, data, *args)
    _attempt("sendto", args[-1] if args else None)


socket.socket.connect = connect
socket.socket.connect_ex = connect_ex
socket.socket.sendto = sendto
socket.create_connection = lambda address, *a, **k: _attempt("create_connection", address)
socket.getaddrinfo = lambda host, *a, **k: _attempt("getaddrinfo", host)
socket.gethostbyname = lambda host: _attempt("gethostbyname", host)
socket.gethostbyname_ex = lambda host: _attempt("gethostbyname_ex", host)
'''


def _guarded_env(tmp_path: Path) -> tuple[dict[str, str], Path]:
    guard_dir = tmp_path / "guard"
    guard_dir.mkdir()
    (guard_dir / "sitecustomize.py").write_text(GUARD, encoding="utf-8")
    log = tmp_path / "network-attempts.log"
    env = dict(os.environ)
    # The project root must stay importable (tests run the worktree's code).
    root = str(Path(__file__).resolve().parents[2])
    rest = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([str(guard_dir), root, *rest])
    env["WB_NET_LOG"] = str(log)
    env["QT_QPA_PLATFORM"] = "offscreen"
    # Take away the offline switches the test suite sets, so the guard, not an environment
    # variable, is what would stop a download.
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        env.pop(var, None)
    return env, log


def test_guard_catches_a_connection(tmp_path):
    env, log = _guarded_env(tmp_path)
    code = (
        "import socket, urllib.request\n"
        "for f in (lambda: socket.create_connection(('192.0.2.1', 80), timeout=1),\n"
        "          lambda: urllib.request.urlopen('http://example.invalid/', timeout=1)):\n"
        "    try:\n"
        "        f()\n"
        "    except OSError:\n"
        "        pass\n"
    )
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    attempts = log.read_text(encoding="utf-8").splitlines()
    assert any("create_connection" in a for a in attempts), attempts
    assert any("example.invalid" in a for a in attempts), attempts


def test_self_test_makes_no_network_attempt(tmp_path):
    env, log = _guarded_env(tmp_path)
    started = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "workbench", "--self-test"], env=env,
                       capture_output=True, text=True, timeout=240, cwd=tmp_path)
    elapsed = time.perf_counter() - started
    attempts = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    assert attempts == [], attempts
    assert r.returncode == 0, r.stdout + r.stderr
    assert "self-test: ok" in r.stdout
    assert "[8/8] window" in r.stdout  # every step ran, the window too
    assert elapsed < 120, f"self-test took {elapsed:.0f} s"
