"""Spelling-insensitive keys for place names, shared by every level of units."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Words that vary between releases without changing which unit is meant.
_GENERIC_WORDS = frozenset({"province"})


@lru_cache(maxsize=4096)
def normalize_name(name: str) -> str:
    """A spelling-insensitive key: case, accents, '&', dots, hyphens and 'province' ignored."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").lower()
    text = text.replace("&", " and ").replace(".", "")
    words = re.sub(r"[^a-z0-9]+", " ", text).split()
    return " ".join(word for word in words if word not in _GENERIC_WORDS)
