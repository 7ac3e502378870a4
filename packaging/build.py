"""Build the Workbench desktop bundle with PyInstaller (one folder, no Python needed).

Usage::

    python packaging/build.py                      # CPU flavour into dist/
    python packaging/build.py --flavour cuda       # from an environment with CUDA torch
    python packaging/build.py --dist /tmp/out --archive --self-test

The bundle lands in ``<dist>/workbench-<version>-<os>-<arch>-<flavour>/`` with the
executable ``workbench`` (``Workbench.exe`` + ``workbench-cli.exe`` on Windows,
``Workbench.app`` on macOS), the Linux desktop file, the icon and an install script.
The script prints the build time and the bundle's size (and where the size goes) and,
with ``--self-test``, runs the bundle's ``--self-test``. It writes the same figures to
``<dist>/<bundle name>.build.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
SPEC = PACKAGING / "workbench.spec"


def _version() -> str:
    sys.path.insert(0, str(ROOT))
    from workbench import __version__

    return __version__


def _os_name() -> str:
    return {"win32": "windows", "darwin": "macos"}.get(sys.platform, sys.platform.rstrip("0123456789"))


def bundle_name(flavour: str) -> str:
    """Folder name of the bundle, e.g. ``workbench-0.1.0-linux-x86_64-cpu``."""
    machine = platform.machine().lower().replace("amd64", "x86_64")
    return f"workbench-{_version()}-{_os_name()}-{machine}-{flavour}"


def folder_size(path: Path) -> int:
    """Bytes in all files under ``path`` (symbolic links not followed)."""
    total = 0
    for p in path.rglob("*"):
        if p.is_file() and not p.is_symlink():
            total += p.stat().st_size
    return total


def size_breakdown(bundle: Path, top: int = 12) -> list[tuple[str, int]]:
    """The largest top-level items of the bundle's library folder, biggest first."""
    lib = bundle / "_internal"
    if not lib.is_dir():
        lib = bundle
    sizes = []
    for item in lib.iterdir():
        if item.is_symlink():
            continue  # links to libraries counted where they point
        size = folder_size(item) if item.is_dir() else item.stat().st_size
        sizes.append((item.name, size))
    sizes.sort(key=lambda x: -x[1])
    return sizes[:top]


def check_environment(flavour: str) -> str:
    """Check PyInstaller and the torch build before spending minutes; returns torch's version."""
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        raise SystemExit(
            "PyInstaller is not installed: pip install 'pyinstaller>=6' (or pip install -e '.[packaging]')"
        ) from None
    import torch

    if flavour == "cpu" and torch.version.cuda:
        raise SystemExit(
            f"torch {torch.__version__} is a CUDA build; the cpu flavour needs the CPU wheel "
            "(pip install torch --index-url https://download.pytorch.org/whl/cpu)."
        )
    if flavour == "cuda" and not torch.version.cuda:
        raise SystemExit(
            f"torch {torch.__version__} has no CUDA; the cuda flavour needs a CUDA build of torch "
            "in this environment (pip install torch from PyPI on Linux/Windows)."
        )
    return torch.__version__


def _add_desktop_files(bundle: Path) -> None:
    """Linux: the desktop entry, the icon, MIME type and a per-user install script."""
    if not sys.platform.startswith("linux"):
        return
    shutil.copy2(PACKAGING / "workbench.desktop", bundle / "workbench.desktop")
    shutil.copy2(PACKAGING / "workbench-mime.xml", bundle / "workbench-mime.xml")
    shutil.copy2(ROOT / "resources" / "icons" / "workbench.png", bundle / "workbench.png")
    shutil.copy2(ROOT / "resources" / "icons" / "workbench.svg", bundle / "workbench.svg")
    script = bundle / "install-desktop-entry.sh"
    shutil.copy2(PACKAGING / "install-desktop-entry.sh", script)
    script.chmod(0o755)


