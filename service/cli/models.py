"""`threatcast` commands for models and jobs: train, forecast, models, retrain, jobs, worker."""

from __future__ import annotations

import json
import logging
import os
import threading
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine

from events.periods import Frequency
from events.series import DETECT_SOURCE, FileSource, Series, SeriesSource
from service.cli.refresh import parse_every, run_refresh
from service.cli.support import (
    CLI_ACTOR,
    SERIES_HELP,
    BackendChoice,
    fail,
    installation_of,
    open_engine,
    parse_horizons,
    series_of,
    settings_of,
)
from training import issuing, jobs, operations, registry
from training.config import TrainingConfig, load_config
from training.job_params import RetrainParams, TrainParams
from training.manifest import ArtifactError, resign
from training.parallel import compute_backend
from training.report import write_forecast_table
from training.runner import run_job

log = logging.getLogger("threatcast")
models_app = typer.Typer(
    help="The model registry: list, inspect, promote, roll back.", no_args_is_help=True
)
jobs_app = typer.Typer(help="Training and retraining jobs.", no_args_is_help=True)


# What the registry and issuing refuse with a reason to show: a version, artifact or origin.
_REFUSALS = (registry.RegistryError, ArtifactError, ValueError)


class PromoteChoice(StrEnum):
    never = "never"
    gate = "gate"
    always = "always"


def _config(
    path: Path | None,
    freq: Frequency | None,
    source: str | None = None,
    series: str | None = None,
) -> TrainingConfig:
    country = level = None
    if series is not None:
        if freq is not None or source is not None:
            raise fail("--series names the source and frequency: drop --source and --freq", 2)
        try:
            parsed = Series.parse(series)
        except ValueError as exc:
            raise fail(str(exc), 2) from None
        country, source, freq, level = parsed.country, parsed.source, parsed.freq, parsed.level
    try:
        return load_config(path, freq=freq, source=source, country=country, level=level)
    except ValueError as exc:
        raise fail(str(exc), 2) from None


def _reap(ctx: typer.Context, engine: Engine) -> None:
    settings = settings_of(ctx)
    jobs.reap_dead(engine, settings.job_stale_after_s, settings.artifact_root)


def _run_inline(
    ctx: typer.Context,
    params: TrainParams | RetrainParams,
    backend: BackendChoice,
    scheduler: str | None,
) -> jobs.Job:
    engine = open_engine(ctx)
    _reap(ctx, engine)
    job_id = jobs.start_inline(engine, params, CLI_ACTOR)
    typer.echo(f"job {job_id}: {params.kind} running")
    address = (
        scheduler or settings_of(ctx).dask_scheduler if backend == BackendChoice.dask else scheduler
    )
    try:
        with compute_backend(backend.value, address):
            return run_job(engine, installation_of(ctx), job_id)
    except ValueError as exc:
        jobs.finish(engine, job_id, "failed", result=str(exc))
        raise fail(str(exc), 2) from None


def _report_job(job: jobs.Job) -> None:
    for finding in job.findings or []:
        if finding["severity"] != "info":
            typer.echo(
                f"  input check {finding['check']} ({finding['severity']}): {finding['message']}"
            )
    typer.echo(f"job {job.id} {job.status}: {job.result}")
    if job.status != "succeeded":
        raise typer.Exit(1)


_BACKEND_OPTION = typer.Option(help="Run the backtest on local processes or a Dask cluster.")
_SCHEDULER_OPTION = typer.Option(help="Dask scheduler address (default THREATCAST_DASK_SCHEDULER).")
_CONFIG_OPTION = typer.Option(exists=True, dir_okay=False, help="Training config (JSON or TOML).")


def train(
    ctx: typer.Context,
    as_of: Annotated[
        str | None, typer.Option(help="Data cutoff period (default: newest data).")
    ] = None,
    freq: Annotated[Frequency | None, typer.Option(help="Period length.")] = None,
    source: Annotated[
        SeriesSource | None,
        typer.Option(help="The source family whose series to train (default: ucdp)."),
    ] = None,
    series: Annotated[
        str | None,
        typer.Option(
            help="The series to train, COUNTRY-SOURCE-FREQ (instead of --source, --freq)."
        ),
    ] = None,
    config: Annotated[Path | None, _CONFIG_OPTION] = None,
    force: Annotated[bool, typer.Option(help="Train despite severe input-check findings.")] = False,
    backend: Annotated[BackendChoice, _BACKEND_OPTION] = BackendChoice.loky,
    scheduler: Annotated[str | None, _SCHEDULER_OPTION] = None,
) -> None:
    """Fit the default ensemble on one series' data (its source alone), backtest it, and register
    a candidate version."""
    settings = _config(config, freq, source.value if source else None, series)
    params = TrainParams(config=settings, as_of=as_of, force=force)
    _report_job(_run_inline(ctx, params, backend, scheduler))


