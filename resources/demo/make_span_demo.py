"""Synthetic clinical notes with entity spans: drug, dose, frequency and condition.

No real patient data: every note is assembled from hand-written sentence templates and
slot values with a fixed seed (the same seed gives the same notes). Notes are messy the
way real ones are: abbreviations (BID, q8h, PMH), inconsistent case, vitals and lab
values that look like doses but are not, list numbering, extra spaces and line breaks,
and a few misspelt drug names. ``route`` (PO, IV, ...) is an optional rare type used by
``benchmarks/ner.py``.

Run ``python resources/demo/make_span_demo.py`` to write ``clinical_notes.jsonl``
(spaCy-style JSONL: ``{"id", "text", "spans": [{"start", "end", "label"}]}``) next to this
script; Workbench's span demo project imports it (the first notes labelled).
"""
from __future__ import annotations

import json
import random
import re
from pathlib import Path

SEED = 20261203
OUT = Path(__file__).with_name("clinical_notes.jsonl")
N_NOTES = 240
DEMO_TYPES = ("drug", "dose", "frequency", "condition")

DRUGS = [
    "metformin", "lisinopril", "atorvastatin", "amlodipine", "aspirin", "warfarin",
    "apixaban", "insulin glargine", "levothyroxine", "omeprazole", "sertraline",
    "amoxicillin", "prednisone", "furosemide", "metoprolol succinate", "gabapentin",
    "albuterol", "ibuprofen", "acetaminophen", "clopidogrel", "hydrochlorothiazide",
    "losartan", "tramadol", "Lipitor", "Zoloft", "Eliquis", "Lasix", "Synthroid",
    "ceftriaxone", "vancomycin", "enoxaparin", "tamsulosin", "montelukast", "ondansetron",
]
MISSPELT = {"metformin": "metfromin", "atorvastatin": "atorvastatn", "lisinopril": "lisinipril",
            "amlodipine": "amlodapine", "gabapentin": "gabapentine"}
DOSES = [
    "500 mg", "1000 mg", "10mg", "20 mg", "40 mg", "0.5 mg", "81 mg", "5 mg", "25 mg",
    "100 mcg", "50 mcg", "20 units", "10 units", "2 puffs", "1 g", "875 mg", "4 mg", "5 mL",
    "12.5 mg", "2.5mg",
]
FREQUENCIES = [
    "twice daily", "BID", "once daily", "daily", "q8h", "every 6 hours as needed", "at bedtime",
    "qHS", "TID", "three times a day", "weekly", "PRN", "q12h", "every morning", "QID",
]
CONDITIONS = [
    "type 2 diabetes", "hypertension", "atrial fibrillation", "hyperlipidemia",
    "hypothyroidism", "GERD", "major depressive disorder", "community-acquired pneumonia",
    "COPD exacerbation", "heart failure", "chronic kidney disease stage 3", "migraine",
    "osteoarthritis of the knee", "asthma", "urinary tract infection", "DVT", "cellulitis",
    "BPH", "anxiety", "neuropathic pain", "CHF", "T2DM", "HTN", "afib",
]
ROUTES = ["PO", "IV", "subcutaneously", "by mouth", "inhaled", "IM", "SQ"]

# Sentence templates: {drug} {dose} {freq} {cond} {route} are entity slots; {n}, {bp},
# {hr}, {a1c}, {cr}, {age} are numbers that are not entities.
TEMPLATES = [
    "Started {drug} {dose} {freq} for {cond}.",
    "Continue {drug} {dose} {freq}.",
    "{drug} increased to {dose} {freq} due to poorly controlled {cond}.",
    "Hx of {cond}; on {drug} {dose}.",
    "Pt is a {age}yo with PMH of {cond} and {cond}.",
    "Patient reports taking {drug} {freq} but missed several doses last week.",
    "D/C {drug} (rash).",
    "Plan: 1) {cond} - {drug} {dose} {route} {freq} 2) {cond} - monitor.",
    "Give {drug} {dose} {route} now, then {freq}.",
    "Admitted with {cond}, treated with {drug} {dose} {route} {freq}.",
    "{cond} stable on {drug}.",
    "Switched from {drug} to {drug} {dose} {freq} for better control of {cond}.",
    "Allergies: {drug} (hives).",
    "Rx: {drug} {dose} {freq} x {n} days.",
    "Denies chest pain, SOB, fever.",
    "Vitals: BP {bp}, HR {hr}, T 98.{n}F, SpO2 9{n}% on RA.",
    "Labs: A1c {a1c}%, Cr {cr}, K 4.{n}.",
    "Follow up in {n} weeks.",
    "Discussed diet and exercise.",
    "No acute distress. Lungs clear.",
    "Known {cond}, not currently on treatment.",
    "Hold {drug} if SBP < 100.",
]


