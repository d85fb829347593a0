"""Why a forecast changed since the previous issue for the same region and horizon.

The change in p_event is split along one path, so its parts add up to it exactly:

    previous issue --revision--> the previous model on its inputs as the data now stand
                   --model-----> the new champion on those inputs
                   --data------> ... each input moved to its new value, one at a time
                   --calendar--> ... and the target period's calendar (elections, Ramadan, Ashura)

Inputs are named with the same words as the drivers (features.specs.feature_label), and the
facts behind the data moves are said plainly ("23 more events in the last 3 months").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from events.periods import Frequency, cadence, shift_period
from features.specs import feature_label
from models.direct import DirectForecaster

# How many named inputs a change lists before the rest is summed as "other inputs".
NAMED_INPUTS = 4
_FACT_WINDOW = 3


@dataclass(frozen=True)
class Previous:
    """The issue a forecast is compared with."""

    version: str
    origin: str
    p_event: float
    model: DirectForecaster


def _part(source: str, label: str, delta: float, feature: str | None = None) -> dict[str, Any]:
    return {"source": source, "feature": feature, "label": label, "delta": round(float(delta), 6)}


def _facts(panel: pd.DataFrame, region: str, old: str, new: str, freq: Frequency) -> list[str]:
    """Plain sentences on what moved in the data between the two origins."""
    unit = cadence(freq).unit
    rows = panel[panel["region"] == region].set_index("period")

    def total(column: str, origin: str) -> float:
        window = [shift_period(origin, -k, freq) for k in range(_FACT_WINDOW)]
        return float(rows[column].reindex(window).sum())

    facts = []
    for column, noun in (("events", "events"), ("fatalities", "deaths")):
        moved = total(column, new) - total(column, old)
        if moved:
            direction = "more" if moved > 0 else "fewer"
            facts.append(f"{abs(moved):.0f} {direction} {noun} in the last {_FACT_WINDOW} {unit}s")
    return facts


def explain(
    model: DirectForecaster,
    panel: pd.DataFrame,
    origin: str,
    horizon: int,
    table: pd.DataFrame,
    previous: dict[str, Previous],
) -> dict[str, dict[str, Any]]:
    """region -> the change of its forecast at `horizon` from the previous issue: the delta, its
    contributions (which add up to it) and the facts behind them."""
    freq = model.spec.freq
    new_X = model.inputs(panel, origin, horizon)
    new_p = dict(zip(table["region"], table["p_event"], strict=True))
    changes: dict[str, dict[str, Any]] = {}
    for region, before in previous.items():
        if region not in new_p or horizon not in before.model.models:
            continue
        old_X = before.model.inputs(panel, before.origin, horizon).loc[[region]]
        row_new = new_X.loc[[region]]
        parts = []
        at_old = float(before.model.probability(old_X, horizon)[0])
        parts.append(
            _part("revision", "data revised since the previous issue", at_old - before.p_event)
        )
        if list(old_X.columns) != list(row_new.columns):  # other inputs: one step for it all
            parts.append(_part("model", f"new champion {model.version}", new_p[region] - at_old))
        else:
            mixed = old_X.copy()
            mixed.index = row_new.index
            current = float(model.probability(mixed, horizon)[0])
            parts.append(
                _part(
                    "model",
                    f"new champion {model.version}"
                    if before.version != model.version
                    else "same champion",
                    current - at_old,
                )
            )
            moves = []
            calendar = [c for c in mixed.columns if c.startswith("target_")]
            for column in [c for c in mixed.columns if c not in calendar] + calendar:
                if np.isclose(mixed[column].iloc[0], row_new[column].iloc[0]):
                    continue
                mixed[column] = row_new[column].to_numpy()
                after = float(model.probability(mixed, horizon)[0])
                source = "calendar" if column in calendar else "data"
                moves.append(_part(source, feature_label(column, freq), after - current, column))
                current = after
            moves.sort(key=lambda part: -abs(part["delta"]))
            parts.extend(moves[:NAMED_INPUTS])
            rest = sum(part["delta"] for part in moves[NAMED_INPUTS:])
            if moves[NAMED_INPUTS:]:
                parts.append(_part("data", "other inputs", rest))
        parts = [p for p in parts if p["delta"] != 0.0]
        changes[region] = {
            "previous_origin": before.origin,
            "previous_version": before.version,
            "previous_p_event": round(before.p_event, 6),
            "delta_p_event": round(new_p[region] - before.p_event, 6),
            "contributions": parts,
            "facts": _facts(panel, region, before.origin, origin, freq),
        }
    return changes
