"""The model registry over HTTP: versions, their manifests and metrics, promotion, rollback."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from service.dependencies import (
    AdminDep,
    EngineDep,
    InstallationDep,
    PageDep,
    ReaderDep,
    ServerDep,
    SettingsDep,
)
from service.errors import ApiError, ErrorPublic
from service.routes.forecasts import chosen_series
from service.schemas import (
    ModelDetailPublic,
    ModelPublic,
    ModelsPublic,
    RollbackRequest,
    StatusChangePublic,
    StatusChangeRequest,
)
from training import issuing, registry
from training.artifacts import ArtifactError, read_manifest
from training.train import main_scores

router = APIRouter(prefix="/v1/models", tags=["models"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorPublic},
    403: {"model": ErrorPublic},
    404: {"model": ErrorPublic},
    409: {"model": ErrorPublic},
}
VersionPath = Annotated[str, Path(max_length=64, examples=["m20261128T071112-fe39ed"])]


def _public(mv: registry.ModelVersion) -> ModelPublic:
    scores = main_scores(mv.metrics) if "models" in mv.metrics else {}
    return ModelPublic(
        version=mv.version,
        series=mv.series,
        freq=mv.freq,
        status=mv.status,
        created_at=mv.created_at.isoformat(),
        as_of=mv.as_of,
        brier=scores.get("brier"),
        calibration_error=scores.get("calibration_error"),
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
        )
    except ArtifactError as exc:
        problem = str(exc)
    history = [
        StatusChangePublic(
            from_status=c.from_status,
            to_status=c.to_status,
            actor=c.actor,
            reason=c.reason,
            changed_at=c.changed_at.isoformat(),
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


@router.post("/rollback", response_model=ModelPublic, responses=_ERRORS)
def rollback(
    body: RollbackRequest,
    engine: EngineDep,
    server: ServerDep,
    installation: InstallationDep,
    admin: AdminDep,
    settings: SettingsDep,
) -> ModelPublic:
    """Return to the previous champion of a series and issue its forecasts (admin)."""
    series = chosen_series(settings, body.series, None, None).key
    try:
        mv = issuing.rollback(engine, installation, series, admin.name, body.reason)
    except (registry.RegistryError, ArtifactError, ValueError) as exc:
        raise ApiError(409, str(exc)) from None
    server.refresh()
    return _public(mv)


@router.post("/{version}/promote", response_model=ModelPublic, responses=_ERRORS)
def promote(
    version: VersionPath,
    body: StatusChangeRequest,
    engine: EngineDep,
    server: ServerDep,
    installation: InstallationDep,
    admin: AdminDep,
) -> ModelPublic:
    """Make a version its series' champion and issue its forecasts, once, in this request
    (admin); the previous champion is retired. A version that does not verify is refused."""
    _get(engine, version)
    try:
        mv = issuing.promote(engine, installation, version, admin.name, body.reason)
    except (registry.RegistryError, ArtifactError, ValueError) as exc:
        raise ApiError(409, str(exc)) from None
    server.refresh()
    return _public(mv)
