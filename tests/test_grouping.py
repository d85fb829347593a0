"""Per-region sums in one pass equal the per-region loop they replace; a world-size panel fits
on its most recent periods only."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from features.design import HorizonData
from models.direct import _most_recent
from models.grouping import RegionIndex


@settings(max_examples=50, deadline=None)
@given(
    regions=st.lists(
        st.sampled_from(["PK-KP", "PK-BA", "AF-KNR", "IN-JK"]), min_size=1, max_size=60
    ),
    seed=st.integers(0, 2**16),
)
def test_region_sums_equal_the_loop(regions: list[str], seed: int) -> None:
    rng = np.random.default_rng(seed)
    names = np.array(regions, dtype=object)
    values = rng.poisson(3.0, size=len(names)).astype(float)
    where = rng.random(len(names)) < 0.6
    index = RegionIndex(names)
    for i, region in enumerate(index.names):
        mine = names == region
        assert index.sums(values, where)[i] == values[mine & where].sum()
        assert index.sums(values)[i] == values[mine].sum()
        assert index.counts(where)[i] == np.sum(mine & where)


def _data(periods: list[str], regions: int) -> HorizonData:
    index = pd.MultiIndex.from_product(
        [[f"R{r}" for r in range(regions)], periods], names=["region", "period"]
    )
    X = pd.DataFrame({"x": np.arange(len(index), dtype=float)}, index=index)
    zeros = pd.Series(0.0, index=index)
    return HorizonData(X, zeros, zeros, zeros)


def test_a_large_panel_keeps_its_latest_periods_and_a_small_one_all() -> None:
    weeks = [f"2021-W{w:02d}" for w in range(1, 53)]
    small = _data(weeks, 7)
    assert _most_recent(small, 400_000) is small
    large = _most_recent(_data(weeks, 100), 1_000)
    kept = sorted(set(large.periods))
    assert kept == weeks[-10:] and len(large.X) == 1_000
