"""Backtest reports: metric tables and the plots a person would rather look at than read."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import pandas as pd

from models.strata import Strata
from training.actor_metrics import actor_metrics
from training.elections import election_metrics
from training.metrics import (
    fatality_rps_rows,
    pit_coverage_rows,
    reliability_table,
    rps_rows,
    score_backtest,
)


def write_forecast_table(table: pd.DataFrame, path: Path, pmf: bool = False) -> None:
    """A forecast table as CSV or Parquet (by suffix); drivers, fatality laws, actor groups (and,
    with `pmf`, each row's count law: its mass function and tail) become JSON text."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for column in ("drivers", "change", "count_law", "fatality_law", "actors"):
        if column in table.columns:
            if column == "count_law" and not pmf:
                table = table.drop(columns=column)
            else:
                table = table.assign(**{column: table[column].map(json.dumps)})
    if path.suffix == ".parquet":
        table.to_parquet(path, index=False)
    else:
        table.to_csv(path, index=False)


def write_report(
    results: pd.DataFrame,
    directory: Path,
    main_model: str,
    severe_threshold: int = 25,
    freq: str = "month",
    elections: Sequence[date] = (),
) -> pd.DataFrame:
    """Write metrics.csv, metrics.json, metrics_by_region.csv, metrics_by_stratum.csv (where
    rows carry their trailing activity), reliability.png and regions.png
    (and actor_metrics.csv where the main model forecast actor groups, metrics_election.csv
    where target periods fall near `elections`); return the metrics per horizon."""
    directory.mkdir(parents=True, exist_ok=True)
    scored = results.dropna(subset=["observed_events"])
    # Each row's RPS and coverage once, for the tables per horizon, region, stratum, election.
    scored = scored.assign(
        fatality_rps=fatality_rps_rows(scored),
        rps=rps_rows(scored),
        pit_coverage=pit_coverage_rows(scored),
    )
    metrics = score_backtest(scored, severe_threshold=severe_threshold)
    metrics.to_csv(directory / "metrics.csv", index=False)
    # Pooled metrics hide the provinces analysts watch most (an interval calibrated over all
    # regions covers quiet ones always and busy ones less), so each region gets its own row.
    by_region = score_backtest(scored, severe_threshold=severe_threshold, by="region")
    by_region.to_csv(directory / "metrics_by_region.csv", index=False)
    if "activity" in scored:
        # The same per activity stratum, the edges read from the main model's rows.
        strata = Strata.fit(scored.loc[scored["model"] == main_model, "activity"].to_numpy())
        stratified = scored.assign(stratum=strata.names(scored["activity"].to_numpy()))
        by_stratum = score_backtest(stratified, severe_threshold=severe_threshold, by="stratum")
        by_stratum.to_csv(directory / "metrics_by_stratum.csv", index=False)
    (directory / "metrics.json").write_text(json.dumps(metrics.to_dict(orient="records"), indent=2))
    by_group = actor_metrics(scored)
    if not by_group.empty:
        by_group.to_csv(directory / "actor_metrics.csv", index=False)
    near = election_metrics(scored, freq, elections, severe_threshold)
    if not near.empty:
        near.to_csv(directory / "metrics_election.csv", index=False)
    _reliability_plot(scored, directory / "reliability.png", main_model)
    _regions_plot(scored, directory / "regions.png", main_model)
    return metrics


def _reliability_plot(scored: pd.DataFrame, path: Path, main_model: str) -> None:
    figure, axis = plt.subplots(figsize=(6, 6))
    axis.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
    for model, part in scored.groupby("model"):
        table = reliability_table(
            part["p_event"].to_numpy(), (part["observed_events"] > 0).to_numpy(float)
        )
        emphasis = (
            {"linewidth": 2.5, "marker": "o"}
            if model == main_model
            else {"linewidth": 1, "alpha": 0.6}
        )
        axis.plot(table["forecast"], table["observed"], label=str(model), **emphasis)
    axis.set(
        xlabel="forecast probability of an event",
        ylabel="observed frequency",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    axis.set_title("Reliability of p_event, all horizons pooled")
    axis.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


# A district report would otherwise draw 133 panels; the busiest units are the ones read.
MAX_PLOTTED_REGIONS = 12


def _regions_plot(scored: pd.DataFrame, path: Path, main_model: str) -> None:
    part = scored[(scored["model"] == main_model) & (scored["horizon"] == scored["horizon"].min())]
    events = part.groupby("region")["observed_events"].sum()
    busiest = events.sort_values(ascending=False, kind="stable").index[:MAX_PLOTTED_REGIONS]
    regions = sorted(busiest)
    figure, axes = plt.subplots(len(regions), 1, figsize=(10, 2.2 * len(regions)), sharex=True)
    for axis, region in zip(axes if len(regions) > 1 else [axes], regions, strict=True):
        rows = part[part["region"] == region].sort_values("period")
        x = range(len(rows))
        axis.fill_between(x, rows["events_p10"], rows["events_p90"], alpha=0.3, label="p10-p90")
        axis.plot(x, rows["expected_events"], label="expected events")
        axis.plot(x, rows["observed_events"], "k.", markersize=4, label="observed events")
        axis.set_ylabel(region)
        ticks = list(range(0, len(rows), max(1, len(rows) // 8)))
        axis.set_xticks(ticks, [rows["period"].iloc[i] for i in ticks])
    horizon = int(part["horizon"].min()) if len(part) else 1
    hidden = len(events) > len(regions)
    shown = f", the {len(regions)} busiest of {len(events)} units" if hidden else ""
    (axes[0] if len(regions) > 1 else axes).set_title(
        f"{main_model}: forecasts {horizon} period(s) ahead against outcomes{shown}"
    )
    (axes[0] if len(regions) > 1 else axes).legend(loc="upper right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write_outputs(
    results: pd.DataFrame,
    output: Path,
    report: Path | None,
    main_model: str,
    freq: str = "month",
    elections: Sequence[date] = (),
) -> pd.DataFrame | None:
    write_forecast_table(results, output)
    if report is None:
        return None
    return write_report(results, report, main_model, freq=freq, elections=elections)
