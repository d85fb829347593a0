"""Running training and retraining jobs: ingest, check, train, backtest, promotion gate."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from events.ingest import IngestError
from events.sources import ProgressLog, SourceFormatError
from training import issuing, jobs, registry
from training.config import TrainingConfig
from training.ingesting import ingest_and_record
from training.installation import Installation
from training.job_params import PromoteParams, RetrainParams, RollbackParams, TrainParams
from training.manifest import ArtifactError
from training.scorecard import BacktestMetrics
from training.train import TrainingError, new_version_id, train_version

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    reason: str


def promotion_gate(
    candidate: BacktestMetrics, champion: registry.ModelVersion | None, config: TrainingConfig
) -> GateDecision:
    """Calibration within bound, and Brier no worse than the champion's beyond the tolerance."""
    brier, ece = candidate.brier, candidate.calibration_error
    if ece > config.gate_max_calibration_error:
        return GateDecision(
            False,
            f"calibration error {ece:.4f} is above the bound {config.gate_max_calibration_error}",
        )
    if champion is None:
        return GateDecision(
            True, f"no champion yet; Brier {brier:.4f}, calibration error {ece:.4f}"
        )
    judged = champion.backtest
    if judged is None:
        return GateDecision(True, f"champion {champion.version} was never backtested")
    best = judged.brier
    window = candidate.window
    note = (
        ""
        if judged.window == window
        else f" (champion scored on {judged.window}, candidate on {window})"
    )
    if brier > best + config.gate_brier_tolerance:
        return GateDecision(
            False,
            f"Brier {brier:.4f} is worse than champion {champion.version}'s {best:.4f} by more "
            f"than the tolerance {config.gate_brier_tolerance}{note}",
        )
    return GateDecision(
        True,
        f"Brier {brier:.4f} against champion {champion.version}'s {best:.4f} "
        f"(tolerance {config.gate_brier_tolerance}), calibration error {ece:.4f}{note}",
    )


def _train(
    engine: Engine,
    env: Installation,
    job: jobs.Job,
    params: TrainParams | RetrainParams,
    source: str | None,
) -> str:
    """Train the job's series (of `source`, the family of the file it ingested, when given)."""
    actor = job.requested_by
    config = params.config
    if source is not None:
        config = TrainingConfig.model_validate({**config.model_dump(), "source": source})
    version = new_version_id(config.freq)
    jobs.set_version(engine, job.id, version)
    result = train_version(
        engine,
        config,
        artifact_root=env.artifact_root,
        secret=env.secret,
        as_of=params.as_of,
        actor=actor,
        job_id=job.id,
        version=version,
        force=params.force,
    )
    jobs.record_findings(engine, job.id, [f.to_dict() for f in result.findings])
    scores = BacktestMetrics.from_json(result.version.metrics)
    summary = (
        f"registered {version} as a candidate: pooled Brier {scores.brier:.4f}, "
        f"calibration error {scores.calibration_error:.4f}"
    )
    if isinstance(params, TrainParams):
        return summary
    if params.promote == "never":
        return summary + "; not promoted (--promote never)"
    if params.promote == "always":
        issuing.promote(
            engine, env, version, actor, "retrain with --promote always", panel=result.panel
        )
        return summary + "; promoted to champion (--promote always)"
    judged_against = registry.champion(engine, config.series.key)
    decision = promotion_gate(scores, judged_against, config)
    if not decision.passed:
        return summary + f"; stays a candidate: {decision.reason}"
    try:
        issuing.promote(
            engine, env, version, actor, f"promotion gate passed: {decision.reason}",
            replaces=judged_against.version if judged_against else None, panel=result.panel,
        )  # fmt: skip
    except registry.ChampionChanged as exc:  # promoted by hand or by another gate meanwhile
        return summary + f"; stays a candidate: {exc}"
    return summary + f"; promoted to champion: {decision.reason}"


def _retrain(engine: Engine, env: Installation, job: jobs.Job, params: RetrainParams) -> str:
    source = None
    if params.events is not None:
        path = Path(params.events)
        try:
            ingested = ingest_and_record(
                engine, path, source=params.source, replace=params.replace,
                progress=ProgressLog(log),
            )  # fmt: skip
        finally:
            if params.uploaded:  # the job's own copy: stored or refused now
                path.unlink(missing_ok=True)
        source = ingested.report.source  # ingest_file has logged what the file changed
    return _train(engine, env, job, params, source)


def _promote(engine: Engine, env: Installation, job: jobs.Job, params: PromoteParams) -> str:
    promoted = issuing.promote(engine, env, params.version, job.requested_by, params.reason)
    jobs.set_version(engine, job.id, promoted.version)
    return f"{promoted.version} is the {promoted.series} champion; its forecasts are issued"


def _rollback(engine: Engine, env: Installation, job: jobs.Job, params: RollbackParams) -> str:
    restored = issuing.rollback(engine, env, params.series, job.requested_by, params.reason)
    jobs.set_version(engine, job.id, restored.version)
    return f"rolled {params.series} back to {restored.version}; its forecasts are issued"


def _run(engine: Engine, env: Installation, job: jobs.Job) -> str:
    params = job.parameters()
    if isinstance(params, TrainParams):
        return _train(engine, env, job, params, None)
    if isinstance(params, RetrainParams):
        return _retrain(engine, env, job, params)
    if isinstance(params, PromoteParams):
        return _promote(engine, env, job, params)
    return _rollback(engine, env, job, params)


def run_job(engine: Engine, env: Installation, job_id: int) -> jobs.Job:
    """Run a claimed (running) job to its end and record how it ended."""
    job = jobs.get(engine, job_id)
    with jobs.heartbeat(engine, job.id) as tail:
        try:
            summary = _run(engine, env, job)
        except TrainingError as exc:
            log.error("job %d failed: %s", job.id, exc)
            jobs.finish(
                engine,
                job.id,
                "failed",
                result=str(exc),
                findings=[f.to_dict() for f in exc.findings],
                log_tail=tail.text(),
            )
        except (
            IngestError,
            SourceFormatError,
            registry.RegistryError,
            ArtifactError,
            jobs.JobError,
            ValueError,
            OSError,
        ) as exc:
            log.error("job %d failed: %s", job.id, exc)
            jobs.finish(engine, job.id, "failed", result=str(exc), log_tail=tail.text())
        except Exception as exc:  # one job's crash is recorded; the worker takes the next
            log.exception("job %d crashed", job.id)
            result = f"crashed: {type(exc).__name__}: {exc}"[:2000]
            jobs.finish(engine, job.id, "failed", result=result, log_tail=tail.text())
        except BaseException:  # interrupted (^C, SystemExit): recorded, then passed on
            jobs.finish(engine, job.id, "failed", result="interrupted", log_tail=tail.text())
            raise
        else:
            log.info("job %d: %s", job.id, summary)
            jobs.finish(engine, job.id, "succeeded", result=summary, log_tail=tail.text())
    return jobs.get(engine, job.id)
