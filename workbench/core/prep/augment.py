"""EDA-style augmentation of labelled training records (Wei and Zou, 2019).

Operations: synonym replacement from a small English dictionary shipped here, random swap
and random deletion of words; ``strength`` is the share of words each operation changes.
Augmented rows are stored in ``augmented_records`` (never in ``records``), each pointing
at its source record: they carry the source's labels, and training adds them to its train
split only when ``TrainConfig.augment`` is on (sources in validation or test are never
augmented into training). Contextual substitution is not offered: the bundled MiniLM
ships without its masked-language-model head; back-translation needs translation models
that are not shipped.
"""
from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from workbench.core.jobs import ProgressEvent, never_stop, no_progress
from workbench.core.prep import steps
from workbench.core.prep.config import AugmentConfig
from workbench.core.prep.text_steps import StepReport
from workbench.core.store.project import Project, now_iso
from workbench.core.store.snapshot import resolve_label_map

__all__ = ["AugmentPlan", "augment_text", "apply_augment_plan", "augmented_count",
           "augmented_examples", "plan_augment", "SYNONYMS"]

_GROUPS = """
good great fine excellent nice|bad poor awful terrible|big large huge|small little tiny|
fast quick rapid speedy|slow sluggish|happy glad pleased|sad unhappy upset|angry annoyed
furious|help assist support|buy purchase|get receive obtain|send ship dispatch|start begin|
stop end finish|fix repair resolve|problem issue trouble fault|error fault glitch|
broken damaged faulty|order purchase|money cash funds|price cost charge fee|pay settle|
wrong incorrect mistaken|right correct|quickly fast rapidly|soon shortly|again once more|
want wish desire|need require|ask request|tell inform notify|show display|use utilise|
change modify alter|cancel revoke|refund reimbursement|late delayed overdue|item product article|
package parcel|account profile|password passcode|login sign-in|website site|app application|
crash freeze hang|work function operate|buy order|like enjoy love|hate dislike|
pain ache soreness|doctor physician clinician|patient client|medication medicine drug|
symptom sign|severe serious acute|mild slight minor|increase rise growth|decrease drop decline|
report statement|payment remittance|customer client|received got|sent shipped|
still yet|very really extremely|also too additionally|maybe perhaps possibly|
thanks thank-you cheers|please kindly|call phone ring|email message mail|week fortnight|
question query|answer reply response|home house|car vehicle|job work|quick fast
"""
SYNONYMS: dict[str, list[str]] = {}
for _group in _GROUPS.replace("\n", " ").split("|"):
    _words = _group.split()
    for _w in _words:
        SYNONYMS.setdefault(_w, [])
        SYNONYMS[_w].extend(x for x in _words if x != _w and x not in SYNONYMS[_w])

_TOKEN = re.compile(r"\S+")


def _synonym(word: str, rng: random.Random) -> str | None:
    core = word.strip(".,;:!?\"'()").lower()
    options = SYNONYMS.get(core)
    if not options:
        return None
    new = rng.choice(options)
    if word[:1].isupper():
        new = new.capitalize()
    return word.replace(word.strip(".,;:!?\"'()"), new, 1) if core else None


def augment_text(text: str, config: AugmentConfig, rng: random.Random) -> tuple[str, str]:
    """One augmented version of ``text`` and the operations used (e.g. ``"synonym+swap"``)."""
    words = _TOKEN.findall(text)
    if len(words) < 2:
        return text, ""
    n = max(1, round(config.strength * len(words)))
    used: list[str] = []
    ops = [op for op in ("synonyms", "swap", "delete") if getattr(config, op)]
    for op in rng.sample(ops, len(ops)):
        if op == "synonyms":
            places = [i for i, w in enumerate(words) if _synonym(w, rng) is not None]
            rng.shuffle(places)
            for i in places[:n]:
                words[i] = _synonym(words[i], rng) or words[i]
            if places:
                used.append("synonym")
        elif op == "swap":
            for _ in range(n):
                i, j = rng.randrange(len(words)), rng.randrange(len(words))
                words[i], words[j] = words[j], words[i]
            used.append("swap")
        elif op == "delete" and len(words) > 3:
            drop = set(rng.sample(range(len(words)), min(n, len(words) - 2)))
            words = [w for i, w in enumerate(words) if i not in drop]
            used.append("delete")
    return " ".join(words), "+".join(used)


@dataclass
class AugmentPlan:
    """Augmented rows to add: ``(source record id, text, method)``."""

    rows: list[tuple[int, str, str]] = field(default_factory=list)
    sources: int = 0
    kind: str = "augment"

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.kind, "sources": self.sources, "rows": len(self.rows),
                "examples": [{"source": s, "text": t, "method": m}
                             for s, t, m in self.rows[:5]]}


def plan_augment(project: Project, config: AugmentConfig, *,
                 progress: Callable[[ProgressEvent], None] = no_progress,
                 should_stop: Callable[[], bool] = never_stop) -> AugmentPlan:
    """Augmented copies of every labelled record outside the validation and test splits."""
    config.validate()
    labelled = resolve_label_map(project)
    records = [r for r in project.get_records(sorted(labelled))
               if r.split not in ("validation", "test")]
    plan = AugmentPlan(sources=len(records))
    rng = random.Random(config.seed)
    for done, record in enumerate(records, 1):
        if should_stop():
            from workbench.core.errors import Cancelled

            raise Cancelled("Augmentation cancelled; nothing was added.")
        seen = {record.text}
        for _ in range(config.copies):
            text, method = augment_text(record.text, config, rng)
            if text not in seen:
                seen.add(text)
                plan.rows.append((record.id, text, method))
        if done % 200 == 0 or done == len(records):
            progress(ProgressEvent("augment", done, len(records),
                                   f"Augmenting: {done} of {len(records)} records"))
    return plan


def apply_augment_plan(project: Project, plan: AugmentPlan,
                       options: dict[str, Any] | None = None) -> StepReport:
    """Store the augmented rows as one undoable step."""
    summary = f"{len(plan.rows)} augmented row(s) of {plan.sources} record(s)"
    with project.db.atomic():
        step_id = steps.new_step(project, plan.kind, options or {}, summary)
        now = now_iso()
        project.conn.executemany(
            "INSERT INTO augmented_records(source_id, text, method, step_id, created_at) "
            "SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM main.records WHERE id = ?)",
            [(s, t, m, step_id, now, s) for s, t, m in plan.rows],
        )
        applied = project.conn.execute(
            "SELECT count(*) FROM augmented_records WHERE step_id = ?", [step_id]).fetchone()[0]
    return StepReport(step_id, plan.kind, applied, len(plan.rows) - applied, summary)


def augmented_count(project: Project) -> int:
    """How many augmented rows the project stores."""
    return int(project.db.execute("SELECT count(*) FROM augmented_records").fetchone()[0])


def augmented_examples(project: Project, source_ids: Sequence[int]
                       ) -> list[tuple[int, int, str]]:
    """``(augmented row id, source record id, text)`` of the augmented rows of these
    sources, in row order."""
    ids = list(source_ids)
    out: list[tuple[int, int, str]] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        out.extend(project.db.execute(
            f"SELECT id, source_id, text FROM augmented_records WHERE source_id IN ({marks})",
            chunk).fetchall())
    return sorted(out)
