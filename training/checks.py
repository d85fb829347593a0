"""Input checks before training, in the spirit of ViEWS' data checks: is the data fresh, complete
and like what came before? A severe finding stops the job unless it is forced."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import pandas as pd

from events.inventory import Inventory
from events.periods import YEAR, Duration, Frequency, period_end, period_range, shift_period

Severity = Literal["info", "warning", "severe"]
# The last year is compared with the three years before it.
RECENT, BEFORE = YEAR, Duration(months=36)
# Days from the newest event to the end of the cutoff period that warn / stop training: a
# weekly series is read week by week, so it goes stale sooner.
STALE_DAYS = {Frequency.MONTH: (31, 92), Frequency.WEEK: (14, 42)}
_ZERO_SHARE_JUMP = (0.25, 0.5)
_UNRESOLVED_JUMP = (0.10, 0.30)


@dataclass(frozen=True)
class Finding:
    check: str
    severity: Severity
    message: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def _grade(change: float, limits: tuple[float, float]) -> Severity:
    size = abs(change)
    return "severe" if size > limits[1] else "warning" if size > limits[0] else "info"


def _windows(freq: Frequency, as_of: str) -> tuple[list[str], list[str]]:
    recent_start = shift_period(as_of, -RECENT.of(freq) + 1, freq)
    before_start = shift_period(recent_start, -BEFORE.of(freq), freq)
    recent = period_range(recent_start, as_of, freq)
    before = period_range(before_start, shift_period(recent_start, -1, freq), freq)
    return recent, before


def freshness(inv: Inventory, freq: Frequency, as_of: str) -> Finding:
    if inv.newest_event is None:
        return Finding("freshness", "severe", "the event store holds no events for this country")
    gap = (period_end(as_of, freq) - inv.newest_event).days
    warn, severe = STALE_DAYS[freq]
    severity: Severity = "severe" if gap > severe else "warning" if gap > warn else "info"
    return Finding(
        "freshness",
        severity,
        f"newest event {inv.newest_event.isoformat()}, {gap} days before the end of {as_of}",
    )


def empty_periods(
    inv: Inventory, freq: Frequency, as_of: str, missing: frozenset[str] = frozenset()
) -> Finding:
    """Covered periods with no events at all (missing periods are another matter: training
    refuses gaps in its recent window before these checks run)."""
    recent, before = _windows(freq, as_of)
    window = [p for p in before + recent if p not in missing]
    with_data = set(inv.by_period.loc[inv.by_period["events"] > 0, "period"])
    empty = [p for p in window if p not in with_data]
    if not empty:
        return Finding("empty_periods", "info", f"every period since {window[0]} has events")
    severity: Severity = "severe" if set(recent[-2:]) <= set(empty) else "warning"
    shown = ", ".join(empty[:6]) + (" ..." if len(empty) > 6 else "")
    return Finding(
        "empty_periods",
        severity,
        f"{len(empty)} of the {len(window)} periods to {as_of} have no events at all: {shown}",
    )


def zero_cell_share(panel: pd.DataFrame, freq: Frequency, as_of: str) -> Finding:
    recent, before = _windows(freq, as_of)
    covered = panel.dropna(subset=["events"])
    zero = covered.assign(zero=covered["events"] == 0).groupby("period")["zero"].mean()
    now, then = zero.reindex(recent).mean(), zero.reindex(before).mean()
    if pd.isna(now) or pd.isna(then):
        return Finding("zero_cell_share", "info", "too little history to compare zero-cell shares")
    return Finding(
        "zero_cell_share",
        _grade(now - then, _ZERO_SHARE_JUMP),
        f"share of region-periods with no events: {now:.2f} in the last {len(recent)} periods, "
        f"{then:.2f} in the {len(before)} before",
    )


def unresolved_share(inv: Inventory, freq: Frequency, as_of: str) -> Finding:
    recent, before = _windows(freq, as_of)
    counts = inv.by_period.set_index("period")

    def share(periods: list[str]) -> float:
        part = counts.reindex(periods).fillna(0)
        total = part["events"].sum()
        return float(part["unresolved"].sum() / total) if total else 0.0

    now, then = share(recent), share(before)
    return Finding(
        "unresolved_share",
        _grade(now - then, _UNRESOLVED_JUMP),
        f"share of events without a region: {now:.2f} in the last {len(recent)} periods, "
        f"{then:.2f} in the {len(before)} before",
    )


def input_checks(inv: Inventory, panel: pd.DataFrame, freq: Frequency, as_of: str) -> list[Finding]:
    return [
        freshness(inv, freq, as_of),
        empty_periods(inv, freq, as_of, frozenset(panel.loc[panel["events"].isna(), "period"])),
        zero_cell_share(panel, freq, as_of),
        unresolved_share(inv, freq, as_of),
    ]


def severe(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "severe"]
