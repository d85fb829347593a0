"""Rolling-origin backtests: at each origin, fit on data up to it and forecast each horizon.

`backtest` is the engine; `BacktestRequest` and `run_backtest` are what the CLI and the training
gate call, with the request validated before any work starts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits

from events.gaps import check_origins
from events.periods import Duration, Frequency, cadence, period_range, period_start
from features import memo
from features.families import OPTIONAL, family_windows
from features.specs import FeatureSpec
from models.base import Forecaster
from models.catalog import DEFAULT_MODEL, FAMILIES, LEVEL, REFERENCE_MODELS, make_forecaster
from models.reference import trailing_values

log = logging.getLogger(__name__)
ForecasterFactory = Callable[[], Forecaster]


# Consecutive origins run as one task, so they share the features and fits they have in common
# (`features.memo`); a year of monthly origins shares the ensemble's held-out members.
MAX_BLOCK = 12
# A first origin needs eight years before it: features and the ensemble's held-out calibration.
MIN_HISTORY = Duration(months=96)


def _forecast_block(
    panel: pd.DataFrame,
    factories: Mapping[str, ForecasterFactory],
    origins: Sequence[str],
    horizons: Sequence[int],
) -> pd.DataFrame:
    # Each worker is one process; nested BLAS/OpenMP threads would fight over the same cores.
    with threadpool_limits(limits=1), memo.sharing():
        tables = []
        for origin in origins:
            history = panel[panel["period"] <= origin]
            for name, factory in factories.items():
                table = factory().fit(history).predict(history, origin, horizons)
                tables.append(table.assign(model=name))
    return pd.concat(tables, ignore_index=True)


def _blocks(origins: Sequence[str], n_jobs: int) -> list[list[str]]:
    """Runs of consecutive origins: at most MAX_BLOCK long, and at least one per worker."""
    size = max(1, min(MAX_BLOCK, -(-len(origins) // n_jobs)))
    return [list(origins[i : i + size]) for i in range(0, len(origins), size)]


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
    blocks = _blocks(origins, n_jobs)
    jobs = (delayed(_forecast_block)(panel, factories, block, horizons) for block in blocks)
    tables = []
    # Dask runs through the backend `training.parallel.compute_backend` made active; naming it
    # here again would make joblib pass arguments Dask's workers do not take.
    runner = Parallel(
        n_jobs=n_jobs, backend=None if backend == "dask" else backend, return_as="generator"
    )
    done = 0
    for block, table in zip(blocks, runner(jobs), strict=True):
        tables.append(table)
        done += len(block)
        if progress is not None:
            progress(done, len(origins))
    forecasts = pd.concat(tables, ignore_index=True)
    # Outcomes per violence type and actor group too, to score per-group forecasts.
    counted = ["events", "fatalities", *(c for c in panel.columns if c.startswith("events_"))]
    outcomes = panel[["region", "period", *counted]].rename(
        columns={c: f"observed_{c}" for c in counted}
    )
    result = forecasts.merge(outcomes, on=["region", "period"], how="left", validate="many_to_one")
    ordered: pd.DataFrame = result.sort_values(
        ["model", "origin", "horizon", "region"], ignore_index=True
    )
    return ordered


@dataclass(frozen=True)
class BacktestRequest:
    freq: Frequency
    start: str
    end: str
    horizons: tuple[int, ...]
    models: tuple[str, ...]
    n_jobs: int = 1
    backend: str = "loky"
    # Optional feature families (features.families.OPTIONAL) to judge: the first model is also
    # backtested with each, as "<model>+<family>" ("+across": events across the border).
    trial_families: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        first, last = period_start(self.start, self.freq), period_start(self.end, self.freq)
        if first > last:
            raise ValueError(f"--start {self.start} is after --end {self.end}")
        allowed = cadence(self.freq).max_horizon
        bad = [h for h in self.horizons if not 1 <= h <= allowed]
        if not self.horizons or bad:
            raise ValueError(
                f"horizons must be between 1 and {allowed} for --freq {self.freq}; got {list(self.horizons)}"
            )
        unknown = [m for m in self.models if m not in FAMILIES]
        if unknown:
            raise ValueError(f"unknown models {unknown}; known: {', '.join(FAMILIES)}")
        if self.n_jobs < 1:
            raise ValueError("--n-jobs must be at least 1")
        unknown = sorted(set(self.trial_families) - OPTIONAL)
        if unknown:
            raise ValueError(
                f"unknown optional features {unknown}; known: {', '.join(sorted(OPTIONAL))}"
            )


def run_backtest(
    panel: pd.DataFrame,
    request: BacktestRequest,
    spec: FeatureSpec,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    periods = sorted(panel["period"].unique())
    if request.end not in periods or request.start not in periods:
        raise ValueError(f"origins must lie within the data: {periods[0]} .. {periods[-1]}")
    needed = MIN_HISTORY.of(request.freq)
    if periods.index(request.start) < needed:
        raise ValueError(
            f"--start {request.start} leaves too little history: the first origin needs "
            f"{needed} periods before it (data start {periods[0]})"
        )
    origins = period_range(request.start, request.end, request.freq)
    check_origins(panel, origins, request.freq)
    models = list(dict.fromkeys([*request.models]))
    factories = {m: partial(make_forecaster, m, spec, request.horizons) for m in models}
    for family in request.trial_families:
        windows = family_windows(spec.freq, frozenset({family}))[family]
        trial = replace(spec, windows={**spec.windows, family: windows})
        factories[f"{models[0]}+{family}"] = partial(
            make_forecaster, models[0], trial, request.horizons
        )
    log.info(
        "backtest: %d origins x %d horizons x %d models",
        len(origins),
        len(request.horizons),
        len(models),
    )
    results = backtest(
        panel,
        factories,
        origins,
        request.horizons,
        n_jobs=request.n_jobs,
        backend=request.backend,
        progress=progress,
    )
    return with_activity(with_reference_laws(results, panel, spec), panel, spec.freq)


def with_activity(results: pd.DataFrame, panel: pd.DataFrame, freq: Frequency) -> pd.DataFrame:
    """Each row's `activity`: its region's mean count over the ensemble's level window up to
    the origin, what the report's activity strata are read from (models.strata)."""
    keys = results[["region", "origin"]].drop_duplicates()
    samples = trailing_values(panel, keys, "events", LEVEL.of(freq))
    keys = keys.assign(activity=[float(np.mean(s)) if len(s) else np.nan for s in samples])
    return results.merge(keys, on=["region", "origin"], how="left", validate="many_to_one")


