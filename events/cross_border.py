"""Violence across the border: for each unit, the events of the same source and frequency in
the units of other countries that touch it (from both countries' boundaries). A period one of
those countries' data does not cover is missing, never quiet."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from events.boundaries import touching
from events.gazetteer import RegionResolver

# Simplified boundaries of two countries rarely share exact edges: units within this many
# degrees (about 2 km) touch.
TOUCHING_DEGREES = 0.02
ACROSS_COLUMN = "events_across"


@lru_cache(maxsize=16)
def across_neighbours(resolver: RegionResolver, country: str) -> dict[str, tuple[str, ...]]:
    """Each unit of `country` with the units of other countries that touch it (only units
    that touch any); countries without boundaries have none."""
    home = resolver.gazetteers.get(country)
    if home is None or not home.has_boundaries:
        return {}
    others = {
        code: shape
        for other in resolver.gazetteers.values()
        if other.country != country and other.has_boundaries
        for code, shape in other.shapes.items()
    }
    if not others:
        return {}
    found = touching(home.shapes, others, TOUCHING_DEGREES)
    return {code: tuple(sorted(near)) for code, near in found.items() if near}


def across_events(
    panel: pd.DataFrame,
    neighbours: dict[str, tuple[str, ...]],
    others: pd.DataFrame,
) -> pd.Series:
    """Per row of `panel` (region, period): the events of its neighbours across the border in
    that period, from `others` (their panels: region, period, events; NaN where uncovered).
    NaN where any of those neighbours' periods is not covered, or not in `others` at all; 0.0
    for a unit with no neighbour across a border."""
    wide = others.pivot(index="period", columns="region", values="events").astype(float)
    periods = panel["period"].unique()
    wide = wide.reindex(index=periods)
    sums = {}
    for region in panel["region"].unique():
        across = neighbours.get(region, ())
        if not across:
            sums[region] = pd.Series(0.0, index=periods)
            continue
        block = wide.reindex(columns=list(across))
        sums[region] = block.sum(axis=1, min_count=1).where(block.notna().all(axis=1), np.nan)
    frame = pd.DataFrame(sums)
    keys = pd.MultiIndex.from_arrays([panel["period"], panel["region"]])
    stacked = frame.stack(future_stack=True)
    return pd.Series(stacked.reindex(keys).to_numpy(), index=panel.index, name=ACROSS_COLUMN)
