"""Paths of the data files shipped inside the package (see events/data/README.md)."""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).with_name("data")
GAZETTEER_DIR = DATA_DIR / "gazetteers"
BOUNDARIES_DIR = DATA_DIR / "boundaries"
ACTOR_GROUPS_FILE = DATA_DIR / "actor_groups.json"
UCDP_GED_22_1_PAKISTAN = DATA_DIR / "events" / "ucdp_ged_22.1_pakistan_hdx.csv.gz"
UCDP_GED_20_1_PAKISTAN = DATA_DIR / "events" / "ucdp_ged_20.1_pakistan_webexport.csv.gz"