def retrain(
    ctx: typer.Context,
    events_file: Annotated[
        Path,
        typer.Option("--events", exists=True, dir_okay=False, help="New event file to ingest."),
    ],
    source: Annotated[FileSource, typer.Option(help="Format of --events.")] = DETECT_SOURCE,
    config: Annotated[Path | None, _CONFIG_OPTION] = None,
    freq: Annotated[Frequency | None, typer.Option(help="Period length.")] = None,
    promote: Annotated[
        PromoteChoice, typer.Option(help="Promote never, by the gate, or always.")
    ] = PromoteChoice.gate,
    force: Annotated[bool, typer.Option(help="Train despite severe input-check findings.")] = False,
    enqueue: Annotated[
        bool, typer.Option(help="Queue the job for `threatcast worker` instead.")
    ] = False,
    backend: Annotated[BackendChoice, _BACKEND_OPTION] = BackendChoice.loky,
    scheduler: Annotated[str | None, _SCHEDULER_OPTION] = None,
) -> None:
    """Ingest new events, train, backtest, and promote if the gate allows."""
    settings = _config(config, freq)
    params = RetrainParams(
        events=str(events_file.resolve()), source=source.value, config=settings,
        promote=promote.value, force=force,
    )  # fmt: skip
    if enqueue:
        job_id = jobs.enqueue(open_engine(ctx), params, CLI_ACTOR)
        typer.echo(f"job {job_id} queued; `threatcast worker` will run it")
        return
    _report_job(_run_inline(ctx, params, backend, scheduler))


def forecast(
    ctx: typer.Context,
    output: Annotated[
        Path, typer.Option(dir_okay=False, help="Forecast table (.csv or .parquet).")
    ],
    version: Annotated[
        str | None, typer.Option(help="Model version (default: the champion).")
    ] = None,
    series: Annotated[str | None, typer.Option(help=SERIES_HELP)] = None,
    freq: Annotated[
        Frequency | None, typer.Option(help="The default series at this frequency.")
    ] = None,
    horizons: Annotated[
        str | None, typer.Option(help="Horizons, e.g. 1-6 (default: all fitted).")
    ] = None,
    origin: Annotated[
        str | None, typer.Option(help="Forecast from this period (default: newest).")
    ] = None,
    allow_version_mismatch: Annotated[
        bool, typer.Option(help="Load a model saved by other scikit-learn/statsmodels versions.")
    ] = False,
    pmf: Annotated[
        bool,
        typer.Option(help="Add each row's count law (mass function and tail) as JSON."),
    ] = False,
) -> None:
    """Issue forecasts from the champion (or --version) on the stored events, and store them."""
    if output.suffix not in {".csv", ".parquet"}:
        raise fail(f"--output {output.name}: use a .csv or .parquet file name", 2)
    engine = open_engine(ctx)
    try:
        serving, table = issuing.issue(
            engine,
            installation_of(ctx),
            version=version,
            series=series_of(ctx, series, freq=freq).key,
            horizons=parse_horizons(horizons) if horizons else None,
            origin=origin,
            allow_version_mismatch=allow_version_mismatch,
        )
    except _REFUSALS as exc:
        raise fail(str(exc)) from None
    write_forecast_table(table, output, pmf=pmf)
    typer.echo(
        f"issued {len(table)} forecasts from {serving.record.version} at origin "
        f"{table['origin'].iloc[0]} to {output}"
    )


@models_app.command("list")
def models_list(
    ctx: typer.Context,
    series: Annotated[str | None, typer.Option(help="Only this series.")] = None,
) -> None:
    """Every registered version, newest first."""
    versions = registry.list_versions(open_engine(ctx), series)
    if not versions:
        typer.echo("no model versions yet; run `threatcast train`")
        return
    typer.echo(
        f"{'version':<24} {'series':<16} {'status':<9} {'as_of':<8} {'brier':>7} {'ece':>7}  created"
    )
    for mv in versions:
        scores = mv.backtest
        brier = f"{scores.brier:>7.4f}" if scores else f"{'-':>7}"
        ece = f"{scores.calibration_error:>7.4f}" if scores else f"{'-':>7}"
        typer.echo(
            f"{mv.version:<24} {mv.series:<16} {mv.status:<9} {mv.as_of:<8} "
            f"{brier} {ece}  {mv.created_at:%Y-%m-%d %H:%M}"
        )


