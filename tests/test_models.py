"""Contract tests over every model family, and the no-look-ahead guarantee."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from features.design import horizon_data
from features.specs import FeatureSpec, build_features
from models.base import check_forecast_table
from models.catalog import FAMILIES, make_forecaster
from models.columns import FORECAST_COLUMNS
from models.ensemble import EnsembleModel, jeffreys_rate
from tests.synthetic import REGIONS, generate_panel

HORIZONS = (1, 3, 6)
ORIGIN = "2013-06"
SPEC = FeatureSpec.default("month", neighbours={"PK-KP": ("PK-BA",), "PK-BA": ("PK-KP", "PK-SD")})


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return generate_panel(seed=7)


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def fitted(request: pytest.FixtureRequest, panel: pd.DataFrame) -> tuple[str, object]:
    history = panel[panel["period"] <= ORIGIN]
    return request.param, make_forecaster(request.param, SPEC, HORIZONS).fit(history)


def test_forecast_table_shape_and_invariants(
    fitted: tuple[str, object], panel: pd.DataFrame
) -> None:
    name, model = fitted
    table = model.predict(panel, ORIGIN, HORIZONS)  # type: ignore[attr-defined]

    assert list(table.columns[: len(FORECAST_COLUMNS)]) == list(FORECAST_COLUMNS)
    assert len(table) == len(REGIONS) * len(HORIZONS)
    assert set(table["region"]) == set(REGIONS)
    assert table.groupby("horizon")["period"].first().to_dict() == {
        1: "2013-07",
        3: "2013-09",
        6: "2013-12",
    }
    assert (table["origin"] == ORIGIN).all() and (table["model_version"] == name).all()
    check_forecast_table(table)  # probabilities in [0, 1], ordered non-negative quantiles
    assert np.isfinite(
        table[["p_event", "expected_events", "events_p90", "p_severe"]].to_numpy()
    ).all()
    # One count law behind the row: its mean is at least its probability of a nonzero count.
    assert (table["expected_events"] >= table["p_event"] - 1e-9).all()
    # A severe period is a period with an event.
    assert (table["p_severe"] <= table["p_event"]).all()


def test_busier_regions_get_higher_risk(fitted: tuple[str, object], panel: pd.DataFrame) -> None:
    _, model = fitted
    table = model.predict(panel, ORIGIN, (1,)).set_index("region")  # type: ignore[attr-defined]
    assert table.loc["PK-KP", "p_event"] > table.loc["PK-IS", "p_event"]
    assert table.loc["PK-KP", "expected_events"] > table.loc["PK-IS", "expected_events"]


def test_save_then_load_gives_identical_predictions(
    fitted: tuple[str, object], panel: pd.DataFrame, tmp_path: Path
) -> None:
    _, model = fitted
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    loaded = joblib.load(path)
    pd.testing.assert_frame_equal(
        model.predict(panel, ORIGIN, HORIZONS),  # type: ignore[attr-defined]
        loaded.predict(panel, ORIGIN, HORIZONS),
    )


def test_no_look_ahead_absurd_future_changes_nothing(
    fitted: tuple[str, object], panel: pd.DataFrame
) -> None:
    """Predictions for an origin are identical whether or not later periods hold absurd values."""
    name, honest = fitted  # fitted on the clean history up to ORIGIN
    poisoned = panel.copy()
    later = poisoned["period"] > ORIGIN
    counted = [c for c in poisoned.columns if c.startswith("events") or c == "fatalities"]
    poisoned.loc[later, counted] = 10_000

    # The fit sees only the history; prediction is handed the whole poisoned panel.
    from_poisoned = make_forecaster(name, SPEC, HORIZONS).fit(
        poisoned[poisoned["period"] <= ORIGIN]
    )
    pd.testing.assert_frame_equal(
        honest.predict(panel, ORIGIN, HORIZONS),  # type: ignore[attr-defined]
        from_poisoned.predict(poisoned, ORIGIN, HORIZONS),
    )


def test_unfitted_horizon_and_unknown_origin_are_errors(
    fitted: tuple[str, object], panel: pd.DataFrame
) -> None:
    _, model = fitted
    with pytest.raises(ValueError, match=r"horizons \[2\] were not fitted"):
        model.predict(panel, ORIGIN, (2,))  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="origin 2031-01 is not a period"):
        model.predict(panel, "2031-01", (1,))  # type: ignore[attr-defined]


def test_unknown_family_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown model 'prophet'"):
        make_forecaster("prophet", SPEC, HORIZONS)


def test_ensemble_drivers_name_features_in_words(panel: pd.DataFrame) -> None:
    model = make_forecaster("ensemble", SPEC, (1,)).fit(panel[panel["period"] <= ORIGIN])
    drivers = model.predict(panel, ORIGIN, (1,))["drivers"]
    assert all(len(listed) == 3 for listed in drivers)
    assert all(set(d) == {"feature", "label", "contribution"} for d in drivers.iloc[0])
    assert any("over the last" in d["label"] for listed in drivers for d in listed)
    first = drivers.iloc[0]
    assert [abs(d["contribution"]) for d in first] == sorted(
        (abs(d["contribution"]) for d in first), reverse=True
    )


def test_severe_probability_never_exceeds_event_probability(panel: pd.DataFrame) -> None:
    """A quiet origin month after a severe one: last-value Poisson's p_event is 0 (the last
    count was 0) while its p_severe, the recent severe share, is not; a severe period is a
    period with an event, so the table caps p_severe at p_event."""
    quiet = panel[panel["period"] <= ORIGIN].copy()
    kp = quiet["region"] == "PK-KP"
    quiet.loc[kp & (quiet["period"] == "2013-03"), ["events", "fatalities"]] = (3, 40)
    quiet.loc[kp & (quiet["period"] == ORIGIN), ["events", "fatalities"]] = (0, 0)
    model = make_forecaster("last_value_poisson", SPEC, (1,)).fit(quiet)
    row = model.predict(quiet, ORIGIN, (1,)).set_index("region").loc["PK-KP"]
    assert row["p_event"] == 0.0
    assert row["p_severe"] == 0.0


def test_ensemble_saved_before_share_smoothing_keeps_its_raw_share(
    panel: pd.DataFrame, tmp_path: Path
) -> None:
    """Ensembles saved before the severe share was smoothed have severe stacks fitted on the raw
    share; loaded now, they must keep feeding it the raw share, not fail or smooth it."""
    history = panel[panel["period"] <= ORIGIN]
    model = make_forecaster("ensemble", SPEC, (1,)).fit(history)
    fitted = model.models[1]
    assert isinstance(fitted, EnsembleModel)
    assert fitted.severe_stack.params is not None  # fitted on held-out months
    del fitted.__dict__["severe_share_periods"]  # as pickled before the change
    joblib.dump(model, tmp_path / "old.joblib")
    old = joblib.load(tmp_path / "old.joblib")
    table = old.predict(history, ORIGIN, (1,)).set_index("region")

    data = horizon_data(history, SPEC, 1, old.regions, build_features(history, SPEC))
    X = data.X[data.X.index.get_level_values("period") == ORIGIN]
    ensemble = old.models[1]
    assert isinstance(ensemble, EnsembleModel)
    members = [member.predict(X).p_severe for member in ensemble.members]
    share = X[f"share_severe_{SPEC.recent_window}"].to_numpy(dtype=float)
    raw = ensemble.severe_stack([*members, share])
    smoothed = ensemble.severe_stack([*members, jeffreys_rate(share, SPEC.recent_window)])
    regions = X.index.get_level_values("region")
    expected = np.minimum(raw, table.loc[regions, "p_event"].to_numpy())
    np.testing.assert_allclose(table.loc[regions, "p_severe"], expected)
    assert np.max(np.abs(raw - smoothed)) > 1e-3  # the two readings differ here


def test_a_spec_saved_before_the_window_mapping_loads_with_its_windows() -> None:
    """Artifacts pickled with six window fields and no reference windows still load."""
    import pickle

    from events.periods import Frequency

    week = FeatureSpec.default(Frequency.WEEK)
    old_state = {
        k: v
        for k, v in week.__dict__.items()
        if k not in {"windows", "recent_window", "climatology_window"}
    }
    old_state.update(
        count_windows=(1, 4, 13, 26, 52, 520), occurrence_windows=(4, 13, 26, 52, 156, 520),
        fatality_windows=(13, 52), severe_windows=(52, 156, 520), spatial_windows=(13,),
        group_windows=(52,), since_cap=520,
    )  # fmt: skip
    old = FeatureSpec.__new__(FeatureSpec)
    old.__setstate__(old_state)
    assert old.window("count") == (1, 4, 13, 26, 52, 520) and old.window("since") == (520,)
    assert (old.recent_window, old.climatology_window) == (52, 520)
    assert pickle.loads(pickle.dumps(week)) == week
    assert week.window("count") == (1, 4, 13, 26, 52, 104, 520)  # durations: two years is 104


def test_a_spec_saved_before_unit_parents_existed_still_builds_features(
    panel: pd.DataFrame,
) -> None:
    """Champions pickled before `FeatureSpec.parents` must still forecast after an upgrade."""
    old_state = {k: v for k, v in SPEC.__dict__.items() if k != "parents"}
    old = FeatureSpec.__new__(FeatureSpec)
    old.__setstate__(old_state)
    assert old.parents == {} and old == SPEC
    history = panel[panel["period"] <= ORIGIN]
    pd.testing.assert_frame_equal(build_features(history, old), build_features(history, SPEC))
