"""The `threatcast` command line."""

from __future__ import annotations

import importlib.util
import json
import logging
import tempfile
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from sqlalchemy import Engine, func, select

from features import bundled
from features.gazetteer import default_resolver
from features.ingest import IngestError, IngestReport, ingest_file
from features.panel import build_panel
from features.sources import ProgressLog, SourceFormatError
from features.store.db import make_engine, migrate
from features.store.schema import events
from features.summary import summarize
from service import cli_models
from service.cli_alerts import alerts_app
from service.cli_keys import keys_app
from service.cli_support import (
    CLI_ACTOR,
    BackendChoice,
    FrequencyChoice,
    SourceChoice,
    fail,
    job_environment,
    open_engine,
    parse_horizons,
    settings_of,
)
from service.settings import get_settings
from training import jobs, registry
from training.config import load_config
from training.parallel import compute_backend
from training.pipeline import (
    BacktestRequest,
    default_models,
    default_spec,
    run_backtest,
    write_outputs,
)
from training.runner import run_job

log = logging.getLogger("threatcast")

app = typer.Typer(help="ThreatCast: province-level early-warning forecasts.", no_args_is_help=True)
events_app = typer.Typer(help="Inspect the event store.", no_args_is_help=True)
db_app = typer.Typer(help="Manage the database schema.", no_args_is_help=True)
app.add_typer(events_app, name="events")
app.add_typer(db_app, name="db")


class SummaryChoice(StrEnum):
    year = "year"
    region = "region"
    actor = "actor"
    type = "type"
    source = "source"


@app.callback()
def main(ctx: typer.Context) -> None:
    """Read the settings once and configure logging for every command."""
    try:
        settings = get_settings()
    except ValidationError as exc:
        problems = "; ".join(
            (f"THREATCAST_{e['loc'][0]}".upper() + ": " if e["loc"] else "") + e["msg"]
            for e in exc.errors()
        )
        raise fail(f"invalid settings: {problems}", 2) from None
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for handler in logging.getLogger().handlers:
        # The console shows the configured level even while a job records more for its log tail.
        handler.setLevel(settings.log_level)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    ctx.obj = settings


def _print_report(report: IngestReport) -> None:
    verb = "would be" if report.dry_run else "were"
    typer.echo(
        f"{report.file} ({report.source}): {report.rows_read} rows read, {report.valid} valid\n"
        f"  added {report.added}, updated {report.updated}, unchanged {report.unchanged}, "
        f"missing now {report.missing_now} ({verb} applied)\n"
        f"  regions: {report.valid - report.unresolved} resolved "
        f"({report.placed_by_point} placed by coordinates), {report.unresolved} unresolved"
    )
    for name, count in report.unknown_admin1.items():
        typer.echo(f"  unknown admin-1 name {name!r}: {count} events (add it to a gazetteer)")
    if report.skipped:
        typer.echo(f"  skipped {len(report.skipped)} invalid rows:")
        for error in report.skipped:
            typer.echo(f"    {error}")


@app.command()
def ingest(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    source: Annotated[SourceChoice, typer.Option(help="Event file format.")] = SourceChoice.auto,
    skip_invalid: Annotated[
        bool, typer.Option(help="Load the valid rows, report the rest.")
    ] = False,
    dry_run: Annotated[bool, typer.Option(help="Validate and report without writing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Load an event file (UCDP GED, GTD or ACLED CSV, optionally gzip) into the event store."""
    engine = open_engine(ctx)
    try:
        report = ingest_file(
            engine,
            path,
            source=source.value,
            skip_invalid=skip_invalid,
            dry_run=dry_run,
            progress=ProgressLog(log),
        )
    except (IngestError, SourceFormatError) as exc:
        raise fail(
            f"{path.name}: {exc}" if isinstance(exc, SourceFormatError) else str(exc)
        ) from None
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        _print_report(report)


@events_app.command("summary")
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


@app.command()
def panel(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="CSV file to write.", dir_okay=False)],
    freq: Annotated[FrequencyChoice, typer.Option(help="Period length.")] = FrequencyChoice.month,
    start: Annotated[str | None, typer.Option(help="First period (YYYY-MM or YYYY-Www).")] = None,
    end: Annotated[str | None, typer.Option(help="Last period (YYYY-MM or YYYY-Www).")] = None,
    as_of: Annotated[
        str | None, typer.Option(help="Use only events that started on or before YYYY-MM-DD.")
    ] = None,
    country: Annotated[str, typer.Option(help="ISO 3166-1 alpha-3 country code.")] = "PAK",
) -> None:
    """Export the region x period panel (region, period, events, fatalities, breakdowns, calendar)."""
    try:
        cutoff = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        raise fail(f"--as-of {as_of!r} is not a date (YYYY-MM-DD)", 2) from None
    engine = open_engine(ctx)
    try:
        frame = build_panel(engine, freq.value, start=start, end=end, as_of=cutoff, country=country)
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False)
    typer.echo(
        f"wrote {len(frame)} rows ({frame['region'].nunique()} regions x "
        f"{frame['period'].nunique()} periods, {int(frame['events'].sum())} events) to {out}"
    )


