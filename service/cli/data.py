"""`threatcast` commands for event data: ingest, events summary, panel, backtest."""

from __future__ import annotations

import importlib.util
import json
import logging
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from events.ingest import IngestError, IngestReport, parse_covers
from events.panel import build_panel
from events.periods import Frequency
from events.series import DETECT_SOURCE, FileSource, SeriesSource
from events.sources import ProgressLog, SourceFormatError
from events.sources.base import excerpt
from events.summary import summarize
from service.cli.support import (
    SERIES_HELP,
    BackendChoice,
    fail,
    open_engine,
    parse_horizons,
    series_of,
    settings_of,
)
from service.coverage import series_summaries
from training import operations
from training.backtest import BacktestRequest, default_models
from training.ingesting import ingest_and_record
from training.report import write_outputs, write_report

log = logging.getLogger("threatcast")
events_app = typer.Typer(help="Inspect the event store.", no_args_is_help=True)


class PanelLevel(StrEnum):
    adm1 = "adm1"
    adm2 = "adm2"


def _listed(names: str) -> list[str]:
    return [name.strip() for name in names.split(",") if name.strip()]


def _level(level: PanelLevel | None) -> str | None:
    return level.value if level is not None else None


class SummaryChoice(StrEnum):
    year = "year"
    region = "region"
    actor = "actor"
    type = "type"
    source = "source"


def print_report(report: IngestReport) -> None:
    verb = "would be" if report.dry_run else "were"
    covers = ", ".join(f"{country} {span}" for country, span in report.covers.items())
    if report.kind == "counts":
        typer.echo(
            f"{report.file} ({report.source} {report.unit}ly counts): {report.rows_read} rows "
            f"read, {report.valid} cells\n  covers {covers}\n"
            f"  cells added {report.added}, changed {report.updated}, removed {report.missing_now}, "
            f"unchanged {report.unchanged} ({verb} applied)"
        )
        if report.periods_changed:
            shown = ", ".join(report.periods_changed[:8])
            more = (
                f" and {len(report.periods_changed) - 8} more"
                if len(report.periods_changed) > 8
                else ""
            )
            typer.echo(f"  periods changed (by start day): {shown}{more}")
        _print_undefined(report)
        return
    typer.echo(
        f"{report.file} ({report.source}): {report.rows_read} rows read, {report.valid} valid\n"
        f"  added {report.added}, updated {report.updated}, unchanged {report.unchanged}, "
        f"missing now {report.missing_now} ({verb} applied)\n"
        f"  covers {covers}\n"
        f"  regions: {report.valid - report.unresolved} resolved "
        f"({report.placed_by_point} placed by coordinates), {report.unresolved} unresolved"
    )
    for name, count in report.unknown_admin1.items():
        typer.echo(
            f"  unknown admin-1 name {excerpt(name)}: {count} events (add it to the country's "
            "aliases: `threatcast countries add ... --aliases FILE --replace`)"
        )
    _print_undefined(report)
    _print_districts(report)
    if report.invalid:
        typer.echo(f"  skipped {report.invalid} invalid rows:")
        for error in report.skipped[:20]:
            typer.echo(f"    {error}")
        if report.invalid > min(len(report.skipped), 20):
            typer.echo(f"    ... and {report.invalid - min(len(report.skipped), 20)} more")


def _print_districts(report: IngestReport) -> None:
    if not report.districts:
        return
    found = report.districts
    placed = sum(found.get(k, 0) for k in ("placed", "name_disagrees", "snapped"))
    kept = found.get("imprecise", 0) + found.get("far_outside", 0)
    typer.echo(
        f"  districts: {placed} events placed by their coordinates ({found.get('snapped', 0)} "
        f"in the nearest district of their province, within 11 km); {kept} kept at the "
        f"province level ({found.get('imprecise', 0)} imprecise, {found.get('far_outside', 0)} "
        f"far outside their province); {found.get('name_disagrees', 0)} name another district"
    )
    for names, count in list(report.district_disagreements.items())[:5]:
        typer.echo(f"    admin-2 name and coordinates disagree: {names}: {count} events")


def _print_undefined(report: IngestReport) -> None:
    for country, count in report.ignored_countries.items():
        typer.echo(
            f"  {count} rows of {country} left out: no definition of {country} "
            f"(`threatcast countries add {country}`, then ingest the file again)"
        )


