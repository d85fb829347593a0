"""Below the first level, a unit's region's and country's recent events as features: what they
sum, that a missing period stays missing, and that the first level has none."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.families import OPTIONAL, family_windows
from features.specs import FeatureSpec, build_features

PERIODS = ["2020-01", "2020-02", "2020-03", "2020-04"]
PARENTS = {"A-1": "A", "A-2": "A", "B-1": "B", "A-UNPLACED": "A"}
EVENTS = {"A-1": [1, 0, 4, np.nan], "A-2": [0, 2, 0, np.nan], "B-1": [3, 3, 0, np.nan],
          "A-UNPLACED": [1, 0, 0, np.nan]}  # fmt: skip


def _panel() -> pd.DataFrame:
    rows = [
        {"region": unit, "period": period, "events": count, "fatalities": count}
        for unit, counts in EVENTS.items()
        for period, count in zip(PERIODS, counts, strict=True)
    ]
    return pd.DataFrame(rows)


def _spec(**extra: object) -> FeatureSpec:
    windows = {**family_windows("month", OPTIONAL), "enclosing": (3,)}
    return FeatureSpec(freq="month", windows=windows, recent_window=12, climatology_window=120,
                       calendar=(), **extra)  # type: ignore[arg-type]  # fmt: skip


def test_units_read_their_regions_and_the_countrys_recent_events() -> None:
    features = build_features(_panel(), _spec(parents=PARENTS))
    at = features.xs("2020-03", level="period")
    # Three-month means to 2020-03: A-1 5/3, A-2 2/3, A-UNPLACED 1/3, B-1 2.
    np.testing.assert_allclose(at.loc["A-1", "parent_log_events_mean_3"], np.log1p(8 / 3))
    np.testing.assert_allclose(at.loc["A-UNPLACED", "parent_log_events_mean_3"], np.log1p(8 / 3))
    np.testing.assert_allclose(at.loc["B-1", "parent_log_events_mean_3"], np.log1p(2))
    np.testing.assert_allclose(at["country_log_events_mean_3"], np.log1p(8 / 3 + 2))
    # A month no data cover is left out of the mean, never read as quiet.
    np.testing.assert_allclose(
        features.xs("2020-04", level="period").loc["B-1", "parent_log_events_mean_3"],
        np.log1p(1.5),
    )


def test_the_first_level_has_no_enclosing_features() -> None:
    features = build_features(_panel(), _spec())
    assert not [c for c in features.columns if c.startswith(("parent_", "country_"))]
