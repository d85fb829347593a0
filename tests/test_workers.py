"""Several uvicorn workers against PostgreSQL: state lives in the database, so a promotion by
another process reaches every worker within seconds, without a restart or a failed request."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from service.keys import create_key
from store.db import make_engine
from tests.conftest import SECRET, free_port, serving, wait_until

CONVERGED_FOR_S = 3.0


def _get(url: str) -> tuple[int, dict[str, object]]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, json.load(response)


@pytest.mark.postgres
def test_two_workers_on_postgresql_swap_champions_together(postgres_served_home: Path) -> None:
    home = postgres_served_home
    champion, candidate = (home / "versions.txt").read_text().split()
    env = {
        **os.environ, "THREATCAST_HOME": str(home),
        "THREATCAST_DATABASE_URL": (home / "database_url.txt").read_text(),
        "THREATCAST_SECRET_KEY": SECRET, "THREATCAST_REFRESH_S": "0.3", "OMP_NUM_THREADS": "1",
    }  # fmt: skip
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--port", str(port), "--workers", "2"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1/forecasts"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                assert _get(url)[0] == 200
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "server did not start"
                time.sleep(0.3)
        seen = [_get(url) for _ in range(20)]
        assert {s for s, _ in seen} == {200} and {b["model_version"] for _, b in seen} == {champion}

        promote = subprocess.run(
            [sys.executable, "-m", "service", "models", "promote", candidate, "--reason", "workers test"],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert promote.returncode == 0, promote.stderr
        # A worker serves the last champion until its next poll, and meanwhile
        # every request may land on the other worker: converged means every answer for a while.
        deadline, converged_since = time.monotonic() + 30, None
        while time.monotonic() < deadline:
            recent = {b["model_version"] for _, b in (_get(url) for _ in range(10))}
            if recent != {candidate}:
                converged_since = None
            elif converged_since is None:
                converged_since = time.monotonic()
            elif time.monotonic() - converged_since >= CONVERGED_FOR_S:
                break
            time.sleep(0.2)
        final = [_get(url) for _ in range(20)]
        assert {s for s, _ in final} == {200} and {b["model_version"] for _, b in final} == {
            candidate
        }
    finally:
        server.terminate()
        server.wait(timeout=30)


def _post(url: str, body: dict[str, object], token: str) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.load(response)


@pytest.mark.integration
def test_a_promotion_over_http_is_run_by_the_worker_serve_starts(sqlite_served_home: Path) -> None:
    home = sqlite_served_home
    _, candidate = (home / "versions.txt").read_text().split()
    engine = make_engine(f"sqlite:///{home / 'threatcast.db'}")
    _, token = create_key(engine, "ops", "admin")
    with serving(home, refresh_s="0.3") as (_, url):
        status, job = _post(f"{url}/v1/models/{candidate}/promote", {"reason": "live"}, token)
        assert status == 202 and job["status"] == "queued"

        def promoted() -> bool:
            return _get(f"{url}/v1/forecasts")[1]["model_version"] == candidate

        wait_until(promoted, timeout_s=120)
        with urllib.request.urlopen(
            urllib.request.Request(
                f"{url}/v1/training-jobs/{job['id']}", headers={"Authorization": f"Bearer {token}"}
            ),
            timeout=5,
        ) as response:
            assert json.load(response)["status"] == "succeeded"


def test_a_worker_started_for_a_server_stops_when_the_server_is_gone(recent_home: Path) -> None:
    env = {**os.environ, "THREATCAST_HOME": str(recent_home), "THREATCAST_DATABASE_URL": "",
           "THREATCAST_SECRET_KEY": SECRET}  # fmt: skip
    # Its parent is this test, not process 1: as if the server that started it had died.
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "service", "worker", "--parent-pid", "1"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 30