@models_app.command("show")
def models_show(ctx: typer.Context, version: str) -> None:
    """A version's manifest facts, backtest metrics and status history."""
    engine = open_engine(ctx)
    try:
        mv = registry.get(engine, version)
    except registry.RegistryError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"version     {mv.version}\nseries      {mv.series}\nstatus      {mv.status}")
    typer.echo(f"data as of  {mv.as_of}\ncreated     {mv.created_at:%Y-%m-%d %H:%M:%S}")
    typer.echo(
        f"artifact    {settings_of(ctx).artifact_root / mv.artifact_dir}\nsha256      {mv.sha256}"
    )
    metrics = mv.backtest
    if metrics is None:
        typer.echo("backtest    none recorded")
    else:
        typer.echo(
            f"backtest    origins {metrics.window}, horizons {list(metrics.window.horizons)}"
        )
    for model, by_horizon in (metrics.models if metrics else {}).items():
        for horizon, scores in by_horizon.items():
            # Models saved before PIT coverage was scored lack it.
            pit = scores.get("pit_coverage_p10_p90")
            typer.echo(
                f"  {model:<12} h={horizon:<4} brier {scores['brier']:.4f}  "
                f"ece {scores['calibration_error']:.4f}  severe {scores['severe_brier']:.4f}  "
                f"pinball {scores['pinball']:.4f}  coverage {scores['coverage_p10_p90']:.3f}"
                + (f" (PIT {pit:.3f})" if pit is not None else "")
            )
    typer.echo("history")
    for change in registry.history(engine, version):
        typer.echo(
            f"  {change.changed_at:%Y-%m-%d %H:%M:%S}  {change.from_status or '-'} -> "
            f"{change.to_status}  by {change.actor}: {change.reason}"
        )


_REASON = typer.Option(help="Why; recorded in the audit trail.")


@models_app.command("promote")
def models_promote(
    ctx: typer.Context, version: str, reason: Annotated[str, _REASON] = "promoted by hand"
) -> None:
    """Make VERSION the champion of its series (the current one is retired) and issue its
    forecasts."""
    try:
        mv = issuing.promote(open_engine(ctx), installation_of(ctx), version, CLI_ACTOR, reason)
    except _REFUSALS as exc:
        raise fail(str(exc)) from None
    typer.echo(f"{mv.version} is now the {mv.series} champion")


@models_app.command("rollback")
def models_rollback(
    ctx: typer.Context,
    series: Annotated[str | None, typer.Option(help=SERIES_HELP)] = None,
    freq: Annotated[
        Frequency | None, typer.Option(help="The default series at this frequency.")
    ] = None,
    reason: Annotated[str, _REASON] = "rolled back by hand",
) -> None:
    """Return to the previous champion in one step, and issue its forecasts."""
    chosen = series_of(ctx, series, freq=freq).key
    try:
        mv = issuing.rollback(open_engine(ctx), installation_of(ctx), chosen, CLI_ACTOR, reason)
    except _REFUSALS as exc:
        raise fail(str(exc)) from None
    typer.echo(f"rolled back: {mv.version} is the {mv.series} champion again")


def _set_status(ctx: typer.Context, version: str, status: str, reason: str) -> None:
    try:
        mv = registry.set_status(open_engine(ctx), version, status, CLI_ACTOR, reason)
    except registry.RegistryError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"{mv.version} is now {mv.status}")


@models_app.command("retire")
def models_retire(
    ctx: typer.Context, version: str, reason: Annotated[str, _REASON] = "retired by hand"
) -> None:
    """Retire a version that is not the champion."""
    _set_status(ctx, version, "retired", reason)


@models_app.command("shadow")
def models_shadow(
    ctx: typer.Context, version: str, reason: Annotated[str, _REASON] = "shadowing the champion"
) -> None:
    """Mark a version as a shadow: scored beside the champion, not served."""
    _set_status(ctx, version, "shadow", reason)


@models_app.command("resign")
def models_resign(ctx: typer.Context) -> None:
    """Re-sign every version's manifest with THREATCAST_SECRET_KEY (after a rotation; the old key
    must be among THREATCAST_PREVIOUS_SECRET_KEYS until this has run)."""
    engine = open_engine(ctx)
    installation = installation_of(ctx)
    resigned, unverifiable = 0, []
    for mv in registry.list_versions(engine):
        try:
            new = resign(
                installation.artifact_root / mv.artifact_dir,
                mv.manifest_hmac,
                installation.verifying_keys,
                installation.secret,
            )
        except ArtifactError as exc:
            unverifiable.append(f"{mv.version}: {exc}")
            continue
        if new != mv.manifest_hmac:
            registry.set_manifest_hmac(engine, mv.version, new, CLI_ACTOR)
            resigned += 1
    typer.echo(f"re-signed {resigned} versions with the current key")
    for problem in unverifiable:
        typer.echo(f"  not re-signed: {problem}")
    if unverifiable:
        raise typer.Exit(1)


