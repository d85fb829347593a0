"""Events across the border as features: from touching units of other defined countries, the
same source and frequency; coverage-aware and free of look-ahead. The Afghan counts of the
fixture are illustrative (tests/data/README.md)."""

from __future__ import annotations

import csv
import gzip
from collections import Counter
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine

from events.cross_border import ACROSS_COLUMN, across_neighbours
from events.gazetteer import default_resolver
from events.ingest import ingest_file
from events.panel import build_panel
from events.periods import Frequency
from events.series import Series
from features.design import horizon_data
from features.specs import build_features, default_spec
from tests.conftest import SOUTH_ASIA
from tests.test_countries import ACLED_AFGHAN_CODES

PAK_ACLED = Series("PAK", "acled", Frequency.MONTH)
# Afghan weeks left out of the store: February 2020 is then a month no file covers.
GAP = ("2020-01-04", "2020-02-29")


def _split(tmp_path: Path) -> tuple[Path, Path]:
    """The fixture as two files, the second without the Afghan weeks of GAP."""
    with gzip.open(SOUTH_ASIA, "rt", newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    first = [r for r in body if r[0] < "2020-01-01"]
    second = [
        r for r in body if r[0] >= "2020-01-01" and not (r[2] == "Afghanistan" and r[0] <= GAP[1])
    ]
    paths = []
    for name, part in (("south_asia_a.csv", first), ("south_asia_b.csv", second)):
        path = tmp_path / name
        with path.open("w", newline="") as handle:
            csv.writer(handle).writerows([header, *part])
        paths.append(path)
    return paths[0], paths[1]


@pytest.fixture
def split_store(engine: Engine, tmp_path: Path) -> Engine:
    for path in _split(tmp_path):
        ingest_file(engine, path)
    return engine


def _afghan_monthly(month: str) -> Counter[str]:
    counted: Counter[str] = Counter()
    with gzip.open(SOUTH_ASIA, "rt", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["COUNTRY"] == "Afghanistan" and row["WEEK"][:7] == month:
                counted[ACLED_AFGHAN_CODES[row["ADMIN1"]]] += int(row["EVENTS"])
    return counted


def test_units_touch_the_units_across_the_border_only() -> None:
    touching = across_neighbours(default_resolver(), "PAK")
    assert set(touching) == {"PK-KP", "PK-BA", "PK-GB"}  # Punjab, Sindh, ... touch no border
    assert {"AF-KNR", "AF-NAN", "AF-KHO"} <= set(touching["PK-KP"])
    assert {"AF-KAN", "AF-HEL", "AF-NIM"} <= set(touching["PK-BA"])
    back = across_neighbours(default_resolver(), "AFG")
    assert "PK-KP" in back["AF-KNR"] and "AF-HER" not in back


def test_across_events_sum_the_touching_units_and_a_gap_stays_missing(
    split_store: Engine,
) -> None:
    panel = build_panel(split_store, PAK_ACLED).set_index(["region", "period"])
    touching = across_neighbours(default_resolver(), "PAK")
    may = _afghan_monthly("2019-05")
    for region in ("PK-KP", "PK-BA"):
        expected = sum(may[code] for code in touching[region])
        assert panel.loc[(region, "2019-05"), ACROSS_COLUMN] == expected
    assert panel.loc[("PK-PB", "2019-05"), ACROSS_COLUMN] == 0.0  # no border: nothing across
    # February 2020: Pakistan's own data cover it, Afghanistan's do not: missing, never zero.
    assert panel.loc[("PK-KP", "2020-02"), "events"] >= 0
    assert np.isnan(panel.loc[("PK-KP", "2020-02"), ACROSS_COLUMN])
    spec = default_spec(
        default_resolver().gazetteers["PAK"], Frequency.MONTH, groups=(), cross_border=True
    )
    features = build_features(panel.reset_index(), spec)
    assert np.isnan(features.loc[("PK-KP", "2020-02"), "across_log_events_mean_1"])
    assert features.loc[("PK-KP", "2020-03"), "across_log_events_mean_1"] >= 0
    # The model sees an uncovered month as unknown (a flag), not as a quiet one.
    design = horizon_data(panel.reset_index(), spec, 1, default_resolver().gazetteers["PAK"].codes)
    assert design.X.loc[("PK-KP", "2020-02"), "across_log_events_mean_1_known"] == 0.0
    assert design.X.loc[("PK-KP", "2020-03"), "across_log_events_mean_1_known"] == 1.0
    # Off by default: the default spec computes no cross-border feature.
    plain = default_spec(default_resolver().gazetteers["PAK"], Frequency.MONTH, groups=())
    assert not [c for c in build_features(panel.reset_index(), plain).columns if "across" in c]


def test_across_features_use_no_later_data(split_store: Engine) -> None:
    """Features at an origin are the same whether built from everything or as of the origin."""
    spec = default_spec(
        default_resolver().gazetteers["PAK"], Frequency.MONTH, groups=(), cross_border=True
    )
    full = build_features(build_panel(split_store, PAK_ACLED), spec)
    # A month of weekly counts is whole once its last week ends (2019-06: on 2019-07-05).
    for origin, as_of in (("2019-06", date(2019, 7, 5)), ("2020-04", date(2020, 5, 1))):
        cut = build_features(build_panel(split_store, PAK_ACLED, as_of=as_of), spec)
        columns = [c for c in full.columns if c.startswith("across_")]
        pd.testing.assert_frame_equal(
            full.xs(origin, level="period")[columns], cut.xs(origin, level="period")[columns]
        )
