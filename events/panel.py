"""The region x period panel models learn from, built from the events table."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pandas as pd
from sqlalchemy import Connection, Engine, select

from events.actors import default_classifier
from events.calendar import calendar_features
from events.canonical import ViolenceType
from events.gazetteer import Gazetteer, default_resolver
from events.periods import (
    Frequency,
    check_frequency,
    period_end,
    period_of,
    period_range,
    period_start,
)
from events.tables import event_rows

PANEL_KEY = ("region", "period")
_VIOLENCE_COLUMNS = {
    ViolenceType.STATE_BASED: "events_state_based",
    ViolenceType.NON_STATE: "events_non_state",
    ViolenceType.ONE_SIDED: "events_one_sided",
}
EVENT_COLUMNS = ("region", "date_start", "fatalities_best", "violence_type", "actor_group")


def load_events(engine: Engine, country: str, as_of: date | None = None) -> pd.DataFrame:
    """Region-resolved, current events of organized violence in one country.

    Withdrawn events (gone from a newer release) and events with no violence type
    (e.g. ACLED demonstrations) are left out.
    """
    query = select(*(event_rows.c[name] for name in EVENT_COLUMNS)).where(
        event_rows.c.country == country,
        event_rows.c.region.is_not(None),
        event_rows.c.withdrawn_at.is_(None),
        event_rows.c.violence_type.is_not(None),
    )
    if as_of is not None:
        query = query.where(event_rows.c.date_start <= as_of)
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(query).all(), columns=list(EVENT_COLUMNS))
    frame["date_start"] = pd.to_datetime(frame["date_start"]).dt.date
    return frame


def panel_from_events(
    frame: pd.DataFrame,
    regions: Sequence[str],
    freq: Frequency,
    *,
    start: str | None = None,
    end: str | None = None,
    as_of: date | None = None,
    elections: Sequence[date] = (),
    actor_groups: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Every region x period from start to end, zero-filled, counting each event once
    in the period in which it started; nothing that started after `as_of` is used.
    """
    freq = check_frequency(freq)
    if as_of is not None:
        frame = frame[frame["date_start"] <= as_of]
        last_allowed = period_of(as_of, freq)
        end = end or last_allowed
        if period_end(end, freq) > period_end(last_allowed, freq):
            raise ValueError(
                f"end {end} is after the as-of date {as_of}: its counts are not known yet"
            )
    if start is None or end is None:
        if frame.empty:
            raise ValueError("no events to build a panel from; give --start and --end")
        start = start or period_of(min(frame["date_start"]), freq)
        end = end or period_of(max(frame["date_start"]), freq)
    periods = period_range(start, end, freq)
    groups = list(actor_groups or default_classifier().names)

    frame = frame.assign(period=[period_of(d, freq) for d in frame["date_start"]])
    frame = frame[frame["period"].isin(periods) & frame["region"].isin(regions)]
    counts = pd.DataFrame(
        {
            "events": 1,
            "fatalities": frame["fatalities_best"].to_numpy(dtype="int64"),
            **{
                column: (frame["violence_type"] == int(kind)).to_numpy(dtype="int64")
                for kind, column in _VIOLENCE_COLUMNS.items()
            },
            **{f"events_{g}": (frame["actor_group"] == g).to_numpy(dtype="int64") for g in groups},
        },
        index=pd.MultiIndex.from_arrays([frame["region"], frame["period"]], names=PANEL_KEY),
    )
    full_index = pd.MultiIndex.from_product([list(regions), periods], names=PANEL_KEY)
    panel = counts.groupby(level=list(PANEL_KEY)).sum().reindex(full_index, fill_value=0)
    panel = panel.astype("int64").reset_index()
    calendar = calendar_features(periods, freq, elections)
    return panel.merge(calendar, on="period", how="left", validate="many_to_one")


def build_panel(
    engine: Engine,
    freq: Frequency = Frequency.MONTH,
    *,
    start: str | None = None,
    end: str | None = None,
    as_of: date | None = None,
    country: str = "PAK",
) -> pd.DataFrame:
    """The panel of one country's regions from the event store."""
    gazetteer: Gazetteer | None = default_resolver().gazetteers.get(country)
    if gazetteer is None:
        known = ", ".join(sorted(default_resolver().gazetteers))
        raise ValueError(f"no gazetteer for country {country!r}; known: {known}")
    return panel_from_events(
        load_events(engine, country, as_of),
        gazetteer.codes,
        freq,
        start=start,
        end=end,
        as_of=as_of,
        elections=gazetteer.elections,
    )


def region_outcomes(
    bind: Engine | Connection, region: str, freq: Frequency, periods: Sequence[str]
) -> pd.DataFrame:
    """Observed events and fatalities of one region in the given periods (zero-filled)."""
    if not periods:
        return pd.DataFrame(columns=["period", "events", "fatalities"])
    first, last = min(periods), max(periods)
    query = select(event_rows.c.date_start, event_rows.c.fatalities_best).where(
        event_rows.c.region == region,
        event_rows.c.withdrawn_at.is_(None),
        event_rows.c.violence_type.is_not(None),
        event_rows.c.date_start >= period_start(first, freq),
        event_rows.c.date_start <= period_end(last, freq),
    )
    if isinstance(bind, Connection):
        rows = bind.execute(query).all()
    else:
        with bind.connect() as conn:
            rows = conn.execute(query).all()
    frame = pd.DataFrame(
        {
            "period": [period_of(day, freq) for day, _ in rows],
            "fatalities": [int(f) for _, f in rows],
        }
    )
    grouped = frame.groupby("period").agg(
        events=("fatalities", "size"), fatalities=("fatalities", "sum")
    )
    filled = grouped.reindex(list(periods), fill_value=0).astype("int64")
    return filled.rename_axis("period").reset_index()
