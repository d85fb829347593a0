"""Issued rows as the API serves them: one mapping from `IssuedRow` to `ForecastPublic`, with
what a query asks of the row's laws (quantiles, exceedance, an actor group's thinning)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from models.laws import CountLaw
from service.cache import BoundedCache
from service.errors import ApiError
from service.freshness import freshness
from service.queries import Asked
from service.schemas import (
    ActorPublic,
    ChangePublic,
    DriverPublic,
    FatalitiesPublic,
    ForecastPublic,
    IntervalPublic,
    ObservedPublic,
)
from service.settings import Settings
from training.issued import Change, Issue, IssuedRow

RiskLevel = Literal["low", "moderate", "high", "very high"]
NOTHING_ASKED = Asked()


def risk_level(p_event: float, settings: Settings) -> RiskLevel:
    low, moderate, high = settings.risk_cut_points
    if p_event < low:
        return "low"
    if p_event < moderate:
        return "moderate"
    return "high" if p_event < high else "very high"


@dataclass(frozen=True)
class Presenter:
    """Maps one issue's rows for the API. What every query shares is built once per issue and
    row (kept in `laws`, with the thinned laws of actor groups, whose cost is the square of the
    law's length)."""

    issue: Issue
    names: Mapping[str, str]
    settings: Settings
    laws: BoundedCache[object]

    def public(self, row: IssuedRow, asked: Asked = NOTHING_ASKED) -> ForecastPublic:
        """A row as served: the shared part, then what this query asks added to a copy."""
        if asked.asks_count_law and row.count_law is None:
            raise ApiError(
                404,
                f"{self.issue.version}'s forecasts carry no count law: issue them again to ask it",
            )
        base = self._cached((row.region, row.horizon, "public"), lambda: self._shared(row))
        assert isinstance(base, ForecastPublic)
        update: dict[str, Any] = {}
        if row.count_law is not None and asked.asks_count_law:
            law = row.count_law
            if asked.levels:
                update["quantiles"] = {f"{q:g}": law.quantile(q) for q in asked.levels}
            if asked.counts:
                update["exceedance"] = {str(k): law.exceedance(k) for k in asked.counts}
        if asked.fatality_counts:
            update["fatalities"] = self._fatalities(row, asked)
        if asked.actor is not None:
            update["actor"] = self._actor(row, asked.actor, asked)
        return base.model_copy(update=update) if update else base

    def _cached(self, key: tuple[object, ...], make: Any) -> object:
        full = (self.issue.etag, *key)
        found = self.laws.get(full)
        return found if found is not None else self.laws.put(full, make())

    def _shared(self, row: IssuedRow) -> ForecastPublic:
        return ForecastPublic(
            region=row.region,
            region_name=self.names.get(row.region, row.region),
            horizon=row.horizon,
            period=row.period,
            p_event=row.p_event,
            expected_events=row.expected_events,
            events_interval=events_interval(row),
            p_severe=row.p_severe,
            risk_level=risk_level(row.p_event, self.settings),
            drivers=[
                DriverPublic(feature=d.feature, label=d.label, contribution=d.contribution)
                for d in row.drivers
            ],
            model_version=self.issue.version,
            data_cutoff=self.issue.origin,
            change=_change(row.change),
            fatalities=self._fatalities(row, NOTHING_ASKED),
        )

    def _actor(self, row: IssuedRow, group: str, asked: Asked) -> ActorPublic:
        part = row.actors.get(group)
        if part is None and row.actors:
            raise ApiError(
                422,
                f"{self.issue.version} forecasts no actor group {group!r}",
                {"valid_actors": sorted(row.actors)},
            )
        if part is None:
            raise ApiError(
                404,
                f"{self.issue.version} forecasts no actor groups: its source names no actors, "
                "or it predates per-actor forecasts",
            )
        counts = row.count_law
        if counts is None:
            raise ApiError(
                404, f"{self.issue.version}'s forecasts carry no count law: issue them again"
            )
        law = self._cached((row.region, row.horizon, group), lambda: counts.thinned(part.share))
        assert isinstance(law, CountLaw)
        return ActorPublic(
            group=group,
            share=part.share,
            p_event=part.p_event,
            expected_events=part.expected_events,
            events_interval=IntervalPublic(
                p10=law.quantile(0.1), p50=law.quantile(0.5), p90=law.quantile(0.9)
            ),
            exceedance={str(k): law.exceedance(k) for k in asked.counts} if asked.counts else None,
        )

    def _fatalities(self, row: IssuedRow, asked: Asked) -> FatalitiesPublic | None:
        law = row.fatality_law
        if law is None or row.expected_fatalities is None:
            if asked.fatality_counts:
                raise ApiError(
                    404,
                    f"{self.issue.version} does not forecast fatalities: train a newer model to "
                    "ask",
                )
            return None
        assert row.fatalities_p10 is not None and row.fatalities_p50 is not None
        assert row.fatalities_p90 is not None
        threshold = int(law.threshold)
        return FatalitiesPublic(
            expected=row.expected_fatalities,
            interval=IntervalPublic(
                p10=row.fatalities_p10, p50=row.fatalities_p50, p90=row.fatalities_p90
            ),
            severe_threshold=threshold,
            p_severe=law.exceedance(threshold),
            exceedance={str(k): law.exceedance(k) for k in asked.fatality_counts}
            if asked.fatality_counts
            else None,
        )


def events_interval(row: IssuedRow) -> IntervalPublic:
    """The 80% interval and median."""
    return IntervalPublic(p10=row.events_p10, p50=row.events_p50, p90=row.events_p90)


def _change(change: Change | None) -> ChangePublic | None:
    if change is None:
        return None
    return ChangePublic.model_validate(change, from_attributes=True)


def freshness_fields(issue: Issue, settings: Settings) -> dict[str, Any]:
    fresh = freshness(issue, settings.stale_after_days)
    return {"data_cutoff": fresh.data_cutoff, "data_age_days": fresh.age_days, "stale": fresh.stale}


def observed(row: Mapping[Any, Any]) -> ObservedPublic:
    """An observed period; events and fatalities are None where the source does not cover it."""
    known = not pd.isna(row["events"])
    return ObservedPublic(
        period=row["period"],
        events=int(row["events"]) if known else None,
        fatalities=int(row["fatalities"]) if known else None,
    )


def select_rows(
    issue: Issue, regions: Collection[str] | None, horizon: int | None
) -> list[IssuedRow]:
    return [
        row
        for row in issue.rows
        if (regions is None or row.region in regions)
        and (horizon is None or row.horizon == horizon)
    ]
