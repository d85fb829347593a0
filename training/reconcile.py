"""District forecasts made coherent with their province's: top-down, by thinning.

The province model's count law is split among its districts and its unplaced remainder: given
the province's N events, each falls in district d with probability s_d (the shares sum to 1),
so district d's law is the Binomial(N, s_d) thinning of the province law (models.laws). Then,
exactly and for every row:

- the district means and the remainder's add up to the province mean;
- no district's p_event exceeds the province's (1 - E[(1 - s)^N] <= 1 - P(N = 0));
- every district's quantiles and exceedance come from a law that sums to the province's;
- no district's p_severe exceeds the province's, and the chance of a severe period in some
  unit of the province, the units read as independent, is at most the province's p_severe: a
  severe unit period is a severe province period. Where the units' own p_severe say more,
  each unit's chance of none, 1 - p, is raised to the same power c < 1 until they agree.

The dependence this assumes: given the province count, events fall in districts independently
(multinomially); severe periods fall in units independently. Bottom-up sums of independently
forecast districts were worse than the province model on the province's own scores, so the
province law is kept and only split.

The shares are the district model's: each unit's expected count over the sum of its siblings'.
The references split the same province law by each unit's historical share of its province's
events instead.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from models.actors import group_forecast
from models.columns import FATALITY_COLUMNS
from models.fatalities import FatalityLaws
from models.laws import CountLaw

# The reference that splits the province forecast by historical shares.
PROVINCE_SPLIT = "province_split"
KEYS = ["origin", "horizon", "parent"]
# The published interval: the split law's (1 - mass) / 2 and (1 + mass) / 2 quantiles.
INTERVAL_MASS = 0.8


def forecast_shares(units: pd.DataFrame, parents: Mapping[str, str]) -> np.ndarray:
    """Each unit row's share of its province at its origin and horizon: its expected count over
    its siblings' (including the remainder), equal shares where they all expect none."""
    return _shares(units["expected_events"].to_numpy(dtype=float), units, parents)


def historical_shares(
    units: pd.DataFrame, panel: pd.DataFrame, parents: Mapping[str, str], window: int
) -> np.ndarray:
    """Each unit row's share of its province's events in the `window` periods up to its origin
    (covered periods only); equal shares where the province had none."""
    wide = panel.pivot(index="period", columns="region", values="events").sort_index()
    trailing = wide.rolling(window, min_periods=1).sum()
    position = {period: i for i, period in enumerate(trailing.index)}
    values = trailing.to_numpy(dtype=float)
    place = {region: j for j, region in enumerate(trailing.columns)}
    counts = np.array(
        [
            values[position[o], place[r]]
            for r, o in zip(units["region"], units["origin"], strict=True)
        ]
    )
    return _shares(np.nan_to_num(counts), units, parents)


def _shares(amounts: np.ndarray, units: pd.DataFrame, parents: Mapping[str, str]) -> np.ndarray:
    """Each row's amount over its siblings' (same province, origin and horizon); equal shares
    where they all have none."""
    frame = units.assign(parent=units["region"].map(parents), amount=amounts)
    grouped = frame.groupby(KEYS)["amount"]
    total = grouped.transform("sum").to_numpy(dtype=float)
    siblings = grouped.transform("size").to_numpy(dtype=float)
    return np.asarray(
        np.where(total > 0, amounts / np.where(total > 0, total, 1.0), 1.0 / siblings)
    )


def split_province(
    provinces: pd.DataFrame,
    units: pd.DataFrame,
    parents: Mapping[str, str],
    shares: np.ndarray,
) -> pd.DataFrame:
    """The unit rows with their province's law split by `shares`: p_event, expected events,
    quantiles and count law from the thinned law; p_severe at most the province's and the
    unit's p_event; each actor group's share of the unit's events (the unit model's) thins the
    split law in turn. Fatalities stay the unit model's law, spliced at the reconciled
    p_severe."""
    province = provinces.set_index(["region", "origin", "horizon"])
    out = units.copy()
    parent = out["region"].map(parents)
    index = pd.MultiIndex.from_arrays([parent, out["origin"], out["horizon"]])
    laws = province["count_law"].reindex(index).to_numpy()
    expected = province["expected_events"].reindex(index).to_numpy(dtype=float)
    p_severe = province["p_severe"].reindex(index).to_numpy(dtype=float)
    missing = pd.isna(expected)
    if missing.any():
        raise ValueError(
            f"no province forecast for {int(missing.sum())} unit rows, e.g. "
            f"{parent[missing].iloc[0]} at {out['origin'][missing].iloc[0]}"
        )
    split = [
        _split(CountLaw.from_json(law), float(share))
        for law, share in zip(laws, shares, strict=True)
    ]
    laws_json = np.empty(len(split), dtype=object)
    for row, (law, _) in enumerate(split):
        laws_json[row] = law.to_json()
    out["count_law"] = laws_json
    out["p_event"] = [p for _, p in split]
    out["expected_events"] = expected * shares
    ends = np.array([law.interval(INTERVAL_MASS) for law, _ in split]).reshape(-1, 2)
    out["events_p10"], out["events_p90"] = ends[:, 0], ends[:, 1]
    # The whole-number median, inside the interval as in every forecast table.
    medians = [law.median() for law, _ in split]
    out["events_p50"] = np.clip(medians, out["events_p10"], out["events_p90"])
    if "actors" in out:
        out["actors"] = _split_groups(out["actors"].to_numpy(), split, out["expected_events"])
    own = out["p_severe"].to_numpy(dtype=float)
    capped = np.minimum(np.minimum(own, p_severe), out["p_event"].to_numpy())
    out["p_severe"] = severe_union_capped(capped, p_severe, [parent, out["origin"], out["horizon"]])
    if "fatality_law" in out:
        _fatalities_with_severe(out)
    return out


