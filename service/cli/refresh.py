"""`threatcast refresh`: take in the files dropped in the inbox and retrain what they changed."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine

from service.cli.support import fail, installation_of, open_engine, settings_of
from training.config import load_config
from training.refresh import InboxError, RefreshBusy, RefreshResult, refresh_inbox
from training.runner import run_job

log = logging.getLogger("threatcast")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_EVERY = re.compile(r"(\d{1,6})([smhd])", re.ASCII)


def parse_every(text: str) -> float:
    """'6h', '30m', '1d' or '90s' as seconds."""
    match = _EVERY.fullmatch(text.strip())
    if match is None or int(match[1]) == 0:
        raise ValueError(f"{text[:20]!r} is not an interval; use e.g. 6h, 30m, 1d")
    return int(match[1]) * _UNITS[match[2]]


def run_refresh(
    ctx: typer.Context, engine: Engine, config: Path | None = None, now: bool = False
) -> RefreshResult:
    """One refresh of the installation's inbox, reported; with `now`, the retrains run here."""
    settings = settings_of(ctx)
    try:
        base = load_config(config or settings.bootstrap_config)
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    try:
        result = refresh_inbox(
            engine,
            settings.inbox,
            base_config=base,
            limits=settings.file_limits,
            settle_s=settings.inbox_settle_s,
            max_removed_share=settings.max_removed_share,
            inline=now,
        )
    except (RefreshBusy, InboxError) as exc:
        raise fail(str(exc)) from None
    for name, report in result.ingested:
        typer.echo(
            f"ingested {name} ({report.source}): {report.added} added, {report.updated} "
            f"changed, {report.missing_now} gone; covers "
            + ", ".join(f"{c} {s}" for c, s in report.covers.items())
        )
    for name, reason in result.rejected:
        first = reason.splitlines()[0]
        typer.echo(f"rejected {name}: {first} (see rejected/{name}.reason.txt)")
    for name, reason in result.held:
        typer.echo(
            f"held {name}: {reason.splitlines()[0]} (see held/{name}.reason.txt; "
            f"`threatcast ingest held/{name} --replace` applies it)"
        )
    for name in result.waiting:
        typer.echo(
            f"waiting for {name}: it changed in the last {settings.inbox_settle_s:g} s "
            "(write it as NAME.part and rename it when complete to skip the wait)"
        )
    verb = "running" if now else "queued"
    for series, job_id in result.queued:
        typer.echo(f"{verb} job {job_id}: retrain {series} through the promotion gate")
    if not (result.ingested or result.rejected or result.held or result.waiting):
        typer.echo(f"nothing new in {settings.inbox}")
    if now:
        installation = installation_of(ctx)
        for _, job_id in result.queued:
            job = run_job(engine, installation, job_id)
            typer.echo(f"job {job.id} {job.status}: {job.result}")
    elif result.queued:
        typer.echo("`threatcast worker` runs the queued jobs (or rerun with --now)")
    return result


def refresh(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="Training config for the retrains."),
    ] = None,
    now: Annotated[
        bool, typer.Option(help="Run the retrains in this process instead of queueing them.")
    ] = False,
) -> None:
    """Ingest every new file in $THREATCAST_HOME/inbox (moved to done/, or to held/ or
    rejected/ with the reason), then retrain each series it changed through the promotion gate."""
    result = run_refresh(ctx, open_engine(ctx), config, now)
    if result.rejected or result.held:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(refresh)
