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

from tests.conftest import SECRET, free_port

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
