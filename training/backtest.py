"""Rolling-origin backtests: at each origin, fit on data up to it and forecast each horizon."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

import pandas as pd
from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits

from models.base import Forecaster

log = logging.getLogger(__name__)
ForecasterFactory = Callable[[], Forecaster]


def _forecast_origin(
    panel: pd.DataFrame,
    factories: Mapping[str, ForecasterFactory],
    origin: str,
    horizons: Sequence[int],
) -> pd.DataFrame:
    # Each worker is one process; nested BLAS/OpenMP threads would fight over the same cores.
    with threadpool_limits(limits=1):
        history = panel[panel["period"] <= origin]
        tables = []
        for name, factory in factories.items():
            table = factory().fit(history).predict(history, origin, horizons)
            tables.append(table.assign(model=name))
    return pd.concat(tables, ignore_index=True)


def backtest(
    panel: pd.DataFrame,
    factories: Mapping[str, ForecasterFactory],
    origins: Sequence[str],
    horizons: Sequence[int],
    *,
    n_jobs: int = 1,
    backend: str = "loky",
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Forecast tables of every model at every origin, with observed outcomes where known.

    Models only ever see the panel up to the origin they forecast from. `observed_events` and
    `observed_fatalities` are NaN for target periods beyond the panel.
    """
    missing = sorted(set(origins) - set(panel["period"]))
    if missing:
        raise ValueError(
            f"origins outside the panel: {missing[:3]}{' ...' if len(missing) > 3 else ''}"
        )
    jobs = (delayed(_forecast_origin)(panel, factories, origin, horizons) for origin in origins)
    tables = []
    # Dask runs through the backend `training.parallel.compute_backend` made active; naming it
    # here again would make joblib pass arguments Dask's workers do not take.
    runner = Parallel(
        n_jobs=n_jobs, backend=None if backend == "dask" else backend, return_as="generator"
    )
    for done, table in enumerate(runner(jobs), start=1):
        tables.append(table)
        if progress is not None:
            progress(done, len(origins))
    forecasts = pd.concat(tables, ignore_index=True)
    outcomes = panel[["region", "period", "events", "fatalities"]].rename(
        columns={"events": "observed_events", "fatalities": "observed_fatalities"}
    )
    result = forecasts.merge(outcomes, on=["region", "period"], how="left", validate="many_to_one")
    ordered: pd.DataFrame = result.sort_values(
        ["model", "origin", "horizon", "region"], ignore_index=True
    )
    return ordered
