"""Spelling-insensitive keys for place names, shared by every level of units."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
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


def name_table(
    units: Iterable[tuple[str, Iterable[str]]], key: Callable[[str], str], owner: str, kind: str
) -> dict[str, str]:
    """Each spelling's key -> its unit's code, from (code, spellings) pairs; a spelling given to
    two units is refused ("PAK: name 'FATA' is given to two regions")."""
    table: dict[str, str] = {}
    for code, spellings in units:
        for spelling in spellings:
            if table.setdefault(key(spelling), code) != code:
                raise ValueError(f"{owner}: name {spelling!r} is given to two {kind}")
    return table
