"""The model registry over HTTP: versions, their manifests and metrics; promotion and rollback
queued as jobs for a worker, which loads the model (the web tier never does)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, status

from service.dependencies import (
    AdminDep,
    EngineDep,
    InstallationDep,
    PageDep,
    ReaderDep,
    SettingsDep,
)
from service.errors import ApiError, error_responses
from service.keys import ApiKey
from service.queries import chosen_series
from service.routes.jobs import job_public
from service.schemas import (
    JobPublic,
    ModelDetailPublic,
    ModelPublic,
    ModelsPublic,
    RollbackRequest,
    StatusChangePublic,
    StatusChangeRequest,
)
from training import jobs, registry
from training.job_params import PromoteParams, RollbackParams
from training.manifest import ArtifactError, read_manifest

router = APIRouter(prefix="/v1/models", tags=["models"])
_ERRORS = error_responses(401, 403, 404, 409)
VersionPath = Annotated[str, Path(max_length=64, examples=["m20261128T071112-fe39ed"])]


def _public(mv: registry.ModelVersion) -> ModelPublic:
    scores = mv.backtest
    return ModelPublic(
        version=mv.version,
        series=mv.series,
        freq=mv.freq,
        status=mv.status,
        created_at=mv.created_at,
        as_of=mv.as_of,
        brier=scores.brier if scores else None,
        calibration_error=scores.calibration_error if scores else None,
    )


def _get(engine: Any, version: str) -> registry.ModelVersion:
    try:
        return registry.get(engine, version)
    except registry.RegistryError as exc:
        raise ApiError(404, str(exc)) from None


@router.get("", response_model=ModelsPublic, responses=_ERRORS)
def list_models(
    engine: EngineDep,
    _: ReaderDep,
    page: PageDep,
    series: Annotated[str | None, Query(max_length=40, description="Only this series.")] = None,
) -> ModelsPublic:
    """Registered versions, newest first, a page at a time."""
    listed, total = registry.page_versions(engine, series, page.limit, page.offset)
    data = [_public(mv) for mv in listed]
    return ModelsPublic(data=data, **page.of(total, len(data)))


@router.get("/{version}", response_model=ModelDetailPublic, responses=_ERRORS)
def show_model(
    version: VersionPath, engine: EngineDep, installation: InstallationDep, _: ReaderDep
) -> ModelDetailPublic:
    """A version's verified manifest, backtest metrics and status history."""
    mv = _get(engine, version)
    manifest, problem = None, None
    try:
        manifest = read_manifest(
            installation.artifact_root / mv.artifact_dir,
            mv.manifest_hmac,
            installation.verifying_keys,
        ).body
    except ArtifactError as exc:
        problem = str(exc)
    history = [
        StatusChangePublic(
            from_status=c.from_status,
            to_status=c.to_status,
            actor=c.actor,
            reason=c.reason,
            changed_at=c.changed_at,
        )
        for c in registry.history(engine, version)
    ]
    return ModelDetailPublic(
        **_public(mv).model_dump(),
        manifest=manifest,
        manifest_problem=problem,
        metrics=mv.metrics,
        history=history,
    )


def _queued(response: Response, job_id: int, engine: Any, admin: ApiKey) -> JobPublic:
    """202: the worker runs the job (it loads the model and issues); follow it at Location."""
    response.headers["Location"] = f"/v1/training-jobs/{job_id}"
    return job_public(jobs.get(engine, job_id), admin)


@router.post(
    "/rollback",
    response_model=JobPublic,
    status_code=status.HTTP_202_ACCEPTED,
    responses=_ERRORS,
)
def rollback(
    body: RollbackRequest,
    response: Response,
    engine: EngineDep,
    admin: AdminDep,
    settings: SettingsDep,
) -> JobPublic:
    """Queue a return to the previous champion of a series (admin). A worker restores it and
    issues its forecasts; follow the job at the Location given. 409 when there is nothing to
    roll back to."""
    series = chosen_series(settings.default_series, body.series, None, None).key
    try:
        with engine.connect() as conn:
            registry.rollback_target(conn, series)
    except registry.RegistryError as exc:
        raise ApiError(409, str(exc)) from None
    params = RollbackParams(series=series, reason=body.reason)
    return _queued(response, jobs.enqueue(engine, params, admin.name), engine, admin)


@router.post(
    "/{version}/promote",
    response_model=JobPublic,
    status_code=status.HTTP_202_ACCEPTED,
    responses=_ERRORS,
)
def promote(
    version: VersionPath,
    body: StatusChangeRequest,
    response: Response,
    engine: EngineDep,
    installation: InstallationDep,
    admin: AdminDep,
) -> JobPublic:
    """Queue making a version its series' champion (admin). A worker verifies the model, issues
    its forecasts and retires the previous champion in one transaction; follow the job at the
    Location given. 409 at once for the champion itself or a manifest that does not verify."""
    mv = _get(engine, version)
    if mv.status == "champion":
        raise ApiError(409, f"{version} is already the {mv.series} champion")
    try:
        read_manifest(
            installation.artifact_root / mv.artifact_dir, mv.manifest_hmac,
            installation.verifying_keys,
        )  # fmt: skip
    except ArtifactError as exc:
        raise ApiError(409, str(exc)) from None
    params = PromoteParams(version=version, reason=body.reason)
    return _queued(response, jobs.enqueue(engine, params, admin.name), engine, admin)
