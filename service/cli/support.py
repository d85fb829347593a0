"""Helpers every `threatcast` command shares: errors, the engine, option parsing, progress."""

from __future__ import annotations

from enum import StrEnum

import typer
from sqlalchemy import Engine

from events.series import Series, choose_series
from service.installation import installation
from service.settings import Settings
from store.db import make_engine, migrate, schema_state
from training.installation import Installation

CLI_ACTOR = "cli"


class BackendChoice(StrEnum):
    loky = "loky"
    dask = "dask"


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def settings_of(ctx: typer.Context) -> Settings:
    settings: Settings = ctx.obj
    return settings


def open_engine(ctx: typer.Context, *, upgrade: bool = False) -> Engine:
    """The store's engine. A new, empty store gets the schema; a store at an older schema is
    upgraded only when asked (`db upgrade`, bootstrap): servers of the previous release may still
    be reading it."""
    engine = make_engine(settings_of(ctx).database_url)
    state = schema_state(engine)
    if state == "empty" or (upgrade and state == "behind"):
        migrate(engine)
    elif state == "behind":
        raise fail("the database schema is older than this ThreatCast: run `threatcast db upgrade`")
    return engine


def installation_of(ctx: typer.Context) -> Installation:
    return installation(settings_of(ctx))


def series_of(
    ctx: typer.Context,
    series: str | None,
    source: str | None = None,
    freq: str | None = None,
    level: str | None = None,
) -> Series:
    """The series a command names (--series, or the default one with --source / --freq), at
    --level where given."""
    try:
        return choose_series(settings_of(ctx).default_series, series, source, freq, level)
    except ValueError as exc:
        raise fail(str(exc), 2) from None


SERIES_HELP = (
    "Series COUNTRY-SOURCE-FREQ, e.g. afg-acled-month (default: THREATCAST_DEFAULT_SERIES)."
)


def parse_horizons(text: str) -> tuple[int, ...]:
    """'1,3,6' or '1-6'."""
    try:
        if "-" in text:
            first, last = (int(part) for part in text.split("-", 1))
            return tuple(range(first, last + 1))
        return tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        raise fail(f"--horizons {text!r}: use a list like 1,3,6 or a range like 1-6", 2) from None
