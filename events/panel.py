"""The region x period panel of one series, built from its source's stored events and counts.

Periods the source does not cover are rows whose counts are missing (NaN), never zeros.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, select

from events.calendar import calendar_features
from events.canonical import ViolenceType
from events.coverage import Coverage, series_coverage
from events.cross_border import ACROSS_COLUMN, across_events, across_neighbours
from events.gazetteer import Gazetteer, default_resolver
from events.levels import FIRST_LEVEL, UNPLACED
from events.periods import (
    Frequency,
    check_frequency,
    period_end,
    period_of,
    period_range,
    period_start,
)
from events.series import Series
from events.tables import event_counts, event_rows
from store.db import fetch_all

PANEL_KEY = ("region", "period")
COUNT_COLUMNS = ("events", "fatalities")
_VIOLENCE_COLUMNS = {
    ViolenceType.STATE_BASED: "events_state_based",
    ViolenceType.NON_STATE: "events_non_state",
    ViolenceType.ONE_SIDED: "events_one_sided",
}
EVENT_COLUMNS = (
    "region", "date_start", "fatalities_best", "violence_type", "actor_group", "district"
)  # fmt: skip
# A district panel's unit for the events its province could not place in a district: the
# province's remainder, so that districts and remainders add up to the province.
# ACLED's week starts on Saturday; the ISO week holding five of its days starts two days later.
_ACLED_WEEK_TO_ISO = timedelta(days=2)


def load_events(
    bind: Engine | Connection,
    country: str,
    as_of: date | None = None,
    source: str | None = None,
    since: date | None = None,
) -> pd.DataFrame:
    """Region-resolved, current events of organized violence in one country (of one source).

    Withdrawn events (gone from a newer release) and events with no violence type
    (e.g. ACLED demonstrations) are left out.
    """
    query = select(*(event_rows.c[name] for name in EVENT_COLUMNS)).where(
        event_rows.c.country == country,
        event_rows.c.region.is_not(None),
        event_rows.c.withdrawn_at.is_(None),
        event_rows.c.violence_type.is_not(None),
    )
    if source is not None:
        query = query.where(event_rows.c.source == source)
    if as_of is not None:
        query = query.where(event_rows.c.date_start <= as_of)
    if since is not None:
        query = query.where(event_rows.c.date_start >= since)
    frame = pd.DataFrame(fetch_all(bind, query), columns=list(EVENT_COLUMNS))
    frame["date_start"] = pd.to_datetime(frame["date_start"]).dt.date
    return frame


def load_counts(
    bind: Engine | Connection,
    series: Series,
    as_of: date | None = None,
    since: date | None = None,
) -> pd.DataFrame:
    """The series' counted (organized violence) aggregated cells, each in its panel period:
    columns region, period, events, fatalities. Cells whose native period ends after `as_of`,
    or that cannot be placed in one period of the series (months on a weekly series), are left
    out."""
    c = event_counts.c
    query = select(c.unit, c.period_start, c.region, c.events, c.fatalities).where(
        c.source == series.source, c.country == series.country, c.violent.is_(True)
    )
    if since is not None:
        query = query.where(c.period_start >= since - timedelta(days=31))
    rows = fetch_all(bind, query)
    labels, kept = [], []
    for unit, start, region, events, fatalities in rows:
        assert isinstance(start, date)
        if unit == "week":
            ends, label_day = start + timedelta(days=6), start
            if series.freq == Frequency.WEEK:
                label_day = start + _ACLED_WEEK_TO_ISO
        elif series.freq == Frequency.MONTH:
            label_day = start
            ends = period_end(period_of(start, Frequency.MONTH), Frequency.MONTH)
        else:
            continue
        if as_of is not None and ends > as_of:
            continue
        labels.append(period_of(label_day, series.freq))
        kept.append((region, events, fatalities))
    frame = pd.DataFrame(kept, columns=["region", "events", "fatalities"])
    frame.insert(1, "period", labels)
    return frame


def has_counts(bind: Engine | Connection, series: Series) -> bool:
    """Whether the series' source holds aggregated counts for its country (they name no actors
    or violence types, so panels of such series carry events and fatalities only)."""
    c = event_counts.c
    found = fetch_all(
        bind, select(c.id).where(c.source == series.source, c.country == series.country).limit(1)
    )
    return bool(found)


def _mark_missing(panel: pd.DataFrame, covered: Collection[str] | None) -> pd.DataFrame:
    if covered is None:
        return panel
    missing = ~panel["period"].isin(covered)
    if not missing.any():
        return panel
    counts = [c for c in panel.columns if c not in PANEL_KEY]
    panel[counts] = panel[counts].astype("float64")
    panel.loc[missing, counts] = np.nan
    return panel


def _periods(
    seen: Sequence[str],
    freq: Frequency,
    start: str | None,
    end: str | None,
    as_of: date | None,
    covered: Sequence[str] | None,
) -> list[str]:
    if as_of is not None:
        last_allowed = period_of(as_of, freq)
        if end is not None and period_end(end, freq) > period_end(last_allowed, freq):
            raise ValueError(
                f"end {end} is after the as-of date {as_of}: its counts are not known yet"
            )
        if covered is None:
            end = end or last_allowed
    known = list(covered) if covered is not None else list(seen)
    if start is None or end is None:
        if not known:
            raise ValueError("no covered periods to build a panel from; ingest data first")
        start = start or min(known)
        end = end or max(known)
    return period_range(start, end, freq)


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
    covered: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Every region x period from start to end, counting each event once in the period in
    which it started; nothing that started after `as_of` is used. Periods outside `covered`
    (when given) are missing; the others are zero-filled.
    """
    freq = check_frequency(freq)
    if as_of is not None:
        frame = frame[frame["date_start"] <= as_of]
    frame = frame.assign(period=[period_of(d, freq) for d in frame["date_start"]])
    periods = _periods(list(frame["period"]), freq, start, end, as_of, covered)
    groups = list(actor_groups or ())
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
    return _finish(counts, regions, periods, freq, elections, covered)


