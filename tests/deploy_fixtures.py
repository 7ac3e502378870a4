"""Tiny trained-looking models and projects for the export and inference tests."""
from __future__ import annotations

import json
from pathlib import Path

from workbench.core.data.importer import add_texts

LABELS = ["billing", "delivery", "technical"]

TEXTS = {
    "billing": [
        "I was charged twice for my order",
        "please refund my money",
        "the invoice shows the wrong payment",
        "my card payment failed",
        "why is there a charge on my bill",
        "refund the charge please",
    ],
    "delivery": [
        "my package arrived late",
        "the delivery was slow and the package damaged",
        "where is my order",
        "shipping is very slow",
        "the package arrived broken",
        "when will my order be delivered",
    ],
    "technical": [
        "the app crash is a bug",
        "login error after password reset",
        "I cannot reset my password",
        "the app is slow and crashes",
        "error when I open the app",
        "bug in the login feature",
    ],
}


def make_classifier(base_model: Path, folder: Path, *, labels=LABELS, multi_label: bool = False,
                    run_id: int = 1, max_length: int = 64, seed: int = 0) -> Path:
    """Save a sequence classifier built on the tiny base model, with workbench_run.json."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(
        str(base_model),
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={n: i for i, n in enumerate(labels)},
        problem_type="multi_label_classification" if multi_label else "single_label_classification",
    )
    # Make the head produce clearly different outputs per text (a random head is near-flat).
    with torch.no_grad():
        model.classifier.weight.normal_(0.0, 2.0)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    AutoTokenizer.from_pretrained(str(base_model)).save_pretrained(folder)
    (folder / "workbench_run.json").write_text(json.dumps({
        "run_id": run_id, "labels": list(labels), "multi_label": multi_label,
        "thresholds": [0.5] * len(labels) if multi_label else None,
        "max_length": max_length, "base_model": "tiny-test-bert",
    }))
    return folder


def make_project_with_run(base_model: Path, folder: Path, *, unlabelled: int = 4) -> Path:
    """A project with labelled train/validation/test records and one completed run."""
    from workbench.core.store.project import Project, now_iso

    path = folder / "support.wbproj"
    with Project.create(path, LABELS) as project:
        splits = {}
        for label, texts in TEXTS.items():
            ids = add_texts(project, texts)
            for i, rid in enumerate(ids):
                project.annotate(rid, [label])
                splits[rid] = "train" if i < 2 else ("validation" if i < 4 else "test")
        project.set_splits(splits)
        add_texts(project, [f"please help with my order number {i}" for i in range(unlabelled)])
        model_dir = project.models_dir / "run-1"
        make_classifier(base_model, model_dir, run_id=1)
        with project.db.atomic():
            project.db.execute(
                "INSERT INTO runs(id, kind, status, created_at, finished_at, base_model, model_path) "
                "VALUES (1, 'train', 'completed', ?, ?, 'tiny-test-bert', ?)",
                [now_iso(), now_iso(), str(model_dir)],
            )
    return path


def export_tiny_project(base_model: Path, folder: Path, **kwargs):
    """Make the project with its run and export it; returns (project path, ExportReport)."""
    from workbench.core.deploy.onnx_export import export_run

    folder.mkdir(parents=True, exist_ok=True)
    path = make_project_with_run(base_model, folder)
    return path, export_run(path, **kwargs)


#: Run by ``python -c``: makes torch, transformers and workbench unimportable, then runs
#: the script given as argv[1] as __main__ with the remaining arguments; finally checks
#: that none of them was imported.
BLOCKED_RUNNER = r"""
import runpy, sys
class _Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('torch', 'transformers', 'workbench'):
            raise ImportError('blocked: ' + name)
        return None
sys.meta_path.insert(0, _Blocker())
script, sys.argv = sys.argv[1], sys.argv[1:]
code = 0
try:
    runpy.run_path(script, run_name='__main__')
except SystemExit as exc:
    code = exc.code or 0
leaked = [m for m in ('torch', 'transformers', 'workbench') if m in sys.modules]
if leaked:
    print('LEAKED', leaked, file=sys.stderr)
    sys.exit(99)
sys.exit(code)
"""


def run_copied_bundle(bundle_dir: Path, tmp_path: Path, texts: list[str], runner: str = BLOCKED_RUNNER) -> list:
    """Copy the bundle elsewhere and run its own ``predict.py --json`` in an isolated Python
    with ``runner``'s imports blocked; returns the parsed rows."""
    import os
    import shutil
    import subprocess
    import sys

    copy = tmp_path / f"copy-{Path(bundle_dir).name}"
    shutil.copytree(bundle_dir, copy)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-I", "-c", runner, str(copy / "predict.py"), "--json", *texts],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)
