"""Operations the CLI and the service both start: bootstrap an installation, run the job
worker, backtest a series. They log their progress; callers say the outcome in their words."""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, func, select

from events import bundled
from events.gazetteer import default_resolver
from events.ingest import IngestReport, ingest_file
from events.levels import FIRST_LEVEL
from events.panel import build_panel, has_counts
from events.series import Series
from events.sources import ProgressLog
from events.sources.base import DEFAULT_LIMITS, FileLimits
from events.tables import event_rows
from features.specs import default_spec
from store.db import make_engine, migrate
from training import issued, issuing, jobs, registry
from training.backtest import BacktestRequest, run_backtest
from training.config import load_config
from training.ingesting import ingest_and_record
from training.installation import Installation
from training.job_params import TrainParams
from training.parallel import compute_backend
from training.reconcile import reconciled_backtest
from training.runner import run_job

log = logging.getLogger(__name__)
BOOTSTRAP_ACTOR = "bootstrap"


class BootstrapError(Exception):
    """The bundled data or the first model could not be made ready."""


@dataclass(frozen=True)
class Bootstrapped:
    """What bootstrap did: the bundled file it ingested (if the store was empty), and the
    series' champion, trained and promoted now or found."""

    ingested: IngestReport | None
    stored_events: int
    series: str
    champion: str
    trained: bool
    issued: bool


def bootstrap(
    engine: Engine,
    installation: Installation,
    config_path: Path | None = None,
    actor: str = BOOTSTRAP_ACTOR,
) -> Bootstrapped:
    """Ingest the bundled data into an empty store; train and promote a first champion of the
    bootstrap series if it has none, or issue the champion's forecasts if it issued none."""
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(event_rows)).scalar_one()
    ingested = None
    if not stored:
        first_file = bundled.bundle().first_run_events
        log.info("first run: ingesting the bundled %s", first_file.name)
        ingested = ingest_and_record(engine, first_file, progress=ProgressLog(log)).report
    try:
        config = load_config(config_path)
    except ValueError as exc:
        raise BootstrapError(f"THREATCAST_BOOTSTRAP_CONFIG: {exc}") from None
    series = config.series.key
    champion = registry.champion(engine, series)
    if champion is not None:
        issue_now = issued.latest_issue_key(engine, champion.version) is None
        if issue_now:
            log.info("champion %s has issued nothing yet: issuing its forecasts", champion.version)
            issuing.issue(engine, installation, version=champion.version)
        return Bootstrapped(ingested, stored, series, champion.version, False, issue_now)
    log.info("no %s champion yet: training a first model (about a minute or two)", series)
    params = TrainParams(config=config)
    job = run_job(engine, installation, jobs.start_inline(engine, params, actor))
    if job.status != "succeeded" or job.version is None:
        raise BootstrapError(f"bootstrap training failed: {job.result}")
    issuing.promote(
        engine, installation, job.version, actor, "first champion, trained at bootstrap"
    )
    return Bootstrapped(ingested, stored, series, job.version, True, True)


@dataclass(frozen=True)
class WorkerSchedule:
    """How the worker polls, reaps dead jobs and (optionally) refreshes the inbox."""

    poll_interval_s: float = 5.0
    stale_after_s: float = 60.0
    refresh_every_s: float | None = None
    # Run the queued jobs, then return when none is left.
    once: bool = False


def work(
    engine: Engine,
    installation: Installation,
    schedule: WorkerSchedule,
    *,
    refresh: Callable[[], None] | None = None,
    on_finished: Callable[[jobs.Job], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Take queued jobs and run them one at a time, until `stop` is set (or, `once`, until the
    queue is empty). A job's failure is recorded in its row; a failed refresh is logged and
    tried again at the next turn of its schedule."""
    stop = stop or threading.Event()
    next_refresh = time.monotonic()
    while not stop.is_set():
        every = schedule.refresh_every_s
        if refresh is not None and every is not None and time.monotonic() >= next_refresh:
            next_refresh = time.monotonic() + every
            try:
                refresh()
            except Exception:  # the worker outlives any refresh; the next one tries again
                log.exception("worker: refresh failed; next in %g s", every)
        jobs.reap_dead(engine, schedule.stale_after_s, installation.artifact_root)
        job = jobs.claim_next(engine)
        if job is None:
            if schedule.once:
                return
            stop.wait(schedule.poll_interval_s)
            continue
        log.info("worker: running job %d (%s)", job.id, job.kind)
        try:
            finished = run_job(engine, installation, job.id)
        except Exception:  # the worker outlives any one job; the job's row says what happened
            log.exception("worker: job %d could not be run to its end", job.id)
            continue
        if on_finished is not None:
            on_finished(finished)


@dataclass(frozen=True)
class SeriesBacktest:
    """A rolling-origin backtest of one series: the forecasts, and the series they are of."""

    series: Series
    results: pd.DataFrame
    # The country's general elections (for the report's election slice).
    elections: tuple[date, ...] = ()
    # Below the first level: the province backtest the units' forecasts are reconciled to.
    provinces: pd.DataFrame | None = None


def backtest_series(
    engine: Engine | None,
    series: Series,
    request: BacktestRequest,
    *,
    events_file: Path | None = None,
    source: str = "auto",
    keep_source: bool = False,
    limits: FileLimits = DEFAULT_LIMITS,
    scheduler: str | None = None,
) -> SeriesBacktest:
    """Backtest `series` in the store of `engine`, or, with `events_file`, of that file alone in
    a temporary store (the series then takes the file's source unless `keep_source`).
    ValueError says what is wrong with the request or the data."""
    gazetteer = default_resolver().gazetteers.get(series.country)
    if gazetteer is None:
        raise ValueError(
            f"no country definition for {series.country!r}; add one with `threatcast countries add`"
        )
    with tempfile.TemporaryDirectory(prefix="threatcast-backtest-") as scratch:
        if events_file is not None:
            engine = make_engine(f"sqlite:///{Path(scratch) / 'events.db'}")
            migrate(engine)
            report = ingest_file(
                engine, events_file, source=source, progress=ProgressLog(log), limits=limits
            )
            if not keep_source:
                series = replace(series, source=report.source)
        assert engine is not None, "a store or an event file"
        try:
            level = series.level
            panel = build_panel(engine, series)
            groups = () if has_counts(engine, series) else None
            spec = default_spec(gazetteer, request.freq, groups=groups, level=level)
            provinces = None
            with compute_backend(request.backend, scheduler):
                results = run_backtest(panel, request, spec, progress=_progress)
                if level != FIRST_LEVEL:
                    log.info("backtest: the provinces, to reconcile the %s units to", level)
                    provinces = run_backtest(
                        build_panel(engine, series.first_level),
                        replace(request, models=request.models[:1], trial_families=()),
                        default_spec(gazetteer, request.freq, groups=groups),
                        progress=_progress,
                    )
                    results = reconciled_backtest(
                        results, provinces, panel, gazetteer.unit_parents(level),
                        request.models[0], spec.climatology_window,
                    )  # fmt: skip
        finally:
            if events_file is not None:
                engine.dispose()
    return SeriesBacktest(series, results, tuple(gazetteer.elections), provinces)


def _progress(done: int, total: int) -> None:
    log.info("backtest: %d/%d origins", done, total)