def with_reference_laws(
    results: pd.DataFrame, panel: pd.DataFrame, spec: FeatureSpec
) -> pd.DataFrame:
    """The trailing references' fatality and actor-group forecasts, read from the region's last
    12 (recent) or 120 (climatology) periods up to the origin: the fatalities' empirical law as
    a sample in `fatality_law`; per tracked group, the share of periods with its events."""
    windows = {"recent": spec.recent_window, "climatology": spec.climatology_window}
    groups = [g for g in spec.groups if f"events_{g}" in panel.columns]
    results = results.copy()
    for name, window in windows.items():
        mine = (results["model"] == name).to_numpy()
        if not mine.any():
            continue
        if groups:
            occurred = {
                g: [float(np.mean(s > 0)) if len(s) else np.nan
                    for s in trailing_values(panel, results.loc[mine], f"events_{g}", window)]
                for g in groups
            }  # fmt: skip
            actors = np.empty(int(mine.sum()), dtype=object)
            for row in range(len(actors)):
                actors[row] = {g: {"p_event": occurred[g][row]} for g in groups}
            results.loc[mine, "actors"] = actors
        samples = trailing_values(panel, results.loc[mine], "fatalities", window)
        laws = np.empty(int(mine.sum()), dtype=object)
        for row, sample in enumerate(samples):
            laws[row] = {"sample": sample.tolist()}
        results.loc[mine, "fatality_law"] = laws
        results.loc[mine, "expected_fatalities"] = [
            float(np.mean(s)) if len(s) else np.nan for s in samples
        ]
        levels = np.array([0.1, 0.5, 0.9])
        ends = np.array([np.quantile(s, levels) if len(s) else levels * np.nan for s in samples])
        for column, values in zip(
            ("fatalities_p10", "fatalities_p50", "fatalities_p90"),
            ends.reshape(-1, 3).T,
            strict=True,
        ):
            results.loc[mine, column] = values
    return results


def default_models(main: str = DEFAULT_MODEL) -> tuple[str, ...]:
    return (main, *REFERENCE_MODELS)
