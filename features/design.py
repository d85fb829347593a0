"""Design matrices for direct multi-horizon models: features at an origin, targets h later."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import cast

import numpy as np
import pandas as pd

from features import memo
from features.specs import FeatureSpec, build_features, target_calendar


@dataclass(frozen=True)
class HorizonData:
    """Rows are (region, origin period); targets are the outcome `horizon` periods later."""

    X: pd.DataFrame
    events: pd.Series
    severe: pd.Series
    fatalities: pd.Series

    @cached_property
    def fingerprint(self) -> str:
        """A digest of the rows' contents, for sharing fits on equal data (features.memo)."""
        return memo.fingerprint(self.X, self.events, self.severe, self.fatalities)

    @property
    def regions(self) -> np.ndarray:
        return self.X.index.get_level_values("region").to_numpy()

    @property
    def periods(self) -> np.ndarray:
        return self.X.index.get_level_values("period").to_numpy()

    def subset(self, mask: np.ndarray) -> HorizonData:
        return HorizonData(
            self.X[mask], self.events[mask], self.severe[mask], self.fatalities[mask]
        )


# One-hot region effects suit a country's handful of provinces. At world scale (thousands of
# regions) they would be thousands of dense columns; region baselines then come from the
# ten-year level and occurrence features alone.
MAX_REGION_EFFECTS = 64


def region_dummies(index: pd.MultiIndex, regions: Sequence[str]) -> pd.DataFrame:
    if len(regions) > MAX_REGION_EFFECTS:
        return pd.DataFrame(index=index)
    codes = index.get_level_values("region")
    return pd.DataFrame({f"region_{r}": (codes == r).astype(float) for r in regions}, index=index)


def _known_or_zero(features: pd.DataFrame) -> pd.DataFrame:
    """Cross-border features the other country's data do not cover: 0 beside a `_known` flag
    of 0, so a model tells an uncovered period from a quiet one."""
    across = [c for c in features.columns if c.startswith("across_")]
    if not across:
        return features
    flags = {f"{c}_known": features[c].notna().astype(float) for c in across}
    return features.assign(**{c: features[c].fillna(0.0) for c in across}, **flags)


def horizon_data(
    panel: pd.DataFrame,
    spec: FeatureSpec,
    horizon: int,
    regions: Sequence[str],
    features: pd.DataFrame | None = None,
) -> HorizonData:
    """All rows of the panel with their targets (NaN where the target period is not in it)."""
    features = build_features(panel, spec) if features is None else features
    periods = sorted(features.index.get_level_values("period").unique())
    calendar = target_calendar(periods, horizon, spec)
    X = (
        _known_or_zero(features)
        .join(calendar, on="period")
        .join(region_dummies(cast(pd.MultiIndex, features.index), regions))
    )
    wide_events = panel.pivot(index="period", columns="region", values="events").sort_index()
    wide_fatalities = panel.pivot(
        index="period", columns="region", values="fatalities"
    ).sort_index()
    later_events = wide_events.shift(-horizon).stack(future_stack=True)
    later_fatalities = wide_fatalities.shift(-horizon).stack(future_stack=True)
    later_events.index = cast(pd.MultiIndex, later_events.index).swaplevel()
    later_fatalities.index = cast(pd.MultiIndex, later_fatalities.index).swaplevel()
    events = pd.Series(later_events.reindex(X.index), dtype=float)
    fatalities = pd.Series(later_fatalities.reindex(X.index), dtype=float)
    severe = (fatalities >= spec.severe_threshold).astype(float).where(events.notna())
    return HorizonData(X, events, severe, fatalities.where(events.notna()))
