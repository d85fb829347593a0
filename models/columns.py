"""The columns of a forecast table: its key and the values every stored forecast says."""

from __future__ import annotations

# A forecast row's key, and the values every stored forecast row says (issued or reference).
FORECAST_KEYS = ("region", "origin", "horizon", "period")
FORECAST_VALUES = (
    "p_event",
    "expected_events",
    "events_p10",
    "events_p50",
    "events_p90",
    "p_severe",
)
FORECAST_COLUMNS = (*FORECAST_KEYS, *FORECAST_VALUES, "model_version")
# Present in every forecast table; NaN (and no law) from models that do not forecast fatalities.
FATALITY_COLUMNS = (
    "expected_fatalities",
    "fatalities_p10",
    "fatalities_p50",
    "fatalities_p90",
)
