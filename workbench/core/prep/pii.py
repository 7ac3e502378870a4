"""Rules that find personal data in clinical and financial text, and typed placeholders.

Structured kinds are found by patterns and, where a checksum exists, validated by it: card
numbers by the Luhn check, IBANs by ISO 13616 mod-97, US social security numbers by their
allocation rules. Dates, phone numbers and IP addresses are checked for plausible ranges.
Person names are found only after a title (Dr., Mrs., ...): no name model ships offline.

Each distinct value of a kind in one text gets the same placeholder everywhere in that
text: ``<EMAIL>`` when the text has one address, ``<EMAIL_1>``, ``<EMAIL_2>`` ... when it
has several.
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from workbench.core.prep.config import PII_TYPES

__all__ = ["Finding", "find_pii", "iban_valid", "luhn_valid", "mask_text"]


@dataclass(frozen=True)
class Finding:
    """One piece of personal data: its kind and where it is."""

    kind: str
    start: int
    end: int
    value: str


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum of a card number (digits only)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


#: IBAN lengths per country (ISO 13616 registry, the common ones).
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AT": 20, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29, "CH": 21,
    "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "EE": 20, "ES": 24, "FI": 18, "FO": 18, "FR": 27,
    "GB": 22, "GI": 23, "GL": 18, "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IS": 26,
    "IT": 27, "KW": 30, "KZ": 20, "LB": 28, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27,
    "ME": 22, "MK": 19, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PT": 25,
    "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TN": 24,
    "TR": 26, "UA": 29,
}


def iban_valid(iban: str) -> bool:
    """ISO 13616: known country, its length, and the mod-97 check (spaces ignored)."""
    s = re.sub(r"\s", "", iban).upper()
    if len(s) < 15 or _IBAN_LENGTHS.get(s[:2]) != len(s) or not s[2:4].isdigit():
        return False
    moved = s[4:] + s[:4]
    number = "".join(str(int(c, 36)) for c in moved)
    return int(number) % 97 == 1


_MONTHS = ("jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec|january|february|march|"
           "april|june|july|august|september|october|november|december")

_PATTERNS: dict[str, re.Pattern[str]] = {
    "EMAIL": re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"),
    "URL": re.compile(r"\b(?:https?://|www\.)[^\s<>\"']+[^\s<>\"'.,;:!?)\]]"),
    "IBAN": re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{1,4}){3,8}\b"),
    "CARD": re.compile(r"(?<![\d+-])[2-6](?:[ -]?\d){12,18}(?![\d-])"),
    "IP": re.compile(
        r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])"
        r"|(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){2,7}[0-9A-Fa-f]{1,4}(?![\w:])"
        r"|(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){1,6}:(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4})*)?(?![\w:])"
    ),
    "ID": re.compile(
        r"\b\d{3}-\d{2}-\d{4}\b"  # US social security number
        r"|\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"  # UK NINO
    ),
    "DATE": re.compile(
        r"\b\d{4}-\d{1,2}-\d{1,2}\b"
        r"|\b\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})\b"
        rf"|\b\d{{1,2}}(?:st|nd|rd|th)? (?:{_MONTHS})\.?,? \d{{4}}\b"
        rf"|\b(?:{_MONTHS})\.? \d{{1,2}}(?:st|nd|rd|th)?,? \d{{4}}\b",
        re.I,
    ),
    "PHONE": re.compile(
        r"(?<![\w+])(?:\+|00)\d{1,3}[ .-]?(?:\(0?\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}(?!\w)"
        r"|(?<![\w+(])(?<!\d )(?<!\d-)\(?0\d{1,4}\)?[ .-]?\d{2,4}(?:[ .-]?\d{2,4}){1,3}(?!\w)"
        r"|(?<![\w+])\(\d{3}\) ?\d{3}[ .-]\d{4}(?!\w)"
        r"|(?<![\w+.-])\d{3}[.-]\d{3}[.-]\d{4}(?![\w-]|\.\d)"
    ),
    "PERSON": re.compile(
        r"\b(?:Dr|Mr|Mrs|Ms|Miss|Prof|Mx)\.? (?:[A-Z][a-z]+(?:-[A-Z][a-z]+)?)"
        r"(?: [A-Z][a-z]+(?:-[A-Z][a-z]+)?)?"
    ),
}


def _digits(s: str) -> str:
    return "".join(c for c in s if c.isdigit())


def _card_ok(v: str) -> bool:
    d = _digits(v)
    return 13 <= len(d) <= 19 and luhn_valid(d) and len(set(d)) > 1


def _ip_ok(v: str) -> bool:
    try:
        ipaddress.ip_address(v)
    except ValueError:
        return False
    return True


def _ssn_ok(v: str) -> bool:
    if "-" not in v:
        return True  # UK national insurance number: the pattern is the rule
    area, group, serial = v.split("-")
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _date_ok(v: str) -> bool:
    nums = [int(x) for x in re.findall(r"\d+", v)]
    if re.match(r"\d{4}-", v):
        return 1 <= nums[1] <= 12 and 1 <= nums[2] <= 31
    if re.match(r"\d{1,2}[/.-]\d", v):
        a, b = nums[0], nums[1]
        return 1 <= a <= 31 and 1 <= b <= 31 and (a <= 12 or b <= 12)
    return 1 <= nums[0] <= 31 or 1 <= nums[-2] <= 31


def _phone_ok(v: str) -> bool:
    return 7 <= len(_digits(v)) <= 15


_VALID: dict[str, Callable[[str], bool]] = {
    "IBAN": iban_valid, "CARD": _card_ok, "IP": _ip_ok, "ID": _ssn_ok, "DATE": _date_ok,
    "PHONE": _phone_ok,
}


def _shrink(value: str, check: Callable[[str], bool]) -> int:
    """The longest prefix of a greedy card or IBAN match that passes its check, cut where
    a space or dash separates groups (0: none); for text like "card 4111 1111 1111 1111 12"."""
    for cut in range(len(value) - 1, 0, -1):
        if value[cut] in " -" and check(value[:cut]):
            return cut
    return 0


def find_pii(text: str, kinds: Sequence[str] = PII_TYPES) -> list[Finding]:
    """Non-overlapping findings in text order; where two overlap, the kind earlier in
    :data:`PII_TYPES` wins (an e-mail address is not also a URL or a name)."""
    found: list[Finding] = []
    taken: list[tuple[int, int]] = []
    for kind in PII_TYPES:
        if kind not in kinds:
            continue
        check = _VALID.get(kind)
        for m in _PATTERNS[kind].finditer(text):
            value = m.group(0)
            start, end = m.start(), m.end()
            if kind == "PERSON":  # the title stays: "Dr. <PERSON>"
                start = text.index(" ", start) + 1
                value = text[start:end]
            if check is not None and not check(value):
                if kind not in ("CARD", "IBAN"):
                    continue
                end = _shrink(value, check)
                if end == 0:
                    continue
                value = value[:end]
                end = start + end
            if any(start < e and s < end for s, e in taken):
                continue
            taken.append((start, end))
            found.append(Finding(kind, start, end, value))
    found.sort(key=lambda f: f.start)
    return found


def mask_text(text: str, kinds: Sequence[str] = PII_TYPES) -> tuple[str, list[Finding]]:
    """The text with every finding replaced by its typed placeholder, and the findings."""
    findings = find_pii(text, kinds)
    if not findings:
        return text, []
    distinct: dict[str, list[str]] = {}
    for f in findings:
        key = _key(f)
        values = distinct.setdefault(f.kind, [])
        if key not in values:
            values.append(key)
    out: list[str] = []
    pos = 0
    for f in findings:
        values = distinct[f.kind]
        tag = f.kind if len(values) == 1 else f"{f.kind}_{values.index(_key(f)) + 1}"
        out.append(text[pos:f.start])
        out.append(f"<{tag}>")
        pos = f.end
    out.append(text[pos:])
    return "".join(out), findings


def _key(f: Finding) -> str:
    # The same number written with or without spaces is the same value.
    if f.kind in ("CARD", "IBAN", "PHONE", "ID"):
        return re.sub(r"[^0-9A-Za-z+]", "", f.value).upper()
    return f.value.lower()