def panel_from_counts(
    frame: pd.DataFrame,
    regions: Sequence[str],
    freq: Frequency,
    *,
    start: str | None = None,
    end: str | None = None,
    as_of: date | None = None,
    elections: Sequence[date] = (),
    covered: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The panel of aggregated cells (region, period, events, fatalities): events and
    fatalities per region and period, missing outside `covered`."""
    periods = _periods(list(frame["period"]), freq, start, end, as_of, covered)
    frame = frame[frame["period"].isin(periods) & frame["region"].isin(regions)]
    counts = frame.set_index(list(PANEL_KEY))[list(COUNT_COLUMNS)].astype("int64")
    return _finish(counts, regions, periods, freq, elections, covered)


def _finish(
    counts: pd.DataFrame,
    regions: Sequence[str],
    periods: list[str],
    freq: Frequency,
    elections: Sequence[date],
    covered: Sequence[str] | None,
) -> pd.DataFrame:
    full_index = pd.MultiIndex.from_product([list(regions), periods], names=PANEL_KEY)
    panel = counts.groupby(level=list(PANEL_KEY)).sum().reindex(full_index, fill_value=0)
    panel = _mark_missing(panel.astype("int64").reset_index(), covered)
    calendar = calendar_features(periods, freq, elections)
    return panel.merge(calendar, on="period", how="left", validate="many_to_one")


def gazetteer_of(country: str) -> Gazetteer:
    gazetteer: Gazetteer | None = default_resolver().gazetteers.get(country)
    if gazetteer is None:
        known = ", ".join(sorted(default_resolver().gazetteers))
        raise ValueError(
            f"no country definition for {country!r} (known: {known}); add one with `threatcast countries add`"
        )
    return gazetteer


def build_panel(
    engine: Engine,
    series: Series,
    *,
    start: str | None = None,
    end: str | None = None,
    as_of: date | None = None,
    level: str | None = None,
) -> pd.DataFrame:
    """The panel of one series from the store: its source's records alone, its uncovered
    periods missing; with `events_across` (events across the border: `events.cross_border`)
    where another defined country touching it has data of the same source. At level adm2 (the
    series', unless `level` says otherwise), one row per district and per province remainder
    (`Gazetteer.unit_parents`)."""
    level = level or series.level
    panel = _own_panel(engine, series, start=start, end=end, as_of=as_of, level=level)
    return _with_across(engine, series, panel, as_of) if level == FIRST_LEVEL else panel


def _with_across(
    engine: Engine, series: Series, panel: pd.DataFrame, as_of: date | None
) -> pd.DataFrame:
    resolver = default_resolver()
    neighbours = across_neighbours(resolver, series.country)
    countries = sorted({resolver.region(c).country for cs in neighbours.values() for c in cs})
    others = []
    for country in countries:
        other = Series(country, series.source, series.freq)
        if series_coverage(engine, other, as_of).periods:
            own = _own_panel(engine, other, as_of=as_of)
            others.append(own[["region", "period", "events"]])
    if not others:
        return panel
    return panel.assign(
        **{ACROSS_COLUMN: across_events(panel, neighbours, pd.concat(others, ignore_index=True))}
    )


def _own_panel(
    engine: Engine,
    series: Series,
    *,
    start: str | None = None,
    end: str | None = None,
    as_of: date | None = None,
    level: str = FIRST_LEVEL,
) -> pd.DataFrame:
    """The series' own panel, of its regions or (`level`) of their districts and remainders."""
    gazetteer = gazetteer_of(series.country)
    units = list(gazetteer.unit_parents(level))  # a level the country does not define: refused
    coverage = series_coverage(engine, series, as_of)
    if not coverage.periods:
        raise ValueError(
            f"the store covers no period of series {series.key}; ingest {series.source} data "
            "first (`threatcast ingest FILE`)"
        )
    counted = has_counts(engine, series)
    if counted and level != FIRST_LEVEL:
        raise ValueError(
            f"{series.key} holds aggregated admin-1 counts: they name no district, so there is "
            "no district series; use an event-level source (UCDP, GTD, ACLED events)"
        )
    events = load_events(engine, series.country, as_of, series.source)
    options = {
        "start": start,
        "end": end,
        "as_of": as_of,
        "elections": gazetteer.elections,
        "covered": coverage.periods,
    }
    if counted:
        counts = load_counts(engine, series, as_of)
        frame = pd.concat([counts, event_cells(events, series.freq)], ignore_index=True)
        return panel_from_counts(frame, gazetteer.codes, series.freq, **options)  # type: ignore[arg-type]
    if level != FIRST_LEVEL:
        events = in_units(events)
    return panel_from_events(
        events,
        units,
        series.freq,
        actor_groups=gazetteer.actors.names,
        **options,  # type: ignore[arg-type]
    )


def in_units(events: pd.DataFrame) -> pd.DataFrame:
    """Events with `region` their district, or their province's remainder where unplaced."""
    remainder = events["region"] + f"-{UNPLACED}"
    return events.assign(region=events["district"].fillna(remainder))


def event_cells(events: pd.DataFrame, freq: Frequency) -> pd.DataFrame:
    """Events as count cells (region, period, events, fatalities), to add to aggregated ones."""
    return pd.DataFrame(
        {
            "region": events["region"],
            "period": [period_of(d, freq) for d in events["date_start"]],
            "events": 1,
            "fatalities": events["fatalities_best"],
        }
    )


def region_outcomes(
    bind: Engine | Connection,
    series: Series,
    region: str,
    periods: Sequence[str],
    coverage: Coverage | None = None,
) -> pd.DataFrame:
    """Observed events and fatalities of one region in the given periods: zero where the
    source covers a period and has nothing, NaN where it does not cover it (by `coverage`,
    the series' as the store holds it now, when the caller has it)."""
    columns = ["period", "events", "fatalities"]
    if not periods:
        return pd.DataFrame(columns=columns)
    freq = series.freq
    first, last = min(periods), max(periods)
    since, until = period_start(first, freq), period_end(last, freq)
    events = load_events(bind, series.country, until, series.source, since)
    if series.level != FIRST_LEVEL:
        events = in_units(events)
    counts = load_counts(bind, series, until, since)
    cells = pd.concat([counts, event_cells(events, freq)], ignore_index=True)
    cells = cells[cells["region"] == region]
    grouped = cells.groupby("period")[["events", "fatalities"]].sum()
    filled = grouped.reindex(list(periods), fill_value=0).astype("float64")
    coverage = coverage if coverage is not None else series_coverage(bind, series)
    filled.loc[[p for p in periods if not coverage.covers(p)]] = np.nan
    return filled.rename_axis("period").reset_index()
