"""`threatcast` commands that set an installation up and run it: db upgrade, bootstrap, serve."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine, func, select

from events import bundled
from events.ingest import ingest_file
from events.sources import ProgressLog
from events.tables import event_rows
from service.cli.data import print_report
from service.cli.support import CLI_ACTOR, fail, installation_of, open_engine, settings_of
from service.observability import MULTIPROCESS_DIR
from training import issuing, jobs, registry
from training.config import load_config
from training.runner import run_job

log = logging.getLogger("threatcast")
db_app = typer.Typer(help="Manage the database schema.", no_args_is_help=True)


def db_upgrade(ctx: typer.Context) -> None:
    """Apply any pending schema migrations."""
    open_engine(ctx, upgrade=True)
    typer.echo("database schema is up to date")


def _bootstrap(ctx: typer.Context, engine: Engine) -> None:
    """Ingest the bundled data into an empty store; train and promote a first champion if none."""
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(event_rows)).scalar_one()
    if stored:
        typer.echo(f"event store already holds {stored} events")
    else:
        typer.echo(f"first run: ingesting the bundled {bundled.UCDP_GED_22_1_PAKISTAN.name}")
        print_report(ingest_file(engine, bundled.UCDP_GED_22_1_PAKISTAN, progress=ProgressLog(log)))
    try:
        config = load_config(settings_of(ctx).bootstrap_config)
    except ValueError as exc:
        raise fail(f"THREATCAST_BOOTSTRAP_CONFIG: {exc}") from None
    series = config.series.key
    champion = registry.champion(engine, series)
    if champion is not None:
        if issuing.latest_issue_key(engine, champion.version) is None:
            typer.echo(f"champion {champion.version} has issued nothing yet: issuing its forecasts")
            issuing.issue(engine, installation_of(ctx), version=champion.version)
        return
    typer.echo(f"no {series} champion yet: training a first model (about a minute or two)")
    params = {"config": config.model_dump(mode="json"), "as_of": None, "force": False}
    installation = installation_of(ctx)
    job = run_job(engine, installation, jobs.start_inline(engine, "train", params, CLI_ACTOR))
    if job.status != "succeeded" or job.version is None:
        raise fail(f"bootstrap training failed: {job.result}")
    issuing.promote(
        engine, installation, job.version, CLI_ACTOR, "first champion, trained at bootstrap"
    )
    typer.echo(f"{job.version} is the first {series} champion")


def bootstrap(ctx: typer.Context) -> None:
    """Prepare a fresh installation: migrate, and ingest the bundled UCDP data if the store is empty."""
    _bootstrap(ctx, open_engine(ctx, upgrade=True))


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
        _bootstrap(ctx, open_engine(ctx, upgrade=True))
    with tempfile.TemporaryDirectory(prefix="metrics-", dir=_home(ctx)) as counters:
        if workers > 1:  # every worker's request counters, summed at each scrape
            os.environ[MULTIPROCESS_DIR] = counters
        # ThreatCast writes its own structured access log (threatcast.access), with the key's name.
        uvicorn.run(
            "service.app:app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            access_log=False,
        )


def _home(ctx: typer.Context) -> Path:
    home = settings_of(ctx).home
    home.mkdir(parents=True, exist_ok=True)
    return home


def register(app: typer.Typer) -> None:
    db_app.command("upgrade")(db_upgrade)
    app.add_typer(db_app, name="db")
    app.command()(bootstrap)
    app.command()(serve)