def ingest(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    source: Annotated[FileSource, typer.Option(help="Event file format.")] = DETECT_SOURCE,
    skip_invalid: Annotated[
        bool, typer.Option(help="Load the valid rows, report the rest.")
    ] = False,
    dry_run: Annotated[bool, typer.Option(help="Validate and report without writing.")] = False,
    replace: Annotated[
        bool,
        typer.Option(
            help="Apply the file even if it removes more of the stored data it is authoritative "
            "for than THREATCAST_MAX_REMOVED_SHARE allows."
        ),
    ] = False,
    covers: Annotated[
        str | None,
        typer.Option(
            help="The days an event file covers, FIRST..LAST (default: its first to last event; "
            "UCDP and GTD releases: whole years)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Load a data file: events (UCDP GED or candidate events, GTD, ACLED) or aggregated counts
    (ACLED aggregated data, HDX monthly admin-1 files), as CSV, CSV.gz or Excel .xlsx."""
    try:
        span = parse_covers(covers) if covers else None
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    engine = open_engine(ctx)
    settings = settings_of(ctx)
    try:
        ingested = ingest_and_record(
            engine,
            path,
            source=source.value,
            skip_invalid=skip_invalid,
            dry_run=dry_run,
            replace=replace,
            progress=ProgressLog(log),
            covers=span,
            limits=settings.file_limits,
            max_removed_share=settings.max_removed_share,
        )
    except (IngestError, SourceFormatError) as exc:
        raise fail(
            f"{path.name}: {exc}" if isinstance(exc, SourceFormatError) else str(exc)
        ) from None
    report, recorded = ingested.report, ingested.recorded
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        print_report(report)
    if recorded is not None and (recorded.new or recorded.revised):
        typer.echo(
            f"track record: {recorded.new} forecast targets scored, {recorded.revised} revised"
        )


def events_summary(
    ctx: typer.Context,
    by: Annotated[SummaryChoice, typer.Option(help="Group events by this.")] = SummaryChoice.year,
) -> None:
    """Counts and fatalities of the stored events."""
    rows = summarize(open_engine(ctx), by.value)
    if not rows:
        typer.echo("the event store is empty; load events with `threatcast ingest PATH`")
        return
    width = max(len(by.value), *(len(row.key) for row in rows))
    typer.echo(f"{by.value:<{width}}  {'events':>8}  {'fatalities':>10}")
    for row in rows:
        typer.echo(f"{row.key:<{width}}  {row.events:>8}  {row.fatalities:>10}")
    typer.echo(
        f"{'total':<{width}}  {sum(r.events for r in rows):>8}  {sum(r.fatalities for r in rows):>10}"
    )


def panel(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="CSV file to write.", dir_okay=False)],
    freq: Annotated[Frequency, typer.Option(help="Period length.")] = Frequency.MONTH,
    start: Annotated[str | None, typer.Option(help="First period (YYYY-MM or YYYY-Www).")] = None,
    end: Annotated[str | None, typer.Option(help="Last period (YYYY-MM or YYYY-Www).")] = None,
    as_of: Annotated[
        str | None, typer.Option(help="Use only events that started on or before YYYY-MM-DD.")
    ] = None,
    source: Annotated[
        SeriesSource | None, typer.Option(help="The source family (default: the default series').")
    ] = None,
    series: Annotated[str | None, typer.Option(help=SERIES_HELP)] = None,
    level: Annotated[
        PanelLevel | None,
        typer.Option(
            help="adm1: provinces; adm2: districts and each province's remainder "
            "(default: the series')."
        ),
    ] = None,
) -> None:
    """Export one series' region x period panel (region, period, events, fatalities, breakdowns,
    calendar). Periods its source does not cover have empty counts: missing, not zero."""
    try:
        cutoff = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        raise fail(f"--as-of {as_of!r} is not a date (YYYY-MM-DD)", 2) from None
    chosen = series_of(ctx, series, source.value if source else None, freq, _level(level))
    engine = open_engine(ctx)
    try:
        frame = build_panel(engine, chosen, start=start, end=end, as_of=cutoff)
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False)
    missing = frame.loc[frame["events"].isna(), "period"].nunique()
    typer.echo(
        f"wrote {len(frame)} rows of {chosen.key} ({frame['region'].nunique()} regions x "
        f"{frame['period'].nunique()} periods, {int(frame['events'].sum())} events"
        + (f", {missing} periods missing" if missing else "")
        + f") to {out}"
    )


def events_coverage(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Each series' covered spans, newest covered period and gaps."""
    settings = settings_of(ctx)
    rows = series_summaries(open_engine(ctx), settings.stale_after_days)
    if as_json:
        typer.echo(json.dumps([row.to_dict() for row in rows], indent=2))
        return
    if not rows:
        typer.echo("no data yet; load a file with `threatcast ingest PATH`")
        return
    for row in rows:
        state = "stale" if row.stale else "fresh"
        typer.echo(
            f"{row.series}: {row.first_period}..{row.last_period} ({state}, "
            f"data {row.data_age_days} days old)"
        )
        for unit, spans in row.spans.items():
            typer.echo(f"  {unit} records cover " + ", ".join(f"{a}..{b}" for a, b in spans))
        typer.echo(
            "  gaps: " + (", ".join(f"{a}..{b}" if a != b else a for a, b in row.gaps) or "none")
        )


def backtest_command(
    ctx: typer.Context,
    start: Annotated[str, typer.Option(help="First origin (YYYY-MM, or YYYY-Www for weeks).")],
    end: Annotated[str, typer.Option(help="Last origin.")],
    output: Annotated[
        Path, typer.Option(help="Forecast table to write (.csv or .parquet).", dir_okay=False)
    ],
    events_file: Annotated[
        Path | None,
        typer.Option(
            "--events",
            exists=True,
            dir_okay=False,
            help="Backtest this event file alone, in a temporary store.",
        ),
    ] = None,
    source: Annotated[FileSource, typer.Option(help="Format of --events.")] = DETECT_SOURCE,
    horizons: Annotated[str, typer.Option(help="Horizons, e.g. 1,3,6 or 1-6.")] = "1,3,6",
    freq: Annotated[Frequency, typer.Option(help="Period length.")] = Frequency.MONTH,
    report: Annotated[
        Path | None, typer.Option(help="Directory for metrics and plots.", file_okay=False)
    ] = None,
    models: Annotated[
        str, typer.Option(help="Comma-separated model families; the first is the main one.")
    ] = ",".join(default_models()),
    n_jobs: Annotated[int, typer.Option(help="Parallel worker processes.")] = 2,
    backend: Annotated[
        BackendChoice, typer.Option(help="Run on local processes or a Dask cluster.")
    ] = BackendChoice.loky,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Dask scheduler address (default THREATCAST_DASK_SCHEDULER, else a local cluster)."
        ),
    ] = None,
    series: Annotated[
        str | None,
        typer.Option(help=SERIES_HELP + " With --events: the file's source family at --freq."),
    ] = None,
    cross_border: Annotated[
        bool,
        typer.Option(
            help="Also backtest the main model with events across the border as features "
            "(reported as MODEL+across), to judge them on your data."
        ),
    ] = False,
    try_features: Annotated[
        str,
        typer.Option(
            help="Also backtest the main model with these optional feature families, each "
            "reported as MODEL+FAMILY, e.g. enclosing (below the first level: the unit's "
            "region's and the country's recent events)."
        ),
    ] = "",
    level: Annotated[
        PanelLevel,
        typer.Option(help="adm2: per district and province remainder, where defined."),
    ] = PanelLevel.adm1,
) -> None:
    """Rolling-origin backtest of one series: at every origin, fit on data up to it and forecast
    each horizon."""
    if output.suffix not in {".csv", ".parquet"}:
        raise fail(f"--output {output.name}: use a .csv or .parquet file name", 2)
    if output.suffix == ".parquet" and importlib.util.find_spec("pyarrow") is None:
        raise fail("--output .parquet needs pyarrow (pip install pyarrow); or write .csv", 2)
    try:
        request = BacktestRequest(
            freq=freq,
            start=start,
            end=end,
            horizons=parse_horizons(horizons),
            models=tuple(_listed(models)),
            n_jobs=n_jobs,
            backend=backend.value,
            trial_families=tuple(
                dict.fromkeys([*(["across"] if cross_border else []), *_listed(try_features)])
            ),
        )
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    chosen = series_of(ctx, series, freq=request.freq, level=_level(level))
    if chosen.freq != request.freq:
        raise fail(
            f"--series {chosen.key} is not a {request.freq} series; drop --freq or --series", 2
        )
    address = scheduler or settings_of(ctx).dask_scheduler if backend == "dask" else scheduler
    try:
        done = operations.backtest_series(
            None if events_file is not None else open_engine(ctx), chosen, request,
            events_file=events_file, source=source.value, keep_source=series is not None,
            limits=settings_of(ctx).file_limits, scheduler=address,
        )  # fmt: skip
    except (IngestError, SourceFormatError) as exc:
        name = events_file.name if events_file is not None else chosen.key
        raise fail(f"{name}: {exc}") from None
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    results = done.results
    metrics = write_outputs(
        results, output, report, request.models[0], request.freq, done.elections
    )
    if report is not None and done.provinces is not None:
        # The province backtest the units were reconciled to, as its own report.
        write_report(done.provinces, report / "provinces", request.models[0], freq=request.freq)
    typer.echo(
        f"wrote {len(results)} forecasts ({results['origin'].nunique()} origins) to {output}"
    )
    if metrics is not None:
        columns = [
            "model",
            "horizon",
            "brier",
            "brier_skill",
            "calibration_error",
            "severe_brier",
            "pinball",
            "coverage_p10_p90",
            "pit_coverage_p10_p90",
            "rps",
            "fatality_rps",
            "fatality_coverage_p10_p90",
        ]
        typer.echo(metrics[[c for c in columns if c in metrics]].round(4).to_string(index=False))
        typer.echo(f"report written to {report}")


def register(app: typer.Typer) -> None:
    app.command()(ingest)
    events_app.command("summary")(events_summary)
    events_app.command("coverage")(events_coverage)
    app.add_typer(events_app, name="events")
    app.command()(panel)
    app.command("backtest")(backtest_command)
