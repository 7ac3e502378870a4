"""Text normalisation and the content hash used to recognise duplicate records."""
from __future__ import annotations

import hashlib
import unicodedata

__all__ = ["normalize_text", "content_hash"]


def normalize_text(text: str) -> str:
    """NFKC, whitespace runs collapsed to one space, trimmed. Case is kept: it can matter."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def content_hash(text: str) -> str:
    """Hex digest of the normalised text (128-bit BLAKE2b)."""
    return hashlib.blake2b(normalize_text(text).encode("utf-8"), digest_size=16).hexdigest()
