"""`threatcast` commands that set an installation up and run it: db upgrade, bootstrap, serve."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine

from service.cli.data import print_report
from service.cli.support import CLI_ACTOR, fail, installation_of, open_engine, settings_of
from service.observability import MULTIPROCESS_DIR
from training import operations

log = logging.getLogger("threatcast")
db_app = typer.Typer(help="Manage the database schema.", no_args_is_help=True)


def db_upgrade(ctx: typer.Context) -> None:
    """Apply any pending schema migrations."""
    open_engine(ctx, upgrade=True)
    typer.echo("database schema is up to date")


def _bootstrap(ctx: typer.Context, engine: Engine) -> None:
    """Ingest the bundled data into an empty store; train and promote a first champion if none."""
    try:
        done = operations.bootstrap(
            engine, installation_of(ctx), settings_of(ctx).bootstrap_config, CLI_ACTOR
        )
    except operations.BootstrapError as exc:
        raise fail(str(exc)) from None
    if done.ingested is not None:
        print_report(done.ingested)
    else:
        typer.echo(f"event store already holds {done.stored_events} events")
    if done.trained:
        typer.echo(f"{done.champion} is the first {done.series} champion")
    elif done.issued:
        typer.echo(f"issued the forecasts of champion {done.champion}")


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
    with_worker: Annotated[
        bool,
        typer.Option(
            "--worker/--no-worker",
            help="Also run `threatcast worker` beside the web workers, so that jobs queued "
            "over HTTP (training, promotion, rollback) run; --no-worker where workers run "
            "elsewhere.",
        ),
    ] = True,
) -> None:
    """Serve the HTTP API (and, by default, a job worker in its own process)."""
    if with_bootstrap:
        _bootstrap(ctx, open_engine(ctx, upgrade=True))
    worker = (
        subprocess.Popen(
            [sys.executable, "-m", "service", "worker", "--parent-pid", str(os.getpid())]
        )
        if with_worker
        else None
    )
    try:
        _run_web(ctx, host, port, workers)
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()


def _run_web(ctx: typer.Context, host: str, port: int, workers: int) -> None:
    import uvicorn  # only this command needs the server

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