def _fill(rng: random.Random, template: str, types: tuple[str, ...],
          messy: bool) -> tuple[str, list[tuple[int, int, str]]]:
    text = ""
    spans: list[tuple[int, int, str]] = []
    pos = 0
    for match in re.finditer(r"\{(\w+)\}", template):
        text += template[pos : match.start()]
        slot = match.group(1)
        label = None
        if slot == "drug":
            value = rng.choice(DRUGS)
            if messy and value in MISSPELT and rng.random() < 0.15:
                value = MISSPELT[value]
            if messy and rng.random() < 0.2:
                value = value.upper() if rng.random() < 0.5 else value.capitalize()
            label = "drug"
        elif slot == "dose":
            value, label = rng.choice(DOSES), "dose"
        elif slot == "freq":
            value, label = rng.choice(FREQUENCIES), "frequency"
        elif slot == "cond":
            value, label = rng.choice(CONDITIONS), "condition"
        elif slot == "route":
            value, label = rng.choice(ROUTES), "route"
        elif slot == "bp":
            value = f"{rng.randint(100, 170)}/{rng.randint(60, 100)}"
        elif slot == "age":
            value = str(rng.randint(24, 93))
        elif slot == "hr":
            value = str(rng.randint(55, 110))
        elif slot == "a1c":
            value = f"{rng.randint(5, 11)}.{rng.randint(0, 9)}"
        elif slot == "cr":
            value = f"{rng.randint(0, 2)}.{rng.randint(0, 9)}"
        else:
            value = str(rng.randint(1, 9))
        if label is not None and label in types:
            spans.append((len(text), len(text) + len(value), label))
        text += value
        pos = match.end()
    text += template[pos:]
    text = re.sub(r"  +", " ", text)  # an empty route slot would leave two spaces
    return text, spans


def make_note(rng: random.Random, *, sentences: int, types: tuple[str, ...] = DEMO_TYPES,
              messy: bool = True) -> dict:
    """One note of ``sentences`` sentences with its spans (character offsets)."""
    text = ""
    spans: list[tuple[int, int, str]] = []
    for i in range(sentences):
        template = rng.choice(TEMPLATES)
        if "route" not in types:
            template = template.replace(" {route}", "")
        part, part_spans = _fill(rng, template, types, messy)
        if i:
            sep = rng.choice([" ", " ", " ", "  ", "\n", "\n\n"]) if messy else " "
            text += sep
        spans.extend((a + len(text), b + len(text), lab) for a, b, lab in part_spans)
        text += part
    return {"text": text,
            "spans": [{"start": a, "end": b, "label": lab} for a, b, lab in spans]}


def generate(n: int = N_NOTES, *, seed: int = SEED, types: tuple[str, ...] = DEMO_TYPES,
             min_sentences: int = 2, max_sentences: int = 7, messy: bool = True) -> list[dict]:
    """``n`` notes (dicts with ``id``, ``text`` and ``spans``); the same seed gives the
    same notes."""
    rng = random.Random(seed)
    notes = []
    for i in range(n):
        note = make_note(rng, sentences=rng.randint(min_sentences, max_sentences),
                         types=types, messy=messy)
        notes.append({"id": f"note-{i + 1:04d}", **note})
    return notes


def main() -> None:
    with OUT.open("w", encoding="utf-8", newline="\n") as fh:
        for note in generate():
            fh.write(json.dumps(note, ensure_ascii=False) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
