"""The training job: check the inputs, fit, backtest, write a signed artifact, register it."""

from __future__ import annotations

import logging
import math
import secrets
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from events.cross_border import ACROSS_COLUMN
from events.gaps import describe_gap, last_complete_origin, window_gaps
from events.gazetteer import Gazetteer, default_resolver
from events.inventory import inventory
from events.panel import build_panel, has_counts
from events.periods import YEAR, Frequency, cadence, period_end, period_start, shift_period
from events.series import Series
from features.specs import FeatureSpec, default_spec
from models.catalog import make_forecaster
from training import registry
from training.artifacts import library_versions, write_artifact
from training.backtest import MIN_HISTORY, BacktestRequest, run_backtest
from training.checks import Finding, input_checks, severe
from training.config import TrainingConfig
from training.manifest import discard
from training.metrics import reliability_table, score_backtest
from training.scorecard import BacktestMetrics

log = logging.getLogger(__name__)
REFERENCE_MODEL = "climatology"


class TrainingError(Exception):
    """Training cannot proceed; `findings` holds the input checks when they were the reason."""

    def __init__(self, message: str, findings: list[Finding] | None = None) -> None:
        super().__init__(message)
        self.findings = findings or []


@dataclass(frozen=True)
class TrainingResult:
    version: registry.ModelVersion
    manifest: dict[str, Any]
    findings: list[Finding] = field(default_factory=list)
    # The series' whole panel as training found it: promoting right after reuses it.
    panel: pd.DataFrame | None = None


def new_version_id(freq: str) -> str:
    """Sortable by creation time, unique across concurrent jobs: 'm20261128T071203-a1b2c3'."""
    return f"{freq[0]}{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def _git_commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def _package_version() -> str | None:
    try:
        return metadata.version("threatcast")
    except metadata.PackageNotFoundError:
        return None


def _gazetteer(country: str) -> Gazetteer:
    gazetteer = default_resolver().gazetteers.get(country)
    if gazetteer is None:
        raise TrainingError(
            f"no country definition for {country!r}; add one with `threatcast countries add`"
        )
    return gazetteer


