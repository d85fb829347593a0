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
from features import memo
from features.specs import build_features, feature_label
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


class FeatureCache:
    """Features of the panel up to an origin, built once per model version and origin: every
    horizon's comparison reads the same ones."""

    def __init__(self, panel: pd.DataFrame) -> None:
        self.panel = panel
        self._built: dict[tuple[str, str], pd.DataFrame] = {}

    def inputs(self, model: DirectForecaster, origin: str, horizon: int) -> pd.DataFrame:
        key = (model.version, origin)
        if key not in self._built:
            history = self.panel[self.panel["period"] <= origin]
            # Shared with the forecast itself where the spec is the same (features.memo).
            self._built[key] = memo.reuse(
                ("features", memo.fingerprint(history, model.spec)),
                lambda: build_features(history, model.spec),
            )
        return model.inputs(self.panel, origin, horizon, self._built[key])


def explain(
    model: DirectForecaster,
    cache: FeatureCache,
    origin: str,
    horizon: int,
    table: pd.DataFrame,
    previous: dict[str, Previous],
) -> dict[str, dict[str, Any]]:
    """region -> the change of its forecast at `horizon` from the previous issue: the delta, its
    contributions (which add up to it) and the facts behind them. Regions compared with the same
    issue walk their paths together (one prediction per step for all of them)."""
    panel = cache.panel
    new_X = cache.inputs(model, origin, horizon)
    new_p = dict(zip(table["region"], table["p_event"], strict=True))
    groups: dict[tuple[str, str], list[str]] = {}
    for region, before in previous.items():
        if region in new_p and horizon in before.model.models:
            groups.setdefault((before.version, before.origin), []).append(region)
    changes: dict[str, dict[str, Any]] = {}
    for regions in groups.values():
        before = previous[regions[0]]
        old_X = cache.inputs(before.model, before.origin, horizon).loc[regions]
        before_p = np.array([previous[region].p_event for region in regions])
        paths = _walk(model, before, before_p, old_X, new_X.loc[regions], horizon, new_p)
        for region, parts in zip(regions, paths, strict=True):
            changes[region] = {
                "previous_origin": before.origin,
                "previous_version": before.version,
                "previous_p_event": round(previous[region].p_event, 6),
                "delta_p_event": round(new_p[region] - previous[region].p_event, 6),
                "contributions": parts,
                "facts": _facts(panel, region, before.origin, origin, model.spec.freq),
            }
    return changes


def _walk(
    model: DirectForecaster,
    before: Previous,
    previous_p: np.ndarray,
    old_X: pd.DataFrame,
    new_X: pd.DataFrame,
    horizon: int,
    new_p: dict[str, float],
) -> list[list[dict[str, Any]]]:
    """Each region's contributions along the path from the previous issue (`previous_p`, its
    p_event per region) to this one."""
    regions = list(new_X.index.get_level_values("region"))
    freq = model.spec.freq
    at_old = before.model.probability(old_X, horizon)
    steps: list[tuple[str, str, str | None, np.ndarray]] = []
    steps.append(("revision", "data revised since the previous issue", None, at_old - previous_p))
    champion = (
        f"new champion {model.version}" if before.version != model.version else "same champion"
    )
    if list(old_X.columns) != list(new_X.columns):  # other inputs: the champion is the whole step
        final = np.array([new_p[r] for r in regions])
        steps.append(("model", champion, None, final - at_old))
        moves: list[tuple[str, str, str | None, np.ndarray]] = []
    else:
        # Every point of the path, stacked and predicted at once: the cost of a prediction is
        # in its trees, not its rows.
        mixed = old_X.copy()
        mixed.index = new_X.index
        points, moved = [mixed.copy()], []
        calendar = [c for c in mixed.columns if c.startswith("target_")]
        for column in [c for c in mixed.columns if c not in calendar] + calendar:
            before_values = mixed[column].to_numpy(dtype=float)
            if np.allclose(before_values, new_X[column].to_numpy(dtype=float)):
                continue
            mixed[column] = new_X[column].to_numpy()
            points.append(mixed.copy())
            moved.append(column)
        p = model.probability(pd.concat(points), horizon).reshape(len(points), len(regions))
        steps.append(("model", champion, None, p[0] - at_old))
        moves = [
            ("calendar" if column in calendar else "data", feature_label(column, freq), column,
             p[k + 1] - p[k])
            for k, column in enumerate(moved)
        ]  # fmt: skip
    paths = []
    for i in range(len(regions)):
        parts = [_part(source, label, delta[i], feature) for source, label, feature, delta in steps]
        named = sorted(
            (_part(source, label, delta[i], feature) for source, label, feature, delta in moves),
            key=lambda part: -abs(part["delta"]),
        )
        parts.extend(named[:NAMED_INPUTS])
        if named[NAMED_INPUTS:]:
            parts.append(
                _part("data", "other inputs", sum(p["delta"] for p in named[NAMED_INPUTS:]))
            )
        paths.append([p for p in parts if p["delta"] != 0.0])
    return paths