@jobs_app.command("list")
def jobs_list(
    ctx: typer.Context, limit: Annotated[int, typer.Option(min=1, max=1000)] = 20
) -> None:
    """Recent jobs, newest first (jobs whose process died are marked failed first)."""
    engine = open_engine(ctx)
    _reap(ctx, engine)
    listed = jobs.list_jobs(engine, limit)
    if not listed:
        typer.echo("no jobs yet")
        return
    for job in listed:
        started = f"{job.started_at:%Y-%m-%d %H:%M:%S}" if job.started_at else "-"
        typer.echo(
            f"{job.id:>5}  {job.kind:<8} {job.status:<10} {started}  {job.version or '-':<24} {job.requested_by}"
        )


@jobs_app.command("show")
def jobs_show(
    ctx: typer.Context, job_id: int, as_json: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """One job: parameters, times, findings, result and log tail."""
    engine = open_engine(ctx)
    _reap(ctx, engine)
    try:
        job = jobs.get(engine, job_id)
    except jobs.JobError as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps({k: v for k, v in job.__dict__.items()}, default=str, indent=2))
        return
    typer.echo(f"job {job.id} ({job.kind}) {job.status}, requested by {job.requested_by}")
    typer.echo(f"  created {job.created_at}, started {job.started_at}, finished {job.finished_at}")
    typer.echo(f"  worker {job.worker}, version {job.version}")
    typer.echo(f"  params {json.dumps(job.params)}")
    for finding in job.findings or []:
        typer.echo(f"  check {finding['check']} ({finding['severity']}): {finding['message']}")
    typer.echo(f"  result {job.result}")
    if job.log_tail:
        typer.echo("  log:\n    " + job.log_tail.replace("\n", "\n    "))


def worker(
    ctx: typer.Context,
    once: Annotated[
        bool, typer.Option(help="Run queued jobs, then exit when none is left.")
    ] = False,
    poll_interval: Annotated[
        float, typer.Option(min=0.1, help="Seconds between queue polls.")
    ] = 5.0,
    refresh_every: Annotated[
        str | None,
        typer.Option(help="Also run `threatcast refresh` on the inbox this often, e.g. 6h."),
    ] = None,
    parent_pid: Annotated[
        int | None,
        typer.Option(hidden=True, help="Stop when this process is gone (`threatcast serve`)."),
    ] = None,
) -> None:
    """Take queued jobs and run them, one at a time (and refresh the inbox on a schedule)."""
    try:
        every = parse_every(refresh_every) if refresh_every else None
    except ValueError as exc:
        raise fail(f"--refresh-every: {exc}", 2) from None
    engine = open_engine(ctx)
    settings = settings_of(ctx)
    schedule = operations.WorkerSchedule(
        poll_interval_s=poll_interval, stale_after_s=settings.job_stale_after_s,
        refresh_every_s=every, once=once,
    )  # fmt: skip

    def refresh() -> None:
        try:
            run_refresh(ctx, engine)
        except typer.Exit:  # a busy inbox or a bad config: said, and tried again later
            log.warning("worker: refresh did not run; next in %g s", every)

    def finished(job: jobs.Job) -> None:
        typer.echo(f"job {job.id} {job.status}: {job.result}")

    stop = threading.Event()
    if parent_pid is not None:
        threading.Thread(target=_watch_parent, args=(parent_pid, stop), daemon=True).start()
    typer.echo(f"worker {jobs.worker_id()} polling every {poll_interval:g} s")
    operations.work(
        engine, installation_of(ctx), schedule, refresh=refresh, on_finished=finished, stop=stop
    )


def _watch_parent(parent_pid: int, stop: threading.Event) -> None:
    """A worker started by `threatcast serve` ends with it, even if the server was killed."""
    while not stop.wait(1.0):
        if os.getppid() != parent_pid:
            log.info("worker: the server (pid %d) is gone; stopping", parent_pid)
            stop.set()


def register(app: typer.Typer) -> None:
    app.command()(train)
    app.command()(retrain)
    app.command()(forecast)
    app.command()(worker)
    app.add_typer(models_app, name="models")
    app.add_typer(jobs_app, name="jobs")
