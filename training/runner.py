"""Running training and retraining jobs: ingest, check, train, backtest, promotion gate."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine

from events.ingest import IngestError, ingest_file
from events.sources import ProgressLog, SourceFormatError
from training import issuing, jobs, registry
from training.artifacts import ArtifactError
from training.config import TrainingConfig
from training.issuing import Installation
from training.track_record import record_outcomes
from training.train import TrainingError, main_scores, new_version_id, train_version

log = logging.getLogger(__name__)
PromoteMode = Literal["never", "gate", "always"]
PROMOTE_MODES = ("never", "gate", "always")


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    reason: str


def promotion_gate(
    candidate: dict[str, Any], champion: registry.ModelVersion | None, config: TrainingConfig
) -> GateDecision:
    """Calibration within bound, and Brier no worse than the champion's beyond the tolerance."""
    scores = main_scores(candidate)
    brier, ece = float(scores["brier"]), float(scores["calibration_error"])
    if ece > config.gate_max_calibration_error:
        return GateDecision(
            False,
            f"calibration error {ece:.4f} is above the bound {config.gate_max_calibration_error}",
        )
    if champion is None:
        return GateDecision(
            True, f"no champion yet; Brier {brier:.4f}, calibration error {ece:.4f}"
        )
    best = float(main_scores(champion.metrics)["brier"])
    window = candidate["window"]
    note = (
        ""
        if champion.metrics.get("window") == window
        else f" (champion scored on {champion.metrics['window']['start']}..{champion.metrics['window']['end']},"
        f" candidate on {window['start']}..{window['end']})"
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
    engine: Engine, env: Installation, job: jobs.Job, actor: str, source: str | None
) -> tuple[str, str]:
    """Train the job's series (of `source`, the family of the file it ingested, when given)."""
    params = job.params
    config = TrainingConfig.model_validate(params.get("config", {}))
    if source is not None:
        config = TrainingConfig.model_validate({**config.model_dump(), "source": source})
    version = new_version_id(config.freq)
    jobs.set_version(engine, job.id, version)
    result = train_version(
        engine,
        config,
        artifact_root=env.artifact_root,
        secret=env.secret,
        as_of=params.get("as_of"),
        actor=actor,
        job_id=job.id,
        version=version,
        force=bool(params.get("force", False)),
    )
    jobs.record_findings(engine, job.id, [f.to_dict() for f in result.findings])
    scores = main_scores(result.version.metrics)
    summary = (
        f"registered {version} as a candidate: pooled Brier {scores['brier']:.4f}, "
        f"calibration error {scores['calibration_error']:.4f}"
    )
    if job.kind == "train":
        return version, summary
    mode: PromoteMode = params.get("promote", "gate")
    if mode == "never":
        return version, summary + "; not promoted (--promote never)"
    if mode == "always":
        issuing.promote(engine, env, version, actor, "retrain with --promote always")
        return version, summary + "; promoted to champion (--promote always)"
    judged_against = registry.champion(engine, config.series.key)
    decision = promotion_gate(result.version.metrics, judged_against, config)
    if not decision.passed:
        return version, summary + f"; stays a candidate: {decision.reason}"
    try:
        issuing.promote(
            engine, env, version, actor, f"promotion gate passed: {decision.reason}",
            replaces=judged_against.version if judged_against else None,
        )  # fmt: skip
    except registry.ChampionChanged as exc:  # promoted by hand or by another gate meanwhile
        return version, summary + f"; stays a candidate: {exc}"
    return version, summary + f"; promoted to champion: {decision.reason}"


def run_job(engine: Engine, env: Installation, job_id: int) -> jobs.Job:
    """Run a claimed (running) job to its end and record how it ended."""
    job = jobs.get(engine, job_id)
    actor = job.requested_by
    with jobs.heartbeat(engine, job.id) as tail:
        try:
            source = None
            if job.kind == "retrain" and "events" in job.params:
                path = Path(job.params["events"])
                try:
                    report = ingest_file(
                        engine,
                        path,
                        source=job.params.get("source", "auto"),
                        replace=bool(job.params.get("replace", False)),
                        progress=ProgressLog(log),
                    )
                finally:
                    if job.params.get("uploaded"):  # the job's own copy: stored or refused now
                        path.unlink(missing_ok=True)
                log.info(
                    "ingested %s: %d added, %d updated, %d missing now",
                    path.name,
                    report.added,
                    report.updated,
                    report.missing_now,
                )
                source = report.source
                record_outcomes(engine)
            _, summary = _train(engine, env, job, actor, source)
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
