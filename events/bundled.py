"""Paths of the data files shipped inside the package (see events/data/README.md), and what a
new installation starts from (`bundled.json`): the default series and its first event file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DATA_DIR = Path(__file__).with_name("data")
COUNTRIES_DIR = DATA_DIR / "countries"
BOUNDARIES_DIR = DATA_DIR / "boundaries"
EVENTS_DIR = DATA_DIR / "events"
_BUNDLE_FILE = DATA_DIR / "bundled.json"


@dataclass(frozen=True)
class Bundle:
    default_series: str
    first_run_events: Path


@lru_cache(maxsize=1)
def bundle() -> Bundle:
    spec = json.loads(_BUNDLE_FILE.read_text(encoding="utf-8"))
    return Bundle(spec["default_series"], DATA_DIR / spec["first_run_events"])
