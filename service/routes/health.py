"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from sqlalchemy.exc import SQLAlchemyError

from features.store.db import schema_is_current
from service.dependencies import EngineDep
from service.schemas import HealthPublic, ReadinessPublic

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthPublic)
def healthz() -> HealthPublic:
    """The process is up."""
    return HealthPublic()


@router.get(
    "/readyz",
    response_model=ReadinessPublic,
    responses={503: {"model": ReadinessPublic, "description": "A check failed."}},
)
def readyz(engine: EngineDep, response: Response) -> ReadinessPublic:
    """The database answers and its schema is current."""
    try:
        database = (
            "ok" if schema_is_current(engine) else "schema out of date: run `threatcast db upgrade`"
        )
    except SQLAlchemyError as exc:
        database = f"unreachable: {type(exc).__name__}"
    ready = database == "ok"
    if not ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return ReadinessPublic(status="ready" if ready else "not ready", checks={"database": database})
