"""The backtest job the CLI and the training gate run: panel in, forecast table and report out."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pandas as pd

from features.gazetteer import Gazetteer
from features.periods import Frequency, period_range, period_start
from features.specs import FeatureSpec
from models.catalog import DEFAULT_MODEL, FAMILIES, REFERENCE_MODELS, make_forecaster
from training.backtest import backtest
from training.report import write_report

log = logging.getLogger(__name__)
MAX_HORIZON = {"month": 6, "week": 8}
# Origins need this much history before them for features and held-out calibration.
MIN_HISTORY_PERIODS = {"month": 96, "week": 416}


@dataclass(frozen=True)
class BacktestRequest:
    freq: Frequency
    start: str
    end: str
    horizons: tuple[int, ...]
    models: tuple[str, ...]
    n_jobs: int = 1
    backend: str = "loky"

    def __post_init__(self) -> None:
        first, last = period_start(self.start, self.freq), period_start(self.end, self.freq)
        if first > last:
            raise ValueError(f"--start {self.start} is after --end {self.end}")
        allowed = MAX_HORIZON[self.freq]
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


def default_spec(gazetteer: Gazetteer, freq: Frequency, severe_threshold: int = 25) -> FeatureSpec:
    return FeatureSpec.default(
        freq,
        elections=gazetteer.elections,
        neighbours=gazetteer.neighbours(),
        severe_threshold=severe_threshold,
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
    needed = MIN_HISTORY_PERIODS[request.freq]
    if periods.index(request.start) < needed:
        raise ValueError(
            f"--start {request.start} leaves too little history: the first origin needs "
            f"{needed} periods before it (data start {periods[0]})"
        )
    models = list(dict.fromkeys([*request.models]))
    factories = {m: partial(make_forecaster, m, spec, request.horizons) for m in models}
    origins = period_range(request.start, request.end, request.freq)
    log.info(
        "backtest: %d origins x %d horizons x %d models",
        len(origins),
        len(request.horizons),
        len(models),
    )
    return backtest(
        panel,
        factories,
        origins,
        request.horizons,
        n_jobs=request.n_jobs,
        backend=request.backend,
        progress=progress,
    )


def default_models(main: str = DEFAULT_MODEL) -> tuple[str, ...]:
    return (main, *REFERENCE_MODELS)


def write_outputs(
    results: pd.DataFrame, output: Path, report: Path | None, main_model: str
) -> pd.DataFrame | None:
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix == ".parquet":
        results.to_parquet(output, index=False)
    else:
        results.to_csv(output, index=False)
    return write_report(results, report, main_model) if report is not None else None
