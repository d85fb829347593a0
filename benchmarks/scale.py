"""Scale benchmark (not a test): a synthetic event set the size of every first-level unit of the
world, about 3,600 regions, in months or weeks. Times panel building, training the default
ensemble, and a backtest; prints wall times and the peak memory of the process tree. With
`--dask`, runs the same backtest again on a local Dask cluster of two workers and says whether
the forecasts are the same.

    .venv/bin/python benchmarks/scale.py [--regions 3600] [--years 30] [--n-jobs 2]
    .venv/bin/python benchmarks/scale.py --freq week --years 10 --dask

The events are synthetic by design (this measures the machinery, not forecasts): each region has
a lognormal baseline rate, a slowly drifting AR(1) log intensity and occasional flare-ups.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from events.panel import panel_from_events
from events.periods import cadence, period_of, period_range
from features.specs import FeatureSpec
from models.catalog import DEFAULT_MODEL, REFERENCE_MODELS, make_forecaster
from training.backtest import BacktestRequest, run_backtest
from training.parallel import compute_backend


def synthetic_events(
    regions: list[str], start_year: int, years: int, seed: int, freq: str = "month"
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    weekly = freq == "week"
    months = years * (52 if weekly else 12)
    baseline = rng.normal(-1.5, 1.2, size=len(regions))
    log_rate = np.empty((months, len(regions)))
    level = np.zeros(len(regions))
    for m in range(months):
        level = 0.9 * level + rng.normal(0, 0.35, size=len(regions))
        flare = rng.random(len(regions)) < 0.01
        log_rate[m] = baseline + level + 2.0 * flare - (np.log(4.35) if weekly else 0.0)
    counts = rng.poisson(np.exp(log_rate))
    month_index, region_index = np.nonzero(counts)
    repeats = counts[month_index, region_index]
    month_index, region_index = np.repeat(month_index, repeats), np.repeat(region_index, repeats)
    if weekly:
        monday = date(start_year, 1, 1) + timedelta(days=-date(start_year, 1, 1).weekday() % 7)
        starts = [monday + timedelta(weeks=k) for k in range(months)]
        spread = 7
    else:
        starts = [date(start_year + m // 12, m % 12 + 1, 1) for m in range(months)]
        spread = 28
    first_days = np.array(starts, dtype="datetime64[D]")
    days = first_days[month_index] + rng.integers(0, spread, size=len(month_index)).astype(
        "timedelta64[D]"
    )
    groups = np.array(("ttp", "iskp", "baloch", "state", "other"))
    return pd.DataFrame(
        {
            "region": np.array(regions)[region_index],
            "date_start": pd.to_datetime(days).date,
            "fatalities_best": rng.negative_binomial(0.5, 0.1, size=len(month_index)),
            "violence_type": rng.integers(1, 4, size=len(month_index)),
            "actor_group": groups[rng.integers(0, len(groups), size=len(month_index))],
        }
    )


class PeakMemory:
    """Samples the resident memory of this process and its children (loky workers) every 0.2 s."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _tree_rss() -> int:
        total, pids = 0, [os.getpid()]
        while pids:
            pid = pids.pop()
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                total += next(
                    int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")
                )
                for task in Path(f"/proc/{pid}/task").iterdir():
                    pids += [int(c) for c in (task / "children").read_text().split()]
            except (OSError, StopIteration):
                continue
        return total * 1024

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, self._tree_rss())

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def timed(label: str, action):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = action()
    elapsed = time.perf_counter() - started
    print(f"{label:<34} {elapsed:8.1f} s", flush=True)
    return result, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--regions", type=int, default=3600)
    parser.add_argument("--years", type=int, default=30)
    parser.add_argument("--freq", choices=("month", "week"), default="month")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--origins", type=int, default=12)
    parser.add_argument("--horizons", default="", help="Trained horizons (default: all).")
    parser.add_argument("--backtest-horizons", default="1", help="Comma-separated, e.g. 1,3,6")
    parser.add_argument("--dask", action="store_true", help="Backtest on Dask too; compare.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    regions = [f"R{i:04d}" for i in range(args.regions)]
    start_year = 2021 - args.years + 1
    freq = args.freq
    first = period_of(date(start_year, 1, 7), freq)
    last = period_of(date(2021, 12, 24), freq)
    unit = "weeks" if freq == "week" else "months"
    with PeakMemory() as memory:
        events, _ = timed(
            "synthetic events",
            lambda: synthetic_events(regions, start_year, args.years, args.seed, freq),
        )
        print(f"  {len(events):,} events in {args.regions:,} regions x {args.years} years")
        panel, panel_s = timed(
            "panel building",
            lambda: panel_from_events(events, regions, freq, start=first, end=last),
        )
        print(f"  {len(panel):,} region-{unit}")
        spec = FeatureSpec.default(freq)
        horizons = (
            tuple(int(h) for h in args.horizons.split(","))
            if args.horizons
            else tuple(range(1, cadence(freq).max_horizon + 1))
        )
        forecaster = make_forecaster(DEFAULT_MODEL, spec, horizons, n_jobs=args.n_jobs)
        _, train_s = timed(
            f"training ({DEFAULT_MODEL}, h {horizons[0]}-{horizons[-1]})",
            lambda: forecaster.fit(panel),
        )
        origins = period_range(first, last, freq)[-args.origins - 1 : -1]
        request = BacktestRequest(
            freq=freq, start=origins[0], end=origins[-1],
            horizons=tuple(int(h) for h in args.backtest_horizons.split(",")),
            models=(DEFAULT_MODEL, *REFERENCE_MODELS), n_jobs=args.n_jobs,
        )  # fmt: skip
        results, backtest_s = timed(
            f"backtest ({len(origins)} origins, h {args.backtest_horizons})",
            lambda: run_backtest(panel, request, spec),
        )
        print(f"  {len(results):,} forecast rows")
    print(f"peak memory (process tree)         {memory.peak / 2**30:8.2f} GiB")
    print(
        f"train + backtest {train_s + backtest_s:.0f} s; panel {panel_s:.0f} s; "
        f"peak {memory.peak / 2**30:.1f} GiB"
    )
    if args.dask:
        dask_request = BacktestRequest(**{**request.__dict__, "backend": "dask"})

        def on_dask() -> pd.DataFrame:
            with compute_backend("dask"):
                return run_backtest(panel, dask_request, spec)

        on_cluster, _ = timed("backtest on Dask (2 local workers)", on_dask)
        key = ["model", "region", "origin", "horizon"]
        ours = results.sort_values(key).reset_index(drop=True)
        theirs = on_cluster.sort_values(key).reset_index(drop=True)
        numeric = [c for c in ours.columns if pd.api.types.is_float_dtype(ours[c])]
        same = ours[key].equals(theirs[key]) and np.allclose(
            ours[numeric].to_numpy(float), theirs[numeric].to_numpy(float), equal_nan=True
        )
        print(f"Dask forecasts equal the local ones: {same}")


if __name__ == "__main__":
    main()
