"""A generated corpus of clinical notes and customer messages with planted personal data
(each planted value known by kind and position) and look-alike distractors that are not
personal data: order numbers, amounts, doses, versions, Luhn-invalid card-like numbers.
Shared by the PII tests and ``benchmarks/data_prep.py``."""
from __future__ import annotations

import random
import string

IBAN_BBAN = {"DE": 18, "GB": 18, "NL": 14, "FR": 23, "ES": 20, "IT": 23}


def luhn_digit(partial: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(partial)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def card(rng: random.Random) -> str:
    prefix, length = rng.choice([("4", 16), ("51", 16), ("55", 16), ("37", 15), ("6011", 16)])
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    number = body + luhn_digit(body)
    style = rng.choice(["space", "dash", "plain"])
    if style == "plain" or length == 15:
        return number
    sep = " " if style == "space" else "-"
    return sep.join(number[i:i + 4] for i in range(0, len(number), 4))


def bad_card(rng: random.Random) -> str:
    good = card(rng).replace(" ", "").replace("-", "")
    last = str((int(good[-1]) + rng.randint(1, 9)) % 10)
    bad = good[:-1] + last
    return " ".join(bad[i:i + 4] for i in range(0, len(bad), 4))


def iban(rng: random.Random) -> str:
    country = rng.choice(sorted(IBAN_BBAN))
    n = IBAN_BBAN[country]
    if country == "GB":
        bban = "".join(rng.choice(string.ascii_uppercase) for _ in range(4)) + "".join(
            rng.choice(string.digits) for _ in range(n - 4))
    else:
        bban = "".join(rng.choice(string.digits) for _ in range(n))
    moved = bban + country + "00"
    check = 98 - int("".join(str(int(c, 36)) for c in moved)) % 97
    compact = f"{country}{check:02d}{bban}"
    if rng.random() < 0.5:
        return compact
    return " ".join(compact[i:i + 4] for i in range(0, len(compact), 4))


FIRST = ["anna", "ben", "chloe", "david", "eva", "farid", "grace", "hiro", "ines", "jon"]
LAST = ["smith", "okafor", "muller", "rossi", "tanaka", "dubois", "novak", "silva", "khan"]
DOMAINS = ["example.com", "mail.example.org", "clinic.example.co.uk", "bank.example.de"]


def email(rng: random.Random) -> str:
    user = f"{rng.choice(FIRST)}{rng.choice(['.', '_', ''])}{rng.choice(LAST)}"
    if rng.random() < 0.2:
        user += f"+{rng.choice(['billing', 'x1'])}"
    value = f"{user}@{rng.choice(DOMAINS)}"
    return value.upper() if rng.random() < 0.1 else value


def phone(rng: random.Random) -> str:
    d = lambda k: "".join(rng.choice(string.digits) for _ in range(k))  # noqa: E731
    return rng.choice([
        f"+44 20 {d(4)} {d(4)}", f"+1 ({d(3)}) {d(3)}-{d(4)}", f"({d(3)}) {d(3)}-{d(4)}",
        f"{rng.randint(2, 9)}{d(2)}-{d(3)}-{d(4)}", f"020 {d(4)} {d(4)}", f"+49 30 {d(8)}",
        f"0044 20 {d(4)} {d(4)}", f"+31 6 {d(8)}", f"06-{d(8)}", f"+33 1 {d(2)} {d(2)} {d(2)} {d(2)}",
    ])


def ip(rng: random.Random) -> str:
    if rng.random() < 0.75:
        return ".".join(str(rng.randint(1, 254)) for _ in range(4))
    return "2001:db8:" + ":".join(f"{rng.randint(0, 65535):x}" for _ in range(3)) + "::" + f"{rng.randint(1, 4095):x}"


def date(rng: random.Random) -> str:
    y, m, dd = rng.randint(1940, 2025), rng.randint(1, 12), rng.randint(1, 28)
    months = ["January", "March", "June", "September", "December"]
    return rng.choice([f"{y}-{m:02d}-{dd:02d}", f"{dd:02d}/{m:02d}/{y}", f"{dd} {rng.choice(months)} {y}",
                       f"{rng.choice(months)} {dd}, {y}"])


def url(rng: random.Random) -> str:
    return rng.choice(["https://portal.example.com/patient/", "http://www.example.org/track?id=",
                       "www.example.net/orders/"]) + str(rng.randint(1000, 99999))


def ssn(rng: random.Random) -> str:
    return f"{rng.randint(1, 665):03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


MAKERS = {"EMAIL": email, "PHONE": phone, "IBAN": iban, "CARD": card, "IP": ip, "DATE": date,
          "URL": url, "ID": ssn}

TEMPLATES = [
    "Patient seen on {DATE}. Contact {EMAIL} or {PHONE} for follow-up; dose 500 mg twice daily, BP 120/80.",
    "Please refund order #{ORDER} to IBAN {IBAN}. Amount EUR {AMOUNT}. Questions: {PHONE}.",
    "Card {CARD} was charged twice (ref {ORDER}); my other card {BAD} is not mine. Email {EMAIL}.",
    "Login from {IP} at 10:42 flagged; see {URL} for the ticket INV-2024-{SMALL}. Version v2.{SMALL}.1.",
    "Referral letter: SSN {ID}, DOB {DATE}, phone {PHONE}, portal {URL}. Glucose 5.4 mmol/L.",
    "Hi, transfer from {IBAN} failed, I called {PHONE} and wrote to {EMAIL}. Order {ORDER}.",
    "Device {IP} and backup {IP} lost contact; invoice {ORDER} of {AMOUNT} due in 30 days.",
    "Chargeback on {CARD} dated {DATE}; customer reachable at {EMAIL}, {PHONE}.",
]


def make_corpus(n: int, seed: int = 0) -> list[tuple[str, list[tuple[str, int, int, str]]]]:
    """``n`` texts, each with its planted items ``(kind, start, end, value)``."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        template = TEMPLATES[i % len(TEMPLATES)]
        parts: list[str] = []
        planted: list[tuple[str, int, int, str]] = []
        pos = 0
        text = ""
        while pos < len(template):
            j = template.find("{", pos)
            if j < 0:
                text += template[pos:]
                break
            text += template[pos:j]
            k = template.index("}", j)
            slot = template[j + 1:k]
            if slot in MAKERS:
                value = MAKERS[slot](rng)
                planted.append((slot, len(text), len(text) + len(value), value))
            elif slot == "BAD":
                value = bad_card(rng)
            elif slot == "ORDER":
                value = str(rng.randint(10_000_000, 99_999_999))
            elif slot == "AMOUNT":
                value = f"{rng.randint(1, 9)},{rng.randint(100, 999)}.{rng.randint(10, 99)}"
            else:
                value = str(rng.randint(1, 99))
            text += value
            pos = k + 1
        del parts
        out.append((text, planted))
    return out


def score(corpus, findings_per_text) -> dict[str, dict[str, float]]:
    """Per kind: planted, found, true positives, precision and recall. A planted item counts
    as found when a finding of its kind covers it exactly."""
    stats: dict[str, dict[str, float]] = {}
    for (_text, planted), findings in zip(corpus, findings_per_text, strict=True):
        truth = {(k, s, e) for k, s, e, _v in planted}
        got = {(f.kind, f.start, f.end) for f in findings}
        for kind in {k for k, *_ in truth} | {k for k, *_ in got}:
            row = stats.setdefault(kind, {"planted": 0, "found": 0, "tp": 0})
            t = {x for x in truth if x[0] == kind}
            g = {x for x in got if x[0] == kind}
            row["planted"] += len(t)
            row["found"] += len(g)
            row["tp"] += len(t & g)
    for row in stats.values():
        row["precision"] = row["tp"] / row["found"] if row["found"] else 1.0
        row["recall"] = row["tp"] / row["planted"] if row["planted"] else 1.0
    return stats
