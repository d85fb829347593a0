"""Helpers every `threatcast` command shares: errors, the engine, option parsing, progress."""

from __future__ import annotations

import logging
from enum import StrEnum

import typer
from sqlalchemy import Engine

from features.store.db import make_engine, migrate
from service.settings import Settings
from training.runner import JobEnvironment

log = logging.getLogger("threatcast")
CLI_ACTOR = "cli"


class SourceChoice(StrEnum):
    auto = "auto"
    ucdp = "ucdp"
    gtd = "gtd"
    acled = "acled"


class FrequencyChoice(StrEnum):
    month = "month"
    week = "week"


class BackendChoice(StrEnum):
    loky = "loky"
    dask = "dask"


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def settings_of(ctx: typer.Context) -> Settings:
    settings: Settings = ctx.obj
    return settings


def open_engine(ctx: typer.Context) -> Engine:
    engine = make_engine(settings_of(ctx).database_url)
    migrate(engine)
    return engine


def job_environment(ctx: typer.Context) -> JobEnvironment:
    settings = settings_of(ctx)
    return JobEnvironment(settings.artifact_root, settings.secret_key.get_secret_value())


def parse_horizons(text: str) -> tuple[int, ...]:
    """'1,3,6' or '1-6'."""
    try:
        if "-" in text:
            first, last = (int(part) for part in text.split("-", 1))
            return tuple(range(first, last + 1))
        return tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        raise fail(f"--horizons {text!r}: use a list like 1,3,6 or a range like 1-6", 2) from None


class ProgressLog:
    """Logs long work about every tenth of the way (each call when the total is unknown)."""

    def __init__(self) -> None:
        self._last: dict[str, int] = {}

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        step = done * 10 // total if total else done
        if self._last.get(stage) != step:
            self._last[stage] = step
            log.info("%s: %d%s rows", stage, done, f"/{total}" if total else "")