def _fatalities_with_severe(out: pd.DataFrame) -> None:
    """Each unit's fatality law (its model's) with P(fatalities >= threshold) lowered to the
    row's reconciled p_severe, as the unit model itself splices it (models.fatalities); its
    mean and interval read again, the interval at the levels it was published at."""
    laws = out["fatality_law"].to_numpy()
    rows = np.flatnonzero([isinstance(law, Mapping) for law in laws])
    if not len(rows):
        return
    old = FatalityLaws.from_params([laws[r] for r in rows])
    new = old.with_severe(np.minimum(out["p_severe"].to_numpy(dtype=float)[rows], old.p_severe))
    high = out["fatalities_p90"].to_numpy(dtype=float)[rows]
    # The published ends are q(t) and q(1 - t) of the old law: t is what lies at or beyond its
    # p90, short of the whole P(fatalities >= 1) where the p90 sits on 1 itself.
    tail = np.minimum(old.exceedance(high), old.p_fatal * (1 - 1e-9))
    expected, *ends = new.published(tail)
    # A p90 of 0 lies in the mass at 0, which the lower p_severe leaves as it was.
    ends = [np.where(high > 0, values, 0.0) for values in ends]
    for column, values in zip(FATALITY_COLUMNS, [expected, *ends], strict=True):
        filled = out[column].to_numpy(dtype=float).copy()
        filled[rows] = values
        out[column] = filled
    params = laws.copy()
    for row, law in zip(rows, new.params(), strict=True):
        params[row] = law
    out["fatality_law"] = params


def severe_union_capped(
    p_severe: np.ndarray, province: np.ndarray, keys: list[pd.Series]
) -> np.ndarray:
    """The units' `p_severe`, lowered where the chance of a severe period in at least one unit
    of a province (rows sharing `keys`), read as independent, exceeds the province's: each
    unit's log chance of none is multiplied by the same c < 1, so that
    1 - prod(1 - p) equals the province's `p_severe`. The units' order is kept."""
    log_none = np.log1p(-np.clip(p_severe, 0.0, 1.0 - 1e-12))
    total = pd.Series(log_none).groupby([k.to_numpy() for k in keys]).transform("sum").to_numpy()
    limit = np.log1p(-np.clip(province, 0.0, 1.0 - 1e-12))
    with np.errstate(divide="ignore", invalid="ignore"):
        power = np.where(total < limit, limit / total, 1.0)
    return np.asarray(np.where(power < 1.0, -np.expm1(power * log_none), p_severe))


def _split_groups(
    groups: np.ndarray, split: list[tuple[CountLaw, float]], expected: pd.Series
) -> np.ndarray:
    out = np.empty(len(groups), dtype=object)
    for row, ((law, p_event), listed) in enumerate(zip(split, groups, strict=True)):
        out[row] = (
            {
                name: group_forecast(law, part["share"], float(expected.iloc[row]), p_event)
                for name, part in listed.items()
            }
            if isinstance(listed, dict)
            else listed
        )
    return out


def _split(law: CountLaw, share: float) -> tuple[CountLaw, float]:
    thinned = law.thinned(min(max(share, 0.0), 1.0))
    return thinned, thinned.exceedance(1)


def reconciled_backtest(
    units: pd.DataFrame,
    provinces: pd.DataFrame,
    panel: pd.DataFrame,
    parents: Mapping[str, str],
    main: str,
    window: int,
) -> pd.DataFrame:
    """A unit-level backtest with `main` reconciled to the province backtest's `main`: its own
    forecasts kept as `<main>-own`, and the `province_split` reference (the province forecast
    split by each unit's share of its province's events over the last `window` periods)."""
    own = units[units["model"] == main]
    province = provinces[provinces["model"] == main]
    top_down = split_province(province, own, parents, forecast_shares(own, parents))
    # The reference knows nothing of the unit model: its p_severe is the province's, cut to
    # the unit's p_event, and it forecasts no fatalities or actor groups.
    blank = own.assign(p_severe=1.0, fatality_law=None, actors=None)
    blank = blank.assign(**{c: np.nan for c in FATALITY_COLUMNS})
    split = split_province(province, blank, parents, historical_shares(own, panel, parents, window))
    return pd.concat(
        [
            units[units["model"] != main],
            top_down,
            own.assign(model=f"{main}-own"),
            split.assign(model=PROVINCE_SPLIT),
        ],
        ignore_index=True,
    ).sort_values(["model", "origin", "horizon", "region"], ignore_index=True)
