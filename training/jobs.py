"""Jobs recorded in the database: queued -> running -> succeeded | failed.

A running job's process beats a heartbeat (and its log tail) into its row; a job whose
process is gone, or whose heartbeat stopped, is marked failed by `reap_dead`, and anything
it left of its model version is removed.
"""

from __future__ import annotations

import collections
import logging
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Engine,
    Integer,
    RowMapping,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)

from store.db import as_utc, write_transaction
from store.metadata import metadata
from training.job_params import JobParams, parse_params, stored_params
from training.manifest import discard
from training.registry import registered_versions

jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("params", JSON, nullable=False),
    Column("requested_by", String(120), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("heartbeat_at", DateTime(timezone=True), nullable=True),
    Column("worker", String(120), nullable=True),
    Column("version", String(64), nullable=True),
    Column("findings", JSON, nullable=True),
    Column("result", Text, nullable=True),
    Column("log_tail", Text, nullable=True),
)

log = logging.getLogger(__name__)
JOB_STATUSES = ("queued", "running", "succeeded", "failed")
LOG_TAIL_LINES = 40
HEARTBEAT_S = 5.0


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    status: str
    params: dict[str, Any]
    requested_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    worker: str | None
    version: str | None
    findings: list[dict[str, str]] | None
    result: str | None
    log_tail: str | None

    def parameters(self) -> JobParams:
        """The job's parameters, typed by its kind (JobError if the stored ones do not fit)."""
        try:
            return parse_params(self.kind, self.params)
        except ValueError as exc:
            raise JobError(f"job {self.id}: {exc}") from None


class JobError(Exception):
    """An unknown job, or a request the queue cannot take."""


def _now() -> datetime:
    return datetime.now(UTC)


def _job(row: RowMapping) -> Job:
    values = dict(row)
    for key in ("created_at", "started_at", "finished_at", "heartbeat_at"):
        values[key] = as_utc(values[key])
    return Job(**values)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _insert(engine: Engine, params: JobParams, requested_by: str, **state: Any) -> int:
    with write_transaction(engine) as conn:
        result = conn.execute(
            insert(jobs).values(
                kind=params.kind, params=stored_params(params), requested_by=requested_by, **state
            )
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]


def enqueue(engine: Engine, params: JobParams, requested_by: str) -> int:
    """A job for `threatcast worker` to take."""
    return _insert(engine, params, requested_by, status="queued", created_at=_now())


def start_inline(engine: Engine, params: JobParams, requested_by: str) -> int:
    """A job run by the process that asked for it (the CLI), recorded as running at once."""
    now = _now()
    return _insert(
        engine, params, requested_by, status="running", created_at=now, started_at=now,
        heartbeat_at=now, worker=worker_id(),
    )  # fmt: skip


def claim_next(engine: Engine) -> Job | None:
    """Take the oldest queued job; the write lock makes two workers take different jobs."""
    queued = select(jobs.c.id).where(jobs.c.status == "queued").limit(1)
    with engine.connect() as conn:  # an idle worker's poll reads; it takes no lock
        if conn.execute(queued).first() is None:
            return None
    with write_transaction(engine) as conn:
        row = conn.execute(
            select(jobs.c.id).where(jobs.c.status == "queued").order_by(jobs.c.id).limit(1)
        ).first()
        if row is None:
            return None
        now = _now()
        conn.execute(
            update(jobs)
            .where(jobs.c.id == row.id)
            .values(status="running", started_at=now, heartbeat_at=now, worker=worker_id())
        )
    return get(engine, row.id)


def get(engine: Engine, job_id: int) -> Job:
    with engine.connect() as conn:
        row = conn.execute(select(jobs).where(jobs.c.id == job_id)).mappings().first()
    if row is None:
        raise JobError(f"no job {job_id}; see `threatcast jobs list`")
    return _job(row)


def list_jobs(engine: Engine, limit: int = 50) -> list[Job]:
    with engine.connect() as conn:
        rows = conn.execute(select(jobs).order_by(jobs.c.id.desc()).limit(limit)).mappings()
        return [_job(row) for row in rows]


def _update(engine: Engine, job_id: int, **values: Any) -> None:
    with write_transaction(engine) as conn:
        conn.execute(update(jobs).where(jobs.c.id == job_id).values(**values))


def set_version(engine: Engine, job_id: int, version: str) -> None:
    _update(engine, job_id, version=version)


def record_findings(engine: Engine, job_id: int, findings: list[dict[str, str]]) -> None:
    _update(engine, job_id, findings=findings)


def finish(
    engine: Engine,
    job_id: int,
    status: str,
    *,
    result: str,
    findings: list[dict[str, str]] | None = None,
    log_tail: str | None = None,
) -> None:
    if status not in {"succeeded", "failed"}:
        raise JobError(f"a job finishes as succeeded or failed, not {status!r}")
    values: dict[str, Any] = {"status": status, "finished_at": _now(), "result": result}
    if findings is not None:
        values["findings"] = findings
    if log_tail is not None:
        values["log_tail"] = log_tail
    _update(engine, job_id, **values)


def _process_gone(worker: str | None) -> bool:
    if not worker or ":" not in worker:
        return False
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine: only its heartbeat can tell
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def reap_dead(engine: Engine, stale_after_s: float, artifact_root: Path) -> list[int]:
    """Mark failed every running job whose process died; remove its unregistered artifact."""
    cutoff = _now() - timedelta(seconds=stale_after_s)
    reaped = []
    with engine.connect() as conn:
        running = [
            _job(r) for r in conn.execute(select(jobs).where(jobs.c.status == "running")).mappings()
        ]
    for job in running:
        silent = job.heartbeat_at is None or job.heartbeat_at < cutoff
        if not (silent or _process_gone(job.worker)):
            continue
        reason = (
            f"worker {job.worker} died" if not silent else f"no heartbeat since {job.heartbeat_at}"
        )
        with write_transaction(engine) as conn:
            marked = conn.execute(
                update(jobs)
                .where(jobs.c.id == job.id, jobs.c.status == "running")
                .values(status="failed", finished_at=_now(), result=f"{reason}; marked failed")
            ).rowcount
        if marked and job.version and job.version not in registered_versions(engine):
            removed = discard(artifact_root, job.version)
            if removed:
                log.info("job %d: removed unfinished artifact %s", job.id, ", ".join(removed))
        if marked:
            log.warning("job %d: %s; marked failed", job.id, reason)
            reaped.append(job.id)
    return reaped


class _TailHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: collections.deque[str] = collections.deque(maxlen=LOG_TAIL_LINES)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def text(self) -> str:
        return "\n".join(self.lines)


@contextmanager
def heartbeat(
    engine: Engine, job_id: int, interval_s: float = HEARTBEAT_S
) -> Iterator[_TailHandler]:
    """Beat the job's heartbeat and copy the log tail into its row while the block runs."""
    tail = _TailHandler()
    root = logging.getLogger()
    # The job's own record wants its INFO progress even where the console shows less.
    saved_level = root.level
    root.setLevel(min(saved_level or logging.WARNING, logging.INFO))
    root.addHandler(tail)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(interval_s):
            try:
                _update(engine, job_id, heartbeat_at=_now(), log_tail=tail.text())
            except Exception:  # a missed beat is not worth killing the job for
                log.exception("job %d: heartbeat failed", job_id)

    thread = threading.Thread(target=beat, name=f"job-{job_id}-heartbeat", daemon=True)
    thread.start()
    try:
        yield tail
    finally:
        stop.set()
        thread.join()
        root.removeHandler(tail)
        root.setLevel(saved_level)