def executable(bundle: Path) -> Path:
    """The command-line executable inside a bundle folder."""
    if sys.platform == "win32":
        return bundle / "workbench-cli.exe"
    if sys.platform == "darwin" and (bundle.parent / "Workbench.app").is_dir():
        return bundle.parent / "Workbench.app" / "Contents" / "MacOS" / "workbench"
    return bundle / "workbench"


def run_self_test(bundle: Path, timeout: int = 900) -> tuple[int, str, float]:
    """Run ``<bundle>/workbench --self-test`` off screen; returns (exit code, output, seconds)."""
    env = dict(os.environ)
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    start = time.perf_counter()
    proc = subprocess.run(
        [str(executable(bundle)), "--self-test"],
        capture_output=True, text=True, timeout=timeout, env=env, check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr, time.perf_counter() - start


def build(flavour: str, dist: Path, work: Path, clean: bool = False) -> dict:
    """Run PyInstaller on the spec; returns the figures (bundle path, seconds, bytes)."""
    torch_version = check_environment(flavour)
    name = bundle_name(flavour)
    dist.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
        "--distpath", str(dist), "--workpath", str(work / name), str(SPEC),
    ]
    if clean:
        cmd.insert(3, "--clean")
    env = dict(os.environ, WORKBENCH_FLAVOUR=flavour, WORKBENCH_BUNDLE_NAME=name)
    print(f"building {name} (torch {torch_version}) ...", flush=True)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, cwd=ROOT)
    seconds = time.perf_counter() - start
    bundle = dist / name
    broken = [p for p in bundle.rglob("*") if p.is_symlink() and not p.exists()]
    if broken:
        raise SystemExit(
            "the bundle has links to files the spec dropped: "
            + ", ".join(str(p.relative_to(bundle)) for p in broken)
        )
    _add_desktop_files(bundle)
    info = {
        "bundle": str(bundle),
        "flavour": flavour,
        "torch": torch_version,
        "python": platform.python_version(),
        "build_seconds": round(seconds, 1),
        "bundle_bytes": folder_size(bundle),
        "files": sum(1 for p in bundle.rglob("*") if p.is_file()),
        "largest": [{"name": n, "bytes": b} for n, b in size_breakdown(bundle)],
    }
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flavour", choices=("cpu", "cuda"), default="cpu",
                        help="torch build the bundle carries (default cpu; must match the installed torch)")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder (default dist/)")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "pyinstaller",
                        help="PyInstaller's work folder (default build/pyinstaller/)")
    parser.add_argument("--clean", action="store_true", help="empty PyInstaller's cache first")
    parser.add_argument("--archive", action="store_true", help="also pack the bundle (.tar.gz; .zip on Windows)")
    parser.add_argument("--self-test", action="store_true", help="run the bundle's --self-test afterwards")
    args = parser.parse_args(argv)

    info = build(args.flavour, args.dist.resolve(), args.work.resolve(), clean=args.clean)
    bundle = Path(info["bundle"])
    print(f"\nbundle: {bundle}")
    print(f"build time: {info['build_seconds']:.0f} s")
    print(f"size: {info['bundle_bytes'] / 1e6:.0f} MB in {info['files']} files")
    for item in info["largest"]:
        print(f"  {item['bytes'] / 1e6:8.1f} MB  {item['name']}")
    if args.archive:
        fmt = "zip" if sys.platform == "win32" else "gztar"
        start = time.perf_counter()
        archive = shutil.make_archive(str(bundle), fmt, root_dir=bundle.parent, base_dir=bundle.name)
        info["archive"] = archive
        info["archive_bytes"] = Path(archive).stat().st_size
        print(f"archive: {archive} ({info['archive_bytes'] / 1e6:.0f} MB, "
              f"{time.perf_counter() - start:.0f} s)")
    code = 0
    if args.self_test:
        code, output, seconds = run_self_test(bundle)
        print(output.rstrip())
        print(f"bundle self-test: exit code {code} in {seconds:.0f} s")
        info["self_test"] = {"exit_code": code, "seconds": round(seconds, 1)}
    (bundle.parent / f"{bundle.name}.build.json").write_text(json.dumps(info, indent=2) + "\n")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
