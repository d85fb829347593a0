"""District forecasts split from their province's law: coherent by construction, checked over
random laws and shares and over a real reconciled backtest."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from models.distributions import count_pmfs
from models.fatalities import FatalityLaws
from models.laws import CountLaw
from training.reconcile import (
    forecast_shares,
    historical_shares,
    severe_union_capped,
    split_province,
)

PARENTS = {"A1": "A", "A2": "A", "A-UNPLACED": "A", "B1": "B", "B-UNPLACED": "B"}


def _province(region: str, mean: float, dispersion: float, p_event: float) -> dict[str, object]:
    (pmf, tail), = count_pmfs(np.array([mean]), np.array([dispersion]), np.array([p_event]))  # fmt: skip
    law = CountLaw(pmf, tail)
    expected = float(np.sum(np.arange(len(pmf)) * pmf))
    return {"region": region, "origin": "2020-01", "horizon": 1, "count_law": law.to_json(),
            "expected_events": expected, "p_event": p_event, "p_severe": p_event / 3}  # fmt: skip


def _units(expected: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "region": list(PARENTS),
            "origin": "2020-01",
            "horizon": 1,
            "expected_events": expected,
            "p_event": 0.5,
            "p_severe": 0.4,
        }
    )


@settings(max_examples=25, deadline=None)
@given(
    means=st.tuples(st.floats(0.05, 30.0), st.floats(0.05, 30.0)),
    dispersion=st.floats(0.01, 1.5),
    p_events=st.tuples(st.floats(0.02, 0.99), st.floats(0.02, 0.99)),
    expected=st.lists(st.floats(0.0, 20.0), min_size=5, max_size=5),
)
def test_split_laws_are_coherent_with_the_province(
    means: tuple[float, float],
    dispersion: float,
    p_events: tuple[float, float],
    expected: list[float],
) -> None:
    provinces = pd.DataFrame(
        [
            _province("A", means[0], dispersion, p_events[0]),
            _province("B", means[1], dispersion, p_events[1]),
        ]
    )
    units = _units(expected)
    shares = forecast_shares(units, PARENTS)
    split = split_province(provinces, units, PARENTS, shares)
    by_province = provinces.set_index("region")
    for parent, rows in split.groupby(split["region"].map(PARENTS)):
        province = by_province.loc[parent]
        law = CountLaw.from_json(province["count_law"])
        # The units and the remainder add up to the province's mean...
        assert np.isclose(rows["expected_events"].sum(), province["expected_events"])
        for _, row in rows.iterrows():
            unit = CountLaw.from_json(row["count_law"])
            # ...each unit's law is the mean it states...
            unit_mean = np.sum(np.arange(len(unit.pmf)) * unit.pmf)
            assert np.isclose(unit_mean, row["expected_events"], rtol=1e-4, atol=1e-4)
            # ...no unit is likelier to see an event, or k events, than its province...
            assert row["p_event"] <= province["p_event"] + 1e-9
            for k in (1, 2, 5, 10, 30):
                assert unit.exceedance(k) <= law.exceedance(k) + 1e-9
            # ...and a severe period in the unit is one in the province...
            assert row["p_severe"] <= min(province["p_severe"], row["p_event"]) + 1e-12
            assert row["events_p10"] <= row["events_p50"] <= row["events_p90"]
        # ...as is one in any of its units (read as independent).
        union = 1.0 - np.prod(1.0 - rows["p_severe"].to_numpy())
        assert union <= province["p_severe"] + 1e-9


def test_units_severe_chances_are_lowered_together_only_where_they_say_more() -> None:
    """Units whose chances of a severe period, read as independent, add up to more than their
    province's are lowered by one power of their chances of none, keeping their order; a
    province whose units say less keeps them as they are."""
    p = np.array([0.4, 0.2, 0.0, 0.05, 0.01])
    province = np.array([0.3, 0.3, 0.3, 0.5, 0.5])
    keys = [pd.Series(["A", "A", "A", "B", "B"])]
    capped = severe_union_capped(p, province, keys)
    assert np.isclose(1.0 - np.prod(1.0 - capped[:3]), 0.3)
    power = np.log1p(-capped[0]) / np.log1p(-0.4)
    assert np.isclose(np.log1p(-capped[1]), power * np.log1p(-0.2)) and 0 < power < 1
    assert capped[2] == 0.0 and capped[0] > capped[1]
    assert capped[3:].tolist() == [0.05, 0.01]
    # A unit without a forecast stays without one and does not move its siblings.
    gap = severe_union_capped(np.array([0.05, np.nan]), np.array([0.5, 0.5]), [keys[0][3:]])
    assert gap[0] == 0.05 and np.isnan(gap[1])


def test_unit_fatality_laws_take_the_reconciled_severe_chance() -> None:
    """A unit's fatality law is its model's, spliced again at the row's reconciled p_severe: so
    P(fatalities >= threshold) is the row's p_severe, and its mean and interval (at the levels
    they were published at) are the new law's."""
    own = FatalityLaws(
        p_fatal=np.array([0.6, 0.5, 0.3, 0.2, 0.05]),
        p_severe=np.array([0.4, 0.2, 0.1, 0.05, 0.01]),
        location=np.array([2.5, 2.0, 1.5, 1.0, 0.5]),
        scale=np.full(5, 1.2),
        threshold=25.0,
    )
    t = 0.15
    units = _units([3.0, 1.0, 0.5, 1.0, 0.2]).assign(p_severe=own.p_severe, p_event=0.9)
    units["expected_fatalities"] = own.expected()
    ends = own.quantile(np.array([[t], [0.5], [1 - t]]))
    units["fatalities_p10"], units["fatalities_p50"], units["fatalities_p90"] = ends
    laws = np.empty(5, dtype=object)
    for row, law in enumerate(own.params()):
        laws[row] = law
    units["fatality_law"] = laws
    provinces = pd.DataFrame([_province("A", 8.0, 0.5, 0.95), _province("B", 3.0, 0.5, 0.9)])
    provinces["p_severe"] = [0.3, 0.5]
    split = split_province(provinces, units, PARENTS, forecast_shares(units, PARENTS))
    law = FatalityLaws.from_params(list(split["fatality_law"]))
    assert (split["p_severe"] < own.p_severe - 1e-6).sum() >= 2  # the province A cap binds
    np.testing.assert_allclose(law.exceedance(25.0), split["p_severe"], rtol=1e-6)
    np.testing.assert_allclose(split["expected_fatalities"], law.expected(), rtol=1e-6)
    again = law.quantile(np.array([[t], [0.5], [1 - t]]))
    columns = ["fatalities_p10", "fatalities_p50", "fatalities_p90"]
    np.testing.assert_allclose(split[columns].to_numpy().T, again, rtol=1e-5)
    kept = split["p_severe"].to_numpy() == own.p_severe
    np.testing.assert_allclose(split.loc[kept, columns].to_numpy().T, ends[:, kept], rtol=1e-5)


def test_shares_follow_the_unit_model_or_the_units_history() -> None:
    units = _units([3.0, 1.0, 0.0, 0.0, 0.0])
    assert forecast_shares(units, PARENTS).tolist() == [0.75, 0.25, 0.0, 0.5, 0.5]
    panel = pd.DataFrame(
        {
            "region": [*PARENTS] * 2,
            "period": ["2019-12"] * 5 + ["2020-01"] * 5,
            "events": [2, 0, 0, 0, 0, 1, 0, 1, np.nan, 0],
        }
    )
    # Over the last two periods A1 had 3 of A's 4; B had none (equal shares); B1's missing
    # period counts as nothing known, not as a zero it saw.
    shares = historical_shares(units, panel, PARENTS, window=2)
    assert shares.tolist() == [0.75, 0.0, 0.25, 0.5, 0.5]
    # A window of one period reads only the origin's.
    assert historical_shares(units, panel, PARENTS, window=1).tolist() == [0.5, 0.0, 0.5, 0.5, 0.5]
