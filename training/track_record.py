"""Keeping score in public: every issued forecast is scored once the data cover its target period.

The outcome first seen for a target is kept; a newer release that revises it is kept beside it,
so a forecast has a first-release and a latest score. The references are what climatology and
the trailing-12 share forecast at the same issue, stored then (`reference_forecasts`): a later
release never changes what they said. Scores are numpy only, so the web tier can serve them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    String,
    Table,
    UniqueConstraint,
    func,
    insert,
    select,
    update,
)

from events.panel import build_panel
from events.series import Series
from models.catalog import ISSUED_REFERENCES
from models.laws import interval_pit_coverages, whole_coverage
from store.db import write_transaction
from store.metadata import metadata
from training.issued import REFERENCE_COLUMNS, issued_forecasts, reference_forecasts
from training.scores import brier, interval_pinball, ranked_probability_score

log = logging.getLogger(__name__)
ISSUED = "issued"
BOOTSTRAP_DRAWS = 2000
DEFAULT_SEVERE_THRESHOLD = 25

observed_outcomes = Table(
    "observed_outcomes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("series", String(40), nullable=False),
    Column("region", String(40), nullable=False),
    Column("period", String(10), nullable=False),
    Column("first_events", Integer, nullable=False),
    Column("first_fatalities", Integer, nullable=False),
    Column("first_seen_at", DateTime(timezone=True), nullable=False),
    Column("events", Integer, nullable=False),
    Column("fatalities", Integer, nullable=False),
    Column("seen_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("series", "region", "period", name="uq_observed_outcomes_target"),
)


@dataclass(frozen=True)
class Recorded:
    new: int
    revised: int


def record_outcomes(engine: Engine) -> Recorded:
    """Record the outcome of every issued forecast's target the data now cover (and a revision
    of one recorded before)."""
    with engine.connect() as conn:
        keys = list(conn.execute(select(issued_forecasts.c.series).distinct()).scalars())
    new = revised = 0
    for key in keys:
        try:
            panel = build_panel(engine, Series.parse(key))
        except ValueError:  # no data for the series (yet)
            continue
        covered = panel.dropna(subset=["events"])
        counts = {
            (r, p): (int(e), int(f))
            for r, p, e, f in zip(covered["region"], covered["period"], covered["events"],
                                  covered["fatalities"], strict=True)
        }  # fmt: skip
        with write_transaction(engine) as conn:
            targets = set(
                conn.execute(
                    select(issued_forecasts.c.region, issued_forecasts.c.period)
                    .where(issued_forecasts.c.series == key)
                    .distinct()
                ).all()
            )
            stored = {
                (r.region, r.period): r
                for r in conn.execute(
                    select(observed_outcomes).where(observed_outcomes.c.series == key)
                )
            }
            now = datetime.now(UTC)
            for region, period in sorted(targets):
                if (region, period) not in counts:
                    continue
                events, fatalities = counts[(region, period)]
                before = stored.get((region, period))
                if before is None:
                    conn.execute(
                        insert(observed_outcomes).values(
                            series=key, region=region, period=period, first_events=events,
                            first_fatalities=fatalities, first_seen_at=now, events=events,
                            fatalities=fatalities, seen_at=now,
                        )
                    )  # fmt: skip
                    new += 1
                elif (before.events, before.fatalities) != (events, fatalities):
                    conn.execute(
                        update(observed_outcomes)
                        .where(observed_outcomes.c.id == before.id)
                        .values(events=events, fatalities=fatalities, seen_at=now)
                    )
                    revised += 1
    if new or revised:
        log.info("track record: %d outcomes recorded, %d revised", new, revised)
    return Recorded(new, revised)


def track_record_stamp(engine: Engine, series: str) -> tuple[object, ...]:
    """Changes whenever an issue, a reference forecast or an outcome of the series is added or
    revised: what a computed track record is keyed by (a few indexed aggregates)."""
    issued, refs, seen = issued_forecasts.c, reference_forecasts.c, observed_outcomes.c
    with engine.connect() as conn:
        return (
            *conn.execute(
                select(func.count(), func.max(issued.id)).where(issued.series == series)
            ).one(),
            *conn.execute(
                select(func.count(), func.max(refs.id)).where(refs.series == series)
            ).one(),
            *conn.execute(
                select(func.count(), func.max(seen.seen_at)).where(seen.series == series)
            ).one(),
        )


def scored_frame(engine: Engine, series: str) -> pd.DataFrame:
    """Every scored forecast of the series (one per origin, region and horizon: the newest issue)
    and the references' at the same issue, with first and latest outcomes, and each row's RPS
    against both (the count laws themselves are not kept: scoring needs only their RPS)."""
    issued = issued_forecasts.c
    query = select(
        issued.version, *(issued[c] for c in REFERENCE_COLUMNS), issued.issued_at,
        issued.severe_threshold,
    ).where(issued.series == series)  # fmt: skip
    references = select(
        reference_forecasts.c.version, reference_forecasts.c.reference,
        *(reference_forecasts.c[c] for c in REFERENCE_COLUMNS),
    ).where(reference_forecasts.c.series == series)  # fmt: skip
    outcomes = select(observed_outcomes).where(observed_outcomes.c.series == series)
    with engine.connect() as conn:
        ours = pd.DataFrame(conn.execute(query).mappings().all())
        refs = pd.DataFrame(conn.execute(references).mappings().all())
        seen = pd.DataFrame(conn.execute(outcomes).mappings().all())
    if ours.empty or seen.empty:
        return pd.DataFrame()
    ours = ours.sort_values("issued_at").drop_duplicates(
        ["origin", "region", "horizon"], keep="last"
    )
    ours["severe_threshold"] = ours["severe_threshold"].fillna(DEFAULT_SEVERE_THRESHOLD)
    keep = ours[["version", "origin", "region", "horizon", "severe_threshold"]]
    frames = [ours.drop(columns=["issued_at"]).assign(model=ISSUED)]
    if not refs.empty:
        refs = refs.merge(keep, on=["version", "origin", "region", "horizon"])
        frames.append(refs.rename(columns={"reference": "model"}))
    rows = pd.concat(frames, ignore_index=True).merge(
        seen[["region", "period", "first_events", "first_fatalities", "events", "fatalities"]],
        on=["region", "period"],
    )
    for release, column in (("first", "first_events"), ("latest", "events")):
        rows[f"rps_{release}"] = [
            float("nan") if law is None or (isinstance(law, float) and np.isnan(law))
            else ranked_probability_score(law, float(y))
            for law, y in zip(rows["count_law"], rows[column], strict=True)
        ]  # fmt: skip
        rows[f"pit_{release}"] = interval_pit_coverages(
            rows["count_law"], rows["events_p10"], rows["events_p90"], rows[column]
        )
    return rows.drop(columns=["count_law"])


def filter_rows(
    rows: pd.DataFrame,
    *,
    region: str | None = None,
    horizon: int | None = None,
    start: str | None = None,
    end: str | None = None,
) -> pd.DataFrame:
    if rows.empty:
        return rows
    keep = np.ones(len(rows), dtype=bool)
    if region is not None:
        keep &= (rows["region"] == region).to_numpy()
    if horizon is not None:
        keep &= (rows["horizon"] == horizon).to_numpy()
    if start is not None:
        keep &= (rows["period"] >= start).to_numpy()
    if end is not None:
        keep &= (rows["period"] <= end).to_numpy()
    return rows[keep].reset_index(drop=True)


def scored_rows(
    engine: Engine,
    series: str,
    *,
    region: str | None = None,
    horizon: int | None = None,
    start: str | None = None,
    end: str | None = None,
) -> pd.DataFrame:
    """scored_frame, filtered."""
    return filter_rows(
        scored_frame(engine, series), region=region, horizon=horizon, start=start, end=end
    )


def _scores(rows: pd.DataFrame, release: str) -> dict[str, float]:
    events = rows["first_events" if release == "first" else "events"].to_numpy(dtype=float)
    deaths = rows["first_fatalities" if release == "first" else "fatalities"].to_numpy(dtype=float)
    severe = (deaths >= rows["severe_threshold"].to_numpy(dtype=float)).astype(float)
    quantiles = {
        c: rows[c].to_numpy(dtype=float) for c in ("events_p10", "events_p50", "events_p90")
    }
    return {
        "n": float(len(rows)),
        "brier": brier(rows["p_event"].to_numpy(dtype=float), (events > 0).astype(float)),
        "severe_brier": brier(rows["p_severe"].to_numpy(dtype=float), severe),
        "pinball": interval_pinball(quantiles, events),
        "coverage_p10_p90": float(
            np.mean(whole_coverage(quantiles["events_p10"], quantiles["events_p90"], events))
        ),
        # The whole count law's scores, where the law was stored (issues since it is).
        "pit_coverage_p10_p90": _stored_mean(rows[f"pit_{release}"]),
        "rps": _stored_mean(rows[f"rps_{release}"]),
    }


def _stored_mean(scores: pd.Series) -> float:
    """The mean of a score read from stored laws; NaN if any row lacks its law."""
    return float(scores.mean()) if len(scores) and scores.notna().all() else float("nan")


def _skill_interval(
    ours: pd.DataFrame, reference: pd.DataFrame, release: str, seed: int = 0
) -> tuple[float, float, float]:
    """Brier skill of p_event against a reference, with a 90% bootstrap interval over target
    months (months are resampled whole: forecasts of one month share its news)."""
    column = "first_events" if release == "first" else "events"

    def monthly(rows: pd.DataFrame) -> pd.Series:
        error = (rows["p_event"] - (rows[column] > 0).astype(float)) ** 2
        return error.groupby(rows["period"]).sum()

    ours_by_month, ref_by_month = monthly(ours).align(monthly(reference), join="inner")
    if ours_by_month.empty or ref_by_month.sum() == 0:
        return float("nan"), float("nan"), float("nan")
    skill = 1 - ours_by_month.sum() / ref_by_month.sum()
    draws = np.random.default_rng(seed).integers(
        0, len(ours_by_month), (BOOTSTRAP_DRAWS, len(ours_by_month))
    )
    a, b = ours_by_month.to_numpy()[draws].sum(axis=1), ref_by_month.to_numpy()[draws].sum(axis=1)
    sampled = 1 - a / np.where(b > 0, b, np.nan)
    low, high = np.nanpercentile(sampled, [5, 95])
    return float(skill), float(low), float(high)


def summarize(rows: pd.DataFrame) -> dict[str, Any]:
    """Per target month and rolled up, first-release and latest: each model's scores, and our
    Brier skill against each reference with its bootstrap interval."""
    if rows.empty:
        return {"months": [], "overall": {}, "skill": [], "revised_targets": 0}
    models = [ISSUED, *(m for m in ISSUED_REFERENCES if m in set(rows["model"]))]
    months = []
    for period, part in rows.groupby("period", sort=True):
        months.append(
            {
                "period": str(period),
                "first": {
                    m: _scores(part[part["model"] == m], "first")
                    for m in models
                    if (part["model"] == m).any()
                },
                "latest": {
                    m: _scores(part[part["model"] == m], "latest")
                    for m in models
                    if (part["model"] == m).any()
                },
            }
        )
    ours = rows[rows["model"] == ISSUED]
    skill = []
    for release in ("first", "latest"):
        for reference in models[1:]:
            value, low, high = _skill_interval(ours, rows[rows["model"] == reference], release)
            skill.append(
                {"release": release, "reference": reference, "brier_skill": value,
                 "interval_low": low, "interval_high": high}
            )  # fmt: skip
    revised = ours[
        (ours["events"] != ours["first_events"]) | (ours["fatalities"] != ours["first_fatalities"])
    ]
    return {
        "months": months,
        "overall": {
            release: {m: _scores(rows[rows["model"] == m], release) for m in models}
            for release in ("first", "latest")
        },
        "skill": skill,
        "revised_targets": int(revised[["region", "period"]].drop_duplicates().shape[0]),
    }


def rolling_skill(rows: pd.DataFrame, reference: str = "recent", months: int = 12) -> pd.DataFrame:
    """Per region and target month: the Brier skill of p_event against `reference` over the
    last `months` scored months (latest release)."""
    if rows.empty:
        return pd.DataFrame(columns=["region", "period", "skill"])
    error = (rows["p_event"] - (rows["events"] > 0).astype(float)) ** 2
    table = rows.assign(error=error).pivot_table(
        index=["region", "period"], columns="model", values="error", aggfunc="sum"
    )
    if reference not in table or ISSUED not in table:
        return pd.DataFrame(columns=["region", "period", "skill"])
    out: list[dict[str, Any]] = []
    for region, part in table.groupby(level="region"):
        ours = part[ISSUED].rolling(months, min_periods=1).sum()
        ref = part[reference].rolling(months, min_periods=1).sum()
        skill = (1 - ours / ref.where(ref > 0)).droplevel("region")
        out.extend({"region": region, "period": p, "skill": s} for p, s in skill.items())
    return pd.DataFrame(out)


def latest_skill(
    engine: Engine, series: Sequence[str], months: int = 12
) -> dict[tuple[str, str], float]:
    """(series, reference) -> Brier skill of p_event over the last `months` scored months."""
    found = {}
    for key in series:
        rows = scored_rows(engine, key)
        if rows.empty:
            continue
        last = sorted(rows["period"].unique())[-months:]
        recent = rows[rows["period"].isin(last)]
        for reference in ISSUED_REFERENCES:
            value, _, _ = _skill_interval(
                recent[recent["model"] == ISSUED], recent[recent["model"] == reference], "latest"
            )
            if not np.isnan(value):
                found[(key, reference)] = value
    return found
