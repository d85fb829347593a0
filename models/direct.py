"""Direct multi-horizon forecasting: one fitted model per horizon, one Forecaster per family."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Self

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from events.periods import shift_period
from features import memo
from features.design import HorizonData, horizon_data
from features.specs import FeatureSpec, build_features
from models.actors import group_forecast
from models.base import CountForecast, HorizonModel, check_forecast_table
from models.columns import FATALITY_COLUMNS, FORECAST_COLUMNS
from models.laws import CountLaw

HorizonModelFactory = Callable[[FeatureSpec], HorizonModel]


def _panel_key(panel: pd.DataFrame, spec: FeatureSpec) -> str:
    # Only worth hashing when a backtest shares work between origins and models.
    return memo.fingerprint(panel, spec) if memo.active() else ""


def _features(panel: pd.DataFrame, spec: FeatureSpec, key: str) -> pd.DataFrame:
    return memo.reuse(("features", key), lambda: build_features(panel, spec))


def _design(
    panel: pd.DataFrame,
    spec: FeatureSpec,
    horizon: int,
    regions: list[str],
    features: pd.DataFrame,
    key: str,
) -> HorizonData:
    return memo.reuse(
        ("design", key, horizon, regions),
        lambda: horizon_data(panel, spec, horizon, regions, features),
    )


def _fit_horizon(
    factory: HorizonModelFactory,
    spec: FeatureSpec,
    panel: pd.DataFrame,
    features: pd.DataFrame,
    horizon: int,
    regions: list[str],
    key: str = "",
) -> HorizonModel:
    data = _design(panel, spec, horizon, regions, features, key)
    # Rows whose target period or whose every input was missing are not examples to learn from.
    known = data.subset(data.events.notna().to_numpy() & data.X.notna().all(axis=1).to_numpy())
    if known.X.empty:
        raise ValueError(f"the panel is too short to learn horizon {horizon}")
    return factory(spec).fit(_most_recent(known, MAX_FIT_ROWS))


# A country's panel is a few thousand rows to some tens of thousands (seven provinces, 30 years
# of weeks); a world panel is millions. Past this many rows the models learn from the most recent
# periods only (features still read the whole history): at 3,600 units of weeks, two years.
MAX_FIT_ROWS = 400_000


def _most_recent(data: HorizonData, limit: int) -> HorizonData:
    """The rows of the latest periods that together hold at most `limit` rows (all if fewer)."""
    if len(data.X) <= limit:
        return data
    periods, counts = np.unique(data.periods, return_counts=True)
    kept = np.cumsum(counts[::-1]) <= limit
    first = periods[::-1][kept][-1] if kept.any() else periods[-1]
    return data.subset(data.periods >= first)


class DirectForecaster:
    """Fits `factory(spec)` once per horizon on (features at s, outcome at s + h) pairs."""

    def __init__(
        self,
        name: str,
        factory: HorizonModelFactory,
        spec: FeatureSpec,
        horizons: Sequence[int],
        version: str | None = None,
        n_jobs: int = 1,
    ) -> None:
        if not horizons or min(horizons) < 1:
            raise ValueError("horizons must be whole numbers of periods, at least 1")
        self.name = name
        self.factory = factory
        self.spec = spec
        self.horizons = tuple(sorted(set(horizons)))
        self.version = version or name
        # Horizons are independent fits: with n_jobs > 1 they run in parallel processes.
        self.n_jobs = n_jobs
        self.regions: list[str] = []
        self.models: dict[int, HorizonModel] = {}
        self.fitted_through: str | None = None

    def fit(self, panel: pd.DataFrame) -> Self:
        self.regions = sorted(panel["region"].unique())
        key = _panel_key(panel, self.spec)
        features = _features(panel, self.spec, key)
        jobs = (
            delayed(_fit_horizon)(
                self.factory, self.spec, panel, features, horizon, self.regions, key
            )
            for horizon in self.horizons
        )
        fitted = Parallel(n_jobs=min(self.n_jobs, len(self.horizons)))(jobs)
        self.models = dict(zip(self.horizons, fitted, strict=True))
        self.fitted_through = str(panel["period"].max())
        return self

    def predict(self, panel: pd.DataFrame, origin: str, horizons: Sequence[int]) -> pd.DataFrame:
        unknown = sorted(set(horizons) - set(self.models))
        if unknown:
            raise ValueError(f"horizons {unknown} were not fitted; fitted: {list(self.models)}")
        history = panel[panel["period"] <= origin]
        key = _panel_key(history, self.spec)
        features = _features(history, self.spec, key)
        tables = []
        for horizon in sorted(set(horizons)):
            X = self.inputs(history, origin, horizon, features, key)
            regions = list(X.index.get_level_values("region"))
            tables.append(self._table(self.models[horizon].predict(X), origin, horizon, regions))
        return check_forecast_table(pd.concat(tables, ignore_index=True))

    def inputs(
        self,
        panel: pd.DataFrame,
        origin: str,
        horizon: int,
        features: pd.DataFrame | None = None,
        key: str | None = None,
    ) -> pd.DataFrame:
        """The design rows (one per region) a forecast from `origin` at `horizon` reads."""
        history = panel[panel["period"] <= origin]
        if not (history["period"] == origin).any():
            raise ValueError(f"origin {origin} is not a period of the panel")
        key = _panel_key(history, self.spec) if key is None else key
        if features is None:
            features = _features(history, self.spec, key)
        data = _design(history, self.spec, horizon, self.regions, features, key)
        # A model pooled over several countries forecasts the units of the panel it is given.
        present = set(history["region"].unique())
        regions = [r for r in self.regions if r in present]
        return data.X[data.X.index.get_level_values("period") == origin].reindex(
            pd.MultiIndex.from_product([regions, [origin]], names=["region", "period"])
        )

    def probability(self, X: pd.DataFrame, horizon: int) -> np.ndarray:
        """p_event of design rows, as the forecast table gives it."""
        p_event: np.ndarray = np.clip(self.models[horizon].predict(X).p_event, 0.0, 1.0)
        return p_event

    def _table(
        self, forecast: CountForecast, origin: str, horizon: int, regions: list[str]
    ) -> pd.DataFrame:
        tail = forecast.tail_level
        low, high = forecast.quantile(tail), forecast.quantile(1 - tail)
        # Whole-number median; continuous interval ends (whole-number ends would cover far more
        # than asked where the law sits at 0 or 1).
        median = np.clip(forecast.median(), low, high)
        p_event = np.clip(forecast.p_event, 0.0, 1.0)
        # A severe period has at least one event; separately fitted probabilities can disagree.
        p_severe = np.minimum(np.clip(forecast.p_severe, 0.0, 1.0), p_event)
        table = pd.DataFrame(
            {
                "region": regions,
                "origin": origin,
                "horizon": horizon,
                "period": shift_period(origin, horizon, self.spec.freq),
                "p_event": p_event,
                "expected_events": forecast.expected(),
                "events_p10": low,
                "events_p50": median,
                "events_p90": high,
                "p_severe": p_severe,
                "model_version": self.version,
            },
            columns=list(FORECAST_COLUMNS),
        )
        drivers = np.empty(len(table), dtype=object)
        listed_drivers = forecast.drivers() if forecast.drivers else [[] for _ in table.index]
        for row, listed in enumerate(listed_drivers):
            drivers[row] = listed
        table["drivers"] = drivers
        laws = np.empty(len(table), dtype=object)
        for row, mass in enumerate(forecast.mass_functions()):
            laws[row] = mass
        table["count_law"] = laws
        fatality_laws = np.empty(len(table), dtype=object)
        if forecast.fatalities is None:
            for column in FATALITY_COLUMNS:
                table[column] = np.nan
        else:
            fatal = forecast.fatalities.with_severe(p_severe)
            stated = fatal.published(fatal.tail_level)
            for column, values in zip(FATALITY_COLUMNS, stated, strict=True):
                table[column] = values
            for row, params in enumerate(fatal.params()):
                fatality_laws[row] = params
        table["fatality_law"] = fatality_laws
        actors = np.empty(len(table), dtype=object)
        if forecast.actor_shares is not None:
            expected = table["expected_events"].to_numpy(dtype=float)
            for row, law in enumerate(laws):
                actors[row] = {
                    group: group_forecast(
                        CountLaw.from_json(law),
                        float(shares[row]),
                        float(expected[row]),
                        p_event[row],
                    )
                    for group, shares in forecast.actor_shares.items()
                }
        table["actors"] = actors
        return table
