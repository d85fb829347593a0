"""Each calendar input's effect on the ensemble, on the three UCDP windows (not a test).

For every window, the default ensemble is backtested with its calendar inputs (none by default),
then without each one in turn ("-name"), then with each other calendar column added ("+name");
the pooled scores and their differences from the first run are printed. Without an input, a
positive difference means the input helps; with one added, a negative one. Keep an input only
where it helps on all three windows.

    .venv/bin/python benchmarks/calendar_inputs.py [--freq month|week] [--window 1] [--only +ashura]

`--window` runs one of the three (1, 2 or 3, in the order above), `--only` some variants; an
input that does not help on the first window cannot help on all three, so the others need only
the survivors. `--save DIR` keeps each variant's forecast table (DIR/<window>/<variant>.pkl).
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from dataclasses import replace
from pathlib import Path

from events import bundled
from events.gazetteer import default_resolver
from events.ingest import ingest_file
from events.panel import build_panel
from events.series import Series
from features.specs import default_spec
from store.db import make_engine, migrate
from training.backtest import BacktestRequest, run_backtest
from training.metrics import score_backtest

GED_22_1 = bundled.EVENTS_DIR / "ucdp_ged_22.1_pakistan_hdx.csv.gz"
GED_20_1 = bundled.EVENTS_DIR / "ucdp_ged_20.1_pakistan_webexport.csv.gz"

WINDOWS = {
    "month": (
        ("GED 22.1 2016-2021", GED_22_1, "2016-01", "2021-12", (1, 3, 6)),
        ("GED 22.1 2010-2015", GED_22_1, "2010-01", "2015-12", (1, 3, 6)),
        ("GED 20.1 2014-2019", GED_20_1, "2014-01", "2019-12", (1, 3, 6)),
    ),
    "week": (
        (
            "GED 22.1 2016-2021",
            GED_22_1,
            "2016-W01",
            "2021-W52",
            (1, 2, 4, 8),
        ),
        (
            "GED 22.1 2010-2015",
            GED_22_1,
            "2010-W01",
            "2015-W53",
            (1, 2, 4, 8),
        ),
        (
            "GED 20.1 2014-2019",
            GED_20_1,
            "2014-W01",
            "2019-W52",
            (1, 2, 4, 8),
        ),
    ),
}
# Calendar columns tried as additions where the default spec does not take them.
CANDIDATES = (
    "election_window", "ramadan_days", "ashura", "muharram_1_10_days", "rabi_al_awwal_12",
)  # fmt: skip
SCORES = ("brier", "calibration_error", "severe_brier", "pinball", "rps")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--freq", choices=tuple(WINDOWS), default="month")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--window", type=int, choices=(1, 2, 3), action="append")
    parser.add_argument("--only", action="append", help="A variant: default, -name or +name.")
    parser.add_argument("--save", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    gazetteer = default_resolver().gazetteers["PAK"]
    # The spec, and so its variants, is the same for every window: checked before any data.
    spec = default_spec(gazetteer, args.freq)
    others = [c for c in CANDIDATES if c not in spec.calendar]
    variants = {"default": spec.calendar}
    variants |= {f"-{c}": tuple(k for k in spec.calendar if k != c) for c in spec.calendar}
    variants |= {f"+{c}": (*spec.calendar, c) for c in others}
    if args.only:
        unknown = sorted(set(args.only) - set(variants))
        if unknown:
            parser.error(f"unknown variants {unknown}; known: {', '.join(variants)}")
        variants = {name: variants[name] for name in ("default", *args.only)}
    print(f"{'window':<20} {'variant':<22} " + " ".join(f"{s:>18}" for s in SCORES))
    for number, (title, events, start, end, horizons) in enumerate(WINDOWS[args.freq], 1):
        if args.window and number not in args.window:
            continue
        with tempfile.TemporaryDirectory() as scratch:
            engine = make_engine(f"sqlite:///{Path(scratch) / 'events.db'}")
            migrate(engine)
            ingest_file(engine, events)
            panel = build_panel(engine, Series("PAK", "ucdp", args.freq))
            engine.dispose()
        request = BacktestRequest(
            freq=args.freq, start=start, end=end, horizons=horizons, models=("ensemble",),
            n_jobs=args.n_jobs,
        )  # fmt: skip
        baseline = None
        for name, calendar in variants.items():
            results = run_backtest(panel, request, replace(spec, calendar=calendar))
            if args.save:
                (args.save / str(number)).mkdir(parents=True, exist_ok=True)
                results.to_pickle(args.save / str(number) / f"{name}.pkl")
            table = score_backtest(results)
            pooled = table[(table["model"] == "ensemble") & (table["horizon"] == "all")].iloc[0]
            scores = {score: float(pooled[score]) for score in SCORES}
            baseline = baseline or scores
            cells = " ".join(f"{scores[s]:8.4f} ({scores[s] - baseline[s]:+.4f})" for s in SCORES)
            print(f"{title:<20} {name:<22} {cells}", flush=True)


if __name__ == "__main__":
    main()
