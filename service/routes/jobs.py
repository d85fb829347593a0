"""Training jobs over HTTP: enqueue a retrain (optionally with a new event file), follow it."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile, status
from fastapi import Path as PathParam

from events.ingest import IngestError, ingest_file
from events.periods import Frequency
from events.series import DETECT_SOURCE, FileSource
from events.sources import FileTooLarge, SourceFormatError
from service.dependencies import AdminDep, EngineDep, ReaderDep, SettingsDep
from service.errors import ApiError, error_responses
from service.keys import ApiKey
from service.schemas import JobPublic
from training import jobs
from training.config import TrainingConfig
from training.job_params import PromoteMode, RetrainParams, TrainParams

router = APIRouter(prefix="/v1/training-jobs", tags=["training jobs"])
_ERRORS = error_responses(
    401,
    403,
    404,
    described={
        400: "The uploaded event file is malformed.",
        413: "The upload is larger than the server accepts.",
    },
)
_CHUNK = 1 << 20
# The stored file is named by a random id and one of these suffixes, never by the client.
_SUFFIXES = (".csv.gz", ".csv", ".xlsx")


def job_public(job: jobs.Job, caller: ApiKey | None) -> JobPublic:
    """A job as `caller` may see it: who asked for it and what it found only with a key."""

    known = caller is not None
    return JobPublic(
        id=job.id,
        kind=job.kind,
        status=job.status,
        requested_by=job.requested_by if known else None,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        version=job.version,
        result=job.result if known else None,
        findings=job.findings if known else None,
    )


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"the upload is larger than {limit} bytes (THREATCAST_MAX_UPLOAD_BYTES)")


def _shown(name: str) -> str:
    """An uploaded file's name as errors repeat it: short, whatever the client sent."""
    return name if len(name) <= 80 else f"{name[:60]}...{name[-12:]}"


def _save(upload: UploadFile, directory: Path, limit: int) -> Path:
    name = upload.filename or "events.csv"
    lowered = name.lower()
    suffix = next((s for s in _SUFFIXES if lowered.endswith(s)), None)
    if suffix is None:
        raise ApiError(400, f"upload a .csv, .csv.gz or .xlsx event file, not {_shown(name)!r}")
    directory.mkdir(parents=True, exist_ok=True)
    # The original name, made safe, stays in the stored one: HDX files say what they count in it.
    stem = re.sub(r"[^A-Za-z0-9_-]", "_", name[: -len(suffix)])[:80]
    target = directory / f"{uuid.uuid4().hex}-{stem}{suffix}"
    written = 0
    with target.open("wb") as out:
        while chunk := upload.file.read(_CHUNK):
            written += len(chunk)
            if written > limit:
                out.close()
                target.unlink(missing_ok=True)
                raise _too_large(limit)
            out.write(chunk)
    return target


@router.post("", response_model=JobPublic, status_code=status.HTTP_202_ACCEPTED, responses=_ERRORS)
def create_job(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    admin: AdminDep,
    events: Annotated[
        UploadFile | None,
        File(description="New data file: events or aggregated counts (CSV, CSV.gz or .xlsx)."),
    ] = None,
    source: Annotated[FileSource, Form()] = DETECT_SOURCE,
    promote: Annotated[PromoteMode, Form()] = "gate",
    freq: Annotated[Frequency, Form()] = Frequency.MONTH,
    replace: Annotated[
        bool,
        Form(
            description="Apply the file even if it removes more of the stored data it is "
            "authoritative for than THREATCAST_MAX_REMOVED_SHARE allows."
        ),
    ] = False,
) -> JobPublic:
    """Queue a retraining job (admin). With a data file (events or aggregated counts), it is
    validated now and ingested by the job, which then retrains the series of the file's source
    through the promotion gate; a malformed file is refused with the ingestion error and nothing
    is stored. Without one, the job retrains the `source` (default ucdp) series."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > settings.max_upload_bytes:
        raise _too_large(settings.max_upload_bytes)
    family = {} if source == "auto" else {"source": source}
    config = TrainingConfig(freq=freq, **family)
    if events is None:
        job_id = jobs.enqueue(engine, TrainParams(config=config), admin.name)
        return job_public(jobs.get(engine, job_id), admin)
    path = _save(events, settings.home / "uploads", settings.max_upload_bytes)
    shown = _shown(events.filename or path.name)
    try:
        ingest_file(
            engine, path, source=source, dry_run=True, replace=replace,
            limits=settings.file_limits, max_removed_share=settings.max_removed_share,
        )  # fmt: skip
    except FileTooLarge as exc:
        path.unlink(missing_ok=True)
        raise ApiError(413, f"{shown}: {exc}") from None
    except (IngestError, SourceFormatError, ValueError) as exc:
        path.unlink(missing_ok=True)
        raise ApiError(400, f"{shown}: {exc}") from None
    except Exception as exc:  # whatever a damaged file raises: a 400, and the upload removed
        path.unlink(missing_ok=True)
        detail = exc.strerror if isinstance(exc, OSError) else type(exc).__name__
        raise ApiError(400, f"{shown}: the file could not be read ({detail})") from None
    params = RetrainParams(
        events=str(path.resolve()), source=source, config=config, promote=promote,
        uploaded=True, replace=replace,
    )  # fmt: skip
    job_id = jobs.enqueue(engine, params, admin.name)
    return job_public(jobs.get(engine, job_id), admin)


@router.get("/{job_id}", response_model=JobPublic, responses=_ERRORS)
def show_job(
    job_id: Annotated[int, PathParam(ge=1, le=2**31 - 1)], engine: EngineDep, caller: ReaderDep
) -> JobPublic:
    """A job's status and times; with a key, also who asked for it, its input-check findings
    and its result."""
    try:
        return job_public(jobs.get(engine, job_id), caller)
    except jobs.JobError as exc:
        raise ApiError(404, str(exc)) from None
