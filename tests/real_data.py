"""The real UCDP files the tests read (shipped in events/data/events/)."""

from events.bundled import EVENTS_DIR

GED_22_1 = EVENTS_DIR / "ucdp_ged_22.1_pakistan_hdx.csv.gz"
GED_20_1 = EVENTS_DIR / "ucdp_ged_20.1_pakistan_webexport.csv.gz"
