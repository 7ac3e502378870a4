"""Settings of the data-preparation steps (CLI flags and Data tab forms come from them)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from workbench.core.settings import Settings, setting

__all__ = [
    "AugmentConfig",
    "DUPLICATE_ACTIONS",
    "FILTER_ACTIONS",
    "FilterConfig",
    "MaskConfig",
    "NearDuplicateConfig",
    "NormaliseConfig",
    "PII_TYPES",
]

#: Kinds of personal data the rules find, in the order they take precedence.
PII_TYPES = ("EMAIL", "URL", "IBAN", "CARD", "IP", "ID", "DATE", "PHONE", "PERSON")
DUPLICATE_ACTIONS = ("mark", "keep-one", "keep-all")
FILTER_ACTIONS = ("remove", "mark")


@dataclass
class NormaliseConfig(Settings):
    """Which normalisation steps run (each is counted separately in the preview)."""

    SETTINGS_NAME: ClassVar[str] = "normalise"

    nfkc: bool = setting(True, "Unicode NFKC: compatibility characters (ligatures, full-width "
                         "letters, non-breaking spaces) become their plain forms.",
                         label="Unicode NFKC")
    html: bool = setting(True, "Decode HTML entities (&amp; &eacute; ...) and remove HTML tags.",
                         label="HTML entities and tags")
    control: bool = setting(True, "Remove control and zero-width characters.",
                            label="Control characters")
    whitespace: bool = setting(True, "Collapse runs of whitespace to one space and trim.",
                               label="Whitespace")
    lowercase: bool = setting(False, "Lower-case every text (off: case often carries meaning).",
                              label="Lower-case")


@dataclass
class MaskConfig(Settings):
    """Which kinds of personal data are replaced by typed placeholders."""

    SETTINGS_NAME: ClassVar[str] = "mask"

    types: str = setting(
        ",".join(PII_TYPES),
        "Comma-separated kinds to mask: " + ", ".join(PII_TYPES) + " (PERSON: names after a "
        "title such as Dr., Mrs.; no name model ships offline).",
        not_blank=True, metavar="LIST", label="Kinds to mask",
    )

    def type_list(self) -> list[str]:
        return [t.strip().upper() for t in self.types.split(",") if t.strip()]

    def problems(self) -> list[str]:
        out = super().problems()
        bad = [t for t in self.type_list() if t not in PII_TYPES]
        if bad:
            out.append(f"Unknown kind(s) of personal data: {', '.join(bad)} "
                       f"(known: {', '.join(PII_TYPES)}).")
        return out


@dataclass
class NearDuplicateConfig(Settings):
    """How near-duplicates are found (MinHash over word shingles, LSH banding) and handled."""

    SETTINGS_NAME: ClassVar[str] = "near_duplicates"

    threshold: float = setting(0.5, "Least estimated Jaccard similarity of the word shingles "
                               "of two texts to call them near-duplicates.",
                               min=0.1, max=1.0, decimals=2, step=0.05)
    shingle: int = setting(2, "Words per shingle (1 = bag of words).", min=1, max=5,
                           advanced=True)
    num_perm: int = setting(64, "MinHash permutations (more: more exact, slower).",
                            min=16, max=512, advanced=True)
    duplicates: str = setting("mark", "What to do with each group: 'mark' the records, "
                          "'keep-one' (remove the others; their labels go with them, undoable) "
                          "or 'keep-all' (only report).", choices=DUPLICATE_ACTIONS)


@dataclass
class FilterConfig(Settings):
    """Which records a filter step catches."""

    SETTINGS_NAME: ClassVar[str] = "filters"

    def language_list(self) -> list[str]:
        return [c.strip().lower() for c in self.languages.split(",") if c.strip()]

    def problems(self) -> list[str]:
        out = super().problems()
        bad = [c for c in self.language_list() if not (len(c) in (2, 3) and c.isalpha())]
        if bad:
            out.append(f"Not a language code: {', '.join(bad)} (use ISO 639-1 codes such as "
                       "en, de, fr).")
        return out

    empty: bool = setting(True, "Records with no text (after trimming).", label="Empty")
    min_chars: int = setting(0, "Records shorter than this many characters (0 = no limit).",
                             min=0, max=10**6, special={0: "No limit"}, label="Shorter than")
    max_chars: int = setting(0, "Records longer than this many characters (0 = no limit).",
                             min=0, max=10**8, special={0: "No limit"}, label="Longer than")
    min_letters: float = setting(0.0, "Records whose share of letters among the non-space "
                                 "characters is below this (0 = off; 0.5 catches tables of "
                                 "numbers, code and binary junk).", min=0.0, max=1.0,
                                 decimals=2, step=0.05, label="Least share of letters")
    languages: str = setting("", "Keep only texts in these languages: ISO 639-1 codes, "
                             "comma-separated (e.g. 'en,de'); empty = no language filter. A "
                             "text is caught only when the offline identifier (py3langid) "
                             "is at least 90% sure of another language.",
                             metavar="CODES", label="Languages to keep")
    filtered: str = setting("remove", "'remove' the records caught (undoable; labels go with "
                          "them) or 'mark' them.", choices=FILTER_ACTIONS)


@dataclass
class AugmentConfig(Settings):
    """Training-time augmentation: extra copies of labelled training records."""

    SETTINGS_NAME: ClassVar[str] = "augment"

    copies: int = setting(2, "Augmented copies per labelled training record.", min=1, max=20)
    strength: float = setting(0.1, "Share of the words each operation changes.",
                              min=0.01, max=0.5, decimals=2, step=0.05)
    synonyms: bool = setting(True, "Replace words by synonyms from the bundled dictionary.")
    swap: bool = setting(True, "Swap random pairs of words.")
    delete: bool = setting(True, "Delete random words.")
    seed: int = setting(0, "Random seed.", min=0, max=2**31 - 1, advanced=True)
