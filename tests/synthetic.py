"""Seeded synthetic panels for fast model tests (real data is used end to end elsewhere)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from events.panel import panel_from_events

REGIONS = ("PK-KP", "PK-BA", "PK-SD", "PK-IS")
_RATES = {"PK-KP": 6.0, "PK-BA": 2.0, "PK-SD": 0.6, "PK-IS": 0.05}


def generate_events(
    seed: int = 0, first: date = date(2000, 1, 1), days: int = 15 * 365
) -> pd.DataFrame:
    """Events from a persistent, region-specific daily rate (a slowly wandering level)."""
    rng = np.random.default_rng(seed)
    rows = []
    for region, rate in _RATES.items():
        level = 0.0
        for offset in range(0, days, 30):
            level = 0.9 * level + rng.normal(0, 0.35)
            for _ in range(rng.poisson(rate * np.exp(level))):
                day = first + timedelta(days=offset + int(rng.integers(0, 30)))
                rows.append(
                    (
                        region,
                        day,
                        int(rng.negative_binomial(1, 0.2)),
                        int(rng.integers(1, 4)),
                        "ttp",
                    )
                )
    return pd.DataFrame(
        rows, columns=["region", "date_start", "fatalities_best", "violence_type", "actor_group"]
    )


def generate_panel(seed: int = 0, freq: str = "month", end: str | None = None) -> pd.DataFrame:
    events = generate_events(seed)
    start = "2000-01" if freq == "month" else "2000-W01"
    last = end or ("2014-12" if freq == "month" else "2014-W52")
    return panel_from_events(events, REGIONS, freq, start=start, end=last)  # type: ignore[arg-type]
