"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError

from events.periods import Frequency
from service.dependencies import EngineDep, ServerDep
from service.observability import HttpMetrics
from service.schemas import HealthPublic, ReadinessPublic
from store.db import schema_is_current

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
def readyz(engine: EngineDep, server: ServerDep, response: Response) -> ReadinessPublic:
    """The database answers, its schema is current, and a verified monthly champion is served."""
    try:
        database = (
            "ok" if schema_is_current(engine) else "schema out of date: run `threatcast db upgrade`"
        )
    except SQLAlchemyError as exc:
        database = f"unreachable: {type(exc).__name__}"
    champion = server.status(Frequency.MONTH)
    ready = database == "ok" and server.issue(Frequency.MONTH) is not None
    if not ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return ReadinessPublic(
        status="ready" if ready else "not ready",
        checks={"database": database, "champion": champion},
    )


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format."}
    },
)
def metrics(request: Request) -> Response:
    """Request counts and latencies, the champion's version and the current risk probabilities."""
    metrics: HttpMetrics = request.app.state.metrics
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