@app.command("backtest")
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
    source: Annotated[SourceChoice, typer.Option(help="Format of --events.")] = SourceChoice.auto,
    horizons: Annotated[str, typer.Option(help="Horizons, e.g. 1,3,6 or 1-6.")] = "1,3,6",
    freq: Annotated[FrequencyChoice, typer.Option(help="Period length.")] = FrequencyChoice.month,
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
    country: Annotated[str, typer.Option(help="ISO 3166-1 alpha-3 country code.")] = "PAK",
) -> None:
    """Rolling-origin backtest: at every origin, fit on data up to it and forecast each horizon."""
    if output.suffix not in {".csv", ".parquet"}:
        raise fail(f"--output {output.name}: use a .csv or .parquet file name", 2)
    if output.suffix == ".parquet" and importlib.util.find_spec("pyarrow") is None:
        raise fail("--output .parquet needs pyarrow (pip install pyarrow); or write .csv", 2)
    try:
        request = BacktestRequest(
            freq=freq.value,
            start=start,
            end=end,
            horizons=parse_horizons(horizons),
            models=tuple(m.strip() for m in models.split(",") if m.strip()),
            n_jobs=n_jobs,
            backend=backend.value,
        )
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    gazetteer = default_resolver().gazetteers.get(country)
    if gazetteer is None:
        raise fail(f"no gazetteer for country {country!r}", 2)
    with tempfile.TemporaryDirectory(prefix="threatcast-backtest-") as scratch:
        if events_file is not None:
            engine = make_engine(f"sqlite:///{Path(scratch) / 'events.db'}")
            migrate(engine)
            try:
                ingest_file(engine, events_file, source=source.value, progress=ProgressLog(log))
            except (IngestError, SourceFormatError) as exc:
                raise fail(f"{events_file.name}: {exc}") from None
        else:
            engine = open_engine(ctx)
        try:
            panel = build_panel(engine, request.freq, country=country)
            address = (
                scheduler or settings_of(ctx).dask_scheduler if backend == "dask" else scheduler
            )
            with compute_backend(request.backend, address):
                results = run_backtest(
                    panel,
                    request,
                    default_spec(gazetteer, request.freq),
                    progress=lambda done, total: log.info("backtest: %d/%d origins", done, total),
                )
        except ValueError as exc:
            raise fail(str(exc), 2) from None
        engine.dispose()
    metrics = write_outputs(results, output, report, request.models[0])
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
        ]
        typer.echo(metrics[[c for c in columns if c in metrics]].round(4).to_string(index=False))
        typer.echo(f"report written to {report}")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply any pending schema migrations."""
    open_engine(ctx)
    typer.echo("database schema is up to date")


def _bootstrap(ctx: typer.Context, engine: Engine) -> None:
    """Ingest the bundled data into an empty store; train and promote a first champion if none."""
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(events)).scalar_one()
    if stored:
        typer.echo(f"event store already holds {stored} events")
    else:
        typer.echo(f"first run: ingesting the bundled {bundled.UCDP_GED_22_1_PAKISTAN.name}")
        _print_report(
            ingest_file(engine, bundled.UCDP_GED_22_1_PAKISTAN, progress=ProgressLog(log))
        )
    if registry.champion(engine, "month") is not None:
        return
    typer.echo("no monthly champion yet: training a first model (about a minute or two)")
    try:
        config = load_config(settings_of(ctx).bootstrap_config)
    except ValueError as exc:
        raise fail(f"THREATCAST_BOOTSTRAP_CONFIG: {exc}") from None
    params = {"config": config.model_dump(mode="json"), "as_of": None, "force": False}
    job = run_job(
        engine, job_environment(ctx), jobs.start_inline(engine, "train", params, CLI_ACTOR)
    )
    if job.status != "succeeded" or job.version is None:
        raise fail(f"bootstrap training failed: {job.result}")
    registry.promote(engine, job.version, CLI_ACTOR, "first champion, trained at bootstrap")
    typer.echo(f"{job.version} is the first monthly champion")


@app.command()
def bootstrap(ctx: typer.Context) -> None:
    """Prepare a fresh installation: migrate, and ingest the bundled UCDP data if the store is empty."""
    _bootstrap(ctx, open_engine(ctx))


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
    with_bootstrap: Annotated[
        bool,
        typer.Option("--bootstrap", help="First migrate and ingest the bundled data if empty."),
    ] = False,
) -> None:
    """Serve the HTTP API."""
    import uvicorn  # only this command needs the server

    if with_bootstrap:
        _bootstrap(ctx, open_engine(ctx))
    # ThreatCast writes its own structured access log (threatcast.access), with the key's name.
    uvicorn.run(
        "service.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
    )


cli_models.register(app)
app.add_typer(keys_app, name="keys")
app.add_typer(alerts_app, name="alerts")