def _json_number(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def series_spec(engine: Engine, config: TrainingConfig) -> FeatureSpec:
    """The default features of the config's series; aggregated counts name no actors, so a
    series built from them has no actor-group features."""
    groups = () if has_counts(engine, config.series) else None
    return default_spec(
        _gazetteer(config.country),
        config.freq,
        config.severe_threshold,
        groups=groups,
        cross_border=config.cross_border,
        level=config.level,
    )


def backtest_metrics(
    panel: pd.DataFrame,
    config: TrainingConfig,
    as_of: str,
    spec: FeatureSpec,
    progress_log: bool = True,
    scored: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The standard backtest: the last `backtest_origins` origins before the cutoff, or as many
    as the series' history allows (a series that starts later, such as ACLED's Afghanistan in
    2017), but never fewer than a year of origins."""
    end = shift_period(as_of, -1, config.freq)
    origins = _backtest_origins(panel, config, end)
    start = shift_period(end, -(origins - 1), config.freq)
    log.info("the standard backtest: %d origins, %s to %s", origins, start, end)
    request = BacktestRequest(
        freq=config.freq,
        start=start,
        end=end,
        horizons=config.backtest_horizons,
        models=(config.model, REFERENCE_MODEL),
        n_jobs=config.n_jobs,
    )
    results = run_backtest(
        panel,
        request,
        spec,
        progress=(lambda d, t: log.info("backtest: %d/%d origins", d, t)) if progress_log else None,
    )
    if scored is not None:  # a pooled model is judged on its own country's units only
        results = results[results["region"].isin(scored)]
    table = score_backtest(results, severe_threshold=config.severe_threshold)
    models: dict[str, dict[str, dict[str, Any]]] = {}
    for row in table.to_dict(orient="records"):
        scores = {str(k): _json_number(v) for k, v in row.items() if k not in {"model", "horizon"}}
        models.setdefault(str(row["model"]), {})[str(row["horizon"])] = scores
    main = results[(results["model"] == config.model)].dropna(subset=["observed_events"])
    reliability = reliability_table(
        main["p_event"].to_numpy(), (main["observed_events"].to_numpy() > 0).astype(float)
    )
    return {
        "window": {"start": start, "end": end, "horizons": list(request.horizons)},
        "main_model": config.model,
        "models": models,
        "reliability": reliability.to_dict(orient="records"),
    }


def pooled_panel(
    engine: Engine, config: TrainingConfig, panel: pd.DataFrame, cutoff_day: date
) -> pd.DataFrame:
    """The series' panel with the units of the countries it pools with (same source and
    frequency, the same periods); they must carry the same columns (actor groups)."""
    if not config.pool_with:
        return panel
    first, last = panel["period"].min(), panel["period"].max()
    parts = [panel]
    for country in config.pool_with:
        if country == config.country:
            continue
        other = Series(country, config.source, config.freq)
        try:
            frame = build_panel(engine, other, as_of=cutoff_day)
        except ValueError as exc:
            raise TrainingError(f"cannot pool with {other.key}: {exc}") from None
        differ = (set(frame.columns) ^ set(panel.columns)) - {ACROSS_COLUMN}
        if differ:
            raise TrainingError(
                f"cannot pool with {other.key}: its panel's columns differ ({sorted(differ)}); "
                "countries that track different actor groups pool only on aggregated counts"
            )
        parts.append(frame[(frame["period"] >= first) & (frame["period"] <= last)])
    return pd.concat(parts, ignore_index=True)


def _backtest_origins(panel: pd.DataFrame, config: TrainingConfig, end: str) -> int:
    periods = sorted(panel["period"].unique())
    history = periods.index(end) + 1 if end in periods else 0
    usable = history - MIN_HISTORY.of(config.freq)
    floor = min(config.backtest_origins, YEAR.of(config.freq))
    if usable < floor:
        raise ValueError(
            f"the series has {history} periods to {end}; a backtest of {floor} origins needs "
            f"{MIN_HISTORY.of(config.freq) + floor} (a config with backtest_origins = "
            f"{max(usable, 1)} judges it on fewer)"
        )
    if usable < config.backtest_origins:
        log.warning(
            "the series is short: the standard backtest runs %d origins, not %d",
            usable,
            config.backtest_origins,
        )
    return min(usable, config.backtest_origins)


def _last_usable(panel: pd.DataFrame, freq: Frequency) -> str | None:
    try:
        return last_complete_origin(panel, freq)
    except ValueError:
        return None


def train_version(
    engine: Engine,
    config: TrainingConfig,
    *,
    artifact_root: Path,
    secret: str,
    as_of: str | None = None,
    actor: str = "cli",
    job_id: int | None = None,
    version: str | None = None,
    force: bool = False,
) -> TrainingResult:
    """Fit the configured model on its series' data up to `as_of` (default: the last covered
    period) and register it as a candidate."""
    freq, series = config.freq, config.series
    _gazetteer(config.country)
    try:
        full = build_panel(engine, series)
    except ValueError as exc:
        raise TrainingError(str(exc)) from None
    cutoff = as_of or str(full["period"].max())
    try:
        period_start(cutoff, freq)
    except ValueError as exc:
        raise TrainingError(str(exc)) from None
    gaps = window_gaps(full, cutoff, freq)
    if gaps:
        usable = _last_usable(full[full["period"] <= cutoff], freq)
        raise TrainingError(
            f"series {series.key} has no data for {describe_gap(full, cutoff, freq)}, within the "
            f"{YEAR.of(freq)} {cadence(freq).unit}s before {cutoff}: a missing "
            "period is not a quiet one. Ingest data that covers the gap, or train up to "
            + (f"{usable} (--as-of {usable})" if usable else "a period before it (--as-of)")
        )
    cutoff_day = period_end(cutoff, freq)
    # With no cutoff asked, the whole panel is the one to train on: nothing in it started after
    # the end of its last period (tests/test_panel.py checks the two are equal).
    panel = full if as_of is None else build_panel(engine, series, end=cutoff, as_of=cutoff_day)
    inv = inventory(engine, series, cutoff_day)
    findings = input_checks(inv, panel, freq, cutoff)
    for finding in findings:
        log.log(
            logging.WARNING if finding.severity != "info" else logging.INFO,
            "input check %s (%s): %s",
            finding.check,
            finding.severity,
            finding.message,
        )
    if severe(findings) and not force:
        raise TrainingError(
            "input checks failed: "
            + "; ".join(f.message for f in severe(findings))
            + " (use --force to train anyway)",
            findings,
        )
    version = version or new_version_id(freq)
    spec = series_spec(engine, config)
    log.info(
        "training %s on %s: %s on %d periods to %s",
        version,
        series.key,
        config.model,
        panel["period"].nunique(),
        cutoff,
    )
    learned = pooled_panel(engine, config, panel, cutoff_day)
    forecaster = make_forecaster(
        config.model, spec, config.horizons, seed=config.seed, version=version, n_jobs=config.n_jobs
    ).fit(learned)
    own = sorted(panel["region"].unique())
    try:
        metrics = backtest_metrics(learned, config, cutoff, spec, scored=own)
    except ValueError as exc:
        raise TrainingError(f"the standard backtest cannot run: {exc}", findings) from None
    manifest = {
        "created_at": datetime.now(UTC).isoformat(),
        "series": series.key,
        "freq": freq,
        "as_of": cutoff,
        "data": {
            "fingerprint": inv.fingerprint,
            "events": inv.events,
            "newest_event": inv.newest_event.isoformat() if inv.newest_event else None,
        },
        "config": config.model_dump(mode="json"),
        "feature_spec": asdict(spec),
        "package_version": _package_version(),
        "git_commit": _git_commit(),
        "libraries": library_versions(),
        "metrics": metrics,
        "input_checks": [f.to_dict() for f in findings],
    }
    written = write_artifact(artifact_root, version, forecaster, manifest, secret)
    try:
        registered = registry.register(
            engine,
            version=version,
            series=series.key,
            freq=freq,
            as_of=cutoff,
            artifact_dir=written.directory.name,
            sha256=written.sha256,
            manifest_hmac=written.manifest_hmac,
            metrics=metrics,
            actor=actor,
            job_id=job_id,
        )
    except BaseException:
        discard(artifact_root, version)
        raise
    log.info(
        "registered %s as a candidate (pooled Brier %.4f)",
        version,
        BacktestMetrics.from_json(metrics).brier,
    )
    return TrainingResult(registered, written.manifest, findings, full)
