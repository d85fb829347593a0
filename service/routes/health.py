"""Liveness and readiness probes."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response, status
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from service.dependencies import (
    EngineDep,
    InstallationDep,
    ServerDep,
    SettingsDep,
    reader_check,
)
from service.freshness import freshness
from service.guard import bearer_token
from service.observability import HttpMetrics
from service.schemas import HealthPublic, ReadinessPublic
from service.serving import IssueServer
from service.settings import Settings
from store.db import schema_state
from training import registry
from training.installation import Installation
from training.manifest import ArtifactError, read_manifest

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthPublic)
async def healthz() -> HealthPublic:
    """The process is up."""
    return HealthPublic()


@router.get(
    "/readyz",
    response_model=ReadinessPublic,
    responses={503: {"model": ReadinessPublic, "description": "A check failed."}},
)
def readyz(
    engine: EngineDep,
    server: ServerDep,
    settings: SettingsDep,
    installation: InstallationDep,
    response: Response,
) -> ReadinessPublic:
    """The database answers, its schema is current, and the default series' champion's
    forecasts are served. `artifact` says whether the champion still verifies with the current
    keys: serving does not need it, issuing its next forecasts does. `data` names every stale
    series: stale is not down, the status stays ready."""
    database = str(server.checks.get("database", lambda: _database_check(engine)))
    default = settings.default_series
    issue = server.issue(default)
    ready = database == "ok" and issue is not None
    if not ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    checks = {"database": database, "champion": server.status(default)}
    if issue is not None:
        checks["artifact"] = str(
            server.checks.get(
                ("artifact", issue.version),
                lambda: _artifact_check(engine, installation, issue.version),
            )
        )
    checks["data"] = _data_check(server, settings.stale_after_days)
    return ReadinessPublic(status="ready" if ready else "not ready", checks=checks)


def _database_check(engine: Engine) -> str:
    try:
        state = schema_state(engine)
    except SQLAlchemyError as exc:
        return f"unreachable: {type(exc).__name__}"
    return (
        "ok" if state in {"current", "ahead"} else "schema out of date: run `threatcast db upgrade`"
    )


def _data_check(server: IssueServer, limit_days: int) -> str:
    """Each served series' freshness, stale ones first and named."""
    served = server.served()
    if not served:
        return "no series is served yet"
    described = {key: freshness(issue, limit_days) for key, issue in sorted(served.items())}
    stale = [key for key, fresh in described.items() if fresh.stale]
    lines = [f"{key} {fresh.describe(limit_days)}" for key, fresh in described.items()]
    head = f"stale series: {', '.join(stale)}" if stale else "every served series is fresh"
    return "; ".join([head, *lines])


def _artifact_check(engine: Engine, installation: Installation, version: str) -> str:
    try:
        record = registry.get(engine, version)
        read_manifest(
            installation.artifact_root / record.artifact_dir,
            record.manifest_hmac,
            installation.verifying_keys,
        )
    except (ArtifactError, registry.RegistryError, SQLAlchemyError):
        return (
            f"{version} does not verify with the current keys: its issued forecasts are served, "
            "but new ones need its old key in THREATCAST_PREVIOUS_SECRET_KEYS and "
            "`threatcast models resign`"
        )
    return "ok"


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format."}
    },
)
def metrics(request: Request) -> Response:
    """Request counts and latencies, the champion's version and the current risk probabilities.
    Readable by whoever may read forecasts: with THREATCAST_PUBLIC_FORECASTS=false, a reader key
    or the scrape token (THREATCAST_METRICS_TOKEN) is needed."""
    settings: Settings = request.app.state.settings
    token = bearer_token(request.headers)
    scrape = settings.metrics_token
    if not (
        settings.public_forecasts
        or (scrape is not None and token and hmac.compare_digest(token, scrape.get_secret_value()))
    ):
        reader_check(request)
    metrics: HttpMetrics = request.app.state.metrics
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
