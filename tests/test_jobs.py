"""Training jobs as users run them: the CLI, the worker, killed and concurrent jobs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, insert, update
from typer.testing import CliRunner

from service.cli import app
from service.settings import get_settings
from store.db import make_engine, write_transaction
from tests.conftest import SMALL_TRAINING
from training import issued, jobs, registry
from training.config import TrainingConfig
from training.installation import Installation
from training.issuing import load_version
from training.job_params import RetrainParams, TrainParams
from training.jobs import jobs as jobs_table

SECRET = "a-test-secret-that-is-long-enough-1234"


@pytest.fixture
def home(recent_home: Path) -> Iterator[Path]:
    (recent_home / "small.json").write_text(json.dumps(SMALL_TRAINING))
    get_settings.cache_clear()
    yield recent_home
    get_settings.cache_clear()


def _env(home: Path) -> dict[str, str]:
    return {
        "THREATCAST_HOME": str(home),
        "THREATCAST_DATABASE_URL": "",
        "THREATCAST_SECRET_KEY": SECRET,
        "OMP_NUM_THREADS": "1",
    }


def _cli(home: Path, *args: str) -> tuple[int, str]:
    get_settings.cache_clear()
    result = CliRunner().invoke(app, list(args), env=_env(home))
    return result.exit_code, result.stdout + result.stderr


def _spawn(home: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "service", *args],
        env={**os.environ, **_env(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _store(home: Path) -> Engine:
    return make_engine(f"sqlite:///{home / 'threatcast.db'}")


def _version_of(output: str) -> str:
    return output.split("registered ")[1].split()[0]


def test_train_promote_train_promote_rollback_leaves_an_audit_trail(home: Path) -> None:
    code, out = _cli(home, "train", "--config", str(home / "small.json"))
    assert code == 0, out
    first = _version_of(out)
    code, out = _cli(home, "models", "list")
    assert first in out and "candidate" in out
    assert _cli(home, "models", "promote", first, "--reason", "first model")[0] == 0

    code, out = _cli(home, "train", "--config", str(home / "small.json"), "--as-of", "2021-06")
    second = _version_of(out)
    assert _cli(home, "models", "promote", second, "--reason", "newer data")[0] == 0
    code, out = _cli(home, "models", "rollback", "--reason", "second looks wrong")
    assert code == 0 and f"{first} is the pak-ucdp-month champion again" in out

    code, out = _cli(home, "models", "show", second)
    assert "status      retired" in out
    assert "candidate -> champion  by cli: newer data" in out
    assert "champion -> retired  by cli: rolled back to" in out
    code, out = _cli(home, "forecast", "--output", str(home / "f.csv"))
    assert code == 0 and f"from {first}" in out
    code, out = _cli(home, "jobs", "list")
    assert out.count("succeeded") == 2


@pytest.mark.integration
def test_a_killed_training_leaves_no_artifact_no_version_and_a_failed_job(ged_home: Path) -> None:
    home = ged_home  # the whole history: its training lasts well past the kill
    (home / "small.json").write_text(json.dumps(SMALL_TRAINING))
    process = _spawn(home, "train", "--config", str(home / "small.json"))
    store = _store(home)
    deadline = time.monotonic() + 60
    job = None
    while time.monotonic() < deadline:
        listed = jobs.list_jobs(store) if (home / "threatcast.db").exists() else []
        if listed and listed[0].version:
            job = listed[0]
            break
        time.sleep(0.2)
    assert job is not None and job.status == "running"
    time.sleep(1.0)  # well inside fitting: the job writes its artifact only at the end
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL

    jobs.reap_dead(store, stale_after_s=120, artifact_root=home / "artifacts")
    dead = jobs.get(store, job.id)
    assert dead.status == "failed" and "died" in (dead.result or "")
    assert registry.list_versions(store) == []
    leftovers = list((home / "artifacts").iterdir()) if (home / "artifacts").exists() else []
    assert leftovers == []


@pytest.mark.integration
def test_two_trainings_at_once_both_succeed_with_distinct_versions(home: Path) -> None:
    processes = [_spawn(home, "train", "--config", str(home / "small.json")) for _ in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    store = _store(home)
    versions = registry.list_versions(store)
    assert len({v.version for v in versions}) == 2
    for mv in versions:  # both artifacts verify and load
        load_version(store, Installation(home / "artifacts", SECRET), version=mv.version)
    assert {j.status for j in jobs.list_jobs(store)} == {"succeeded"}


def test_retrain_from_release_20_1_to_22_1_through_the_worker(
    tmp_path: Path, recent_ged_20_1_file: Path, recent_ged_file: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "small.json").write_text(json.dumps(SMALL_TRAINING))
    strict = {**SMALL_TRAINING, "gate_max_calibration_error": 0.0001}
    (home / "strict.json").write_text(json.dumps(strict))
    assert _cli(home, "ingest", str(recent_ged_20_1_file))[0] == 0

    code, out = _cli(
        home, "retrain", "--events", str(recent_ged_file),
        "--config", str(home / "small.json"), "--enqueue",
    )  # fmt: skip
    assert code == 0 and "queued" in out
    code, out = _cli(home, "worker", "--once")
    assert code == 0 and "succeeded" in out and "promoted to champion: no champion yet" in out
    champion = registry.champion(_store(home), "pak-ucdp-month")
    assert champion is not None and champion.as_of == "2021-12"
    assert issued.latest_issue_key(_store(home), champion.version) is not None  # the gate issued

    # The same data again, under a gate it cannot pass: the version stays a candidate, and says why.
    code, out = _cli(
        home, "retrain", "--events", str(recent_ged_file),
        "--config", str(home / "strict.json"),
    )  # fmt: skip
    assert code == 0, out
    assert "stays a candidate: calibration error" in out and "above the bound 0.0001" in out
    assert registry.champion(_store(home), "pak-ucdp-month").version == champion.version  # type: ignore[union-attr]
    job_id = jobs.list_jobs(_store(home))[0].id
    code, out = _cli(home, "jobs", "show", str(job_id))
    assert "check freshness (info)" in out and "stays a candidate" in out and "log:" in out


def test_a_failed_retrain_is_recorded_with_its_reason(home: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    code, out = _cli(home, "retrain", "--events", str(empty), "--config", str(home / "small.json"))
    assert code == 1 and "failed" in out
    job = jobs.list_jobs(_store(home))[0]
    assert job.status == "failed" and job.finished_at is not None
    assert registry.list_versions(_store(home)) == []


def test_a_job_whose_remote_worker_went_silent_is_failed(engine: Engine, tmp_path: Path) -> None:
    store = engine
    job_id = jobs.enqueue(store, TrainParams(config=TrainingConfig(**SMALL_TRAINING)), "cli")
    claimed = jobs.claim_next(store)
    assert claimed is not None and claimed.id == job_id and claimed.status == "running"
    assert jobs.claim_next(store) is None
    long_ago = datetime.now(UTC) - timedelta(minutes=10)
    with write_transaction(store) as conn:
        conn.execute(
            update(jobs_table)
            .where(jobs_table.c.id == job_id)
            .values(worker="another-host:1", heartbeat_at=long_ago)
        )
    (tmp_path / ".tmp-m1").mkdir()
    jobs.set_version(store, job_id, "m1")
    assert jobs.reap_dead(store, stale_after_s=120, artifact_root=tmp_path) == [job_id]
    assert not (tmp_path / ".tmp-m1").exists()  # what the dead job left is removed
    assert "no heartbeat since" in (jobs.get(store, job_id).result or "")
    assert jobs.reap_dead(store, stale_after_s=120, artifact_root=tmp_path) == []


def test_two_workers_never_take_the_same_job(engine: Engine) -> None:
    ids = [jobs.enqueue(engine, TrainParams(as_of=f"2020-0{n + 1}"), "cli") for n in range(3)]
    taken = [jobs.claim_next(engine) for _ in range(4)]
    assert [job.id for job in taken if job] == ids and taken[-1] is None
    assert [job.parameters() for job in taken if job][1] == TrainParams(as_of="2020-02")
    with pytest.raises(jobs.JobError, match="no job 999"):
        jobs.get(engine, 999)


def test_job_parameters_are_checked_when_queued_and_when_read(engine: Engine) -> None:
    with pytest.raises(ValidationError, match="promote"):
        RetrainParams(promote="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="horizons"):
        TrainParams(config={"horizons": [0]})  # type: ignore[arg-type]
    dance = _raw_job(engine, "dance", {})
    with pytest.raises(jobs.JobError, match="do not fit a dance job"):
        jobs.get(engine, dance).parameters()
    odd = _raw_job(engine, "retrain", {"events": 42, "surprise": True})
    with pytest.raises(jobs.JobError, match="surprise"):
        jobs.get(engine, odd).parameters()


def _raw_job(engine: Engine, kind: str, params: dict[str, object]) -> int:
    """A queued row written by something other than jobs.enqueue (an older release, a hand)."""
    with write_transaction(engine) as conn:
        result = conn.execute(
            insert(jobs_table).values(
                kind=kind,
                status="queued",
                params=params,
                requested_by="hand",
                created_at=datetime.now(UTC),
            )
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]


def test_the_worker_outlives_a_crashing_job_and_removes_uploaded_files(home: Path) -> None:
    store = _store(home)
    uploads = home / "uploads"
    uploads.mkdir()
    refused = uploads / "refused.csv"
    refused.write_text("id,when\n1,2\n")
    config = TrainingConfig(**SMALL_TRAINING)
    first = jobs.enqueue(
        store, RetrainParams(config=config, events=str(refused), uploaded=True), "api"
    )
    second = _raw_job(store, "retrain", {"events": ["not", "a", "path"]})  # the job is broken
    code, out = _cli(home, "worker", "--once")
    assert code == 0, out
    assert jobs.get(store, first).status == "failed" and not refused.exists()
    crashed = jobs.get(store, second)
    assert crashed.status == "failed" and "do not fit a retrain job" in (crashed.result or "")
