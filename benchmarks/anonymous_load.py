"""What anonymous requests cost a live server (not a test): figures to read, in one run.

    .venv/bin/python benchmarks/anonymous_load.py --home DIR [--seconds 15]

--home must hold a champion (after `make serve` or `threatcast bootstrap`); it is copied, never
changed. Three measurements on one uvicorn worker:

1. /healthz latency (p50, p99) alone, then while 3 clients send forecast URLs no one asked before
   (unique `exceedance`, `quantiles` and `actor` values). Target: p99 under 10 ms.
2. /metrics size after 10,000 requests with invented and WebDAV methods. Target: under 200 KB.
3. /v1/track-record at 10 years of monthly issues, polled by 4 clients: latency and the server's
   memory before and after. The copy's champion issue is replicated at each origin
   2012-01..2021-12 (the same forecast rows, shifted: a load, not a forecast record) and scored
   against the real outcomes. Target: under 50 ms a request, flat memory.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from events.periods import Frequency, shift_period
from store.db import make_engine, write_transaction
from training import registry
from training.issued import issued_forecasts, reference_forecasts
from training.track_record import record_outcomes

ORIGINS = [shift_period("2012-01", k, Frequency.MONTH) for k in range(120)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1])


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered):6.2f} ms  p99 {p99:6.2f} ms  (n={len(ordered)})"


def _timed_gets(host: str, port: int, path: str, seconds: float) -> list[float]:
    connection = http.client.HTTPConnection(host, port, timeout=30)
    samples, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        connection.request("GET", path)
        connection.getresponse().read()
        samples.append((time.perf_counter() - started) * 1000)
    connection.close()
    return samples


def _unique_forecast_urls(host: str, port: int, offset: int, stop: Any) -> None:
    connection = http.client.HTTPConnection(host, port, timeout=30)
    n = offset
    actors = ("", "&actor=ttp", "&actor=iskp", "&actor=baloch")
    while not stop.is_set():
        n += 3
        query = f"exceedance={n % 99_999 + 1}&quantiles=0.{n % 997 + 1:03d}{actors[n % 4]}"
        connection.request("GET", f"/v1/forecasts?{query}")
        connection.getresponse().read()
    connection.close()


def _replicate_issues(home: Path) -> int:
    """The champion's newest issue at each of 120 origins, then the real outcomes recorded."""
    engine = make_engine(f"sqlite:///{home / 'threatcast.db'}")
    champion = next(iter(registry.champions(engine)))
    with engine.connect() as conn:
        ours = [dict(r) for r in conn.execute(
            select(issued_forecasts).where(issued_forecasts.c.version == champion.version)
        ).mappings()]  # fmt: skip
        refs = [dict(r) for r in conn.execute(
            select(reference_forecasts).where(reference_forecasts.c.version == champion.version)
        ).mappings()]  # fmt: skip
    latest = max(r["origin"] for r in ours)
    ours = [r for r in ours if r["origin"] == latest]
    refs = [r for r in refs if r["origin"] == latest]
    now = datetime.now(UTC)
    with write_transaction(engine) as conn:
        for origin in ORIGINS:
            if origin == latest:
                continue
            for table, rows in ((issued_forecasts, ours), (reference_forecasts, refs)):
                moved = []
                for row in rows:
                    copy = {k: v for k, v in row.items() if k != "id"}
                    copy["origin"] = origin
                    copy["period"] = shift_period(origin, int(row["horizon"]), Frequency.MONTH)
                    if "issued_at" in copy:
                        copy["issued_at"] = now
                    moved.append(copy)
                conn.execute(insert(table), moved)
    recorded = record_outcomes(engine).new
    engine.dispose()
    return recorded


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="threatcast-anonymous-"))
    home = scratch / "home"
    shutil.copytree(args.home, home, ignore=shutil.ignore_patterns("inbox", "uploads"))
    print(f"replicating issues: {_replicate_issues(home)} outcomes recorded over 120 origins")
    port = _free_port()
    env = {**os.environ, "THREATCAST_HOME": str(home), "THREATCAST_LOG_LEVEL": "WARNING",
           "THREATCAST_DATABASE_URL": ""}  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--port", str(port), "--workers", "1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    host = "127.0.0.1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://{host}:{port}/readyz", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("the server did not become ready") from None
                time.sleep(0.5)
        _timed_gets(host, port, "/v1/forecasts", 2)  # warm-up

        alone = _timed_gets(host, port, "/healthz", args.seconds)
        # The clients are processes of their own: threads here would share this process's GIL
        # with the timing loop and add their waits to what it measures.
        stop = multiprocessing.Event()
        clients = [multiprocessing.Process(target=_unique_forecast_urls, args=(host, port, k, stop))
                   for k in range(3)]  # fmt: skip
        for client in clients:
            client.start()
        time.sleep(1)
        loaded = _timed_gets(host, port, "/healthz", args.seconds)
        stop.set()
        for client in clients:
            client.join()
        print(f"/healthz alone:                          {_percentiles(alone)}")
        print(
            f"/healthz, 3 clients sending unique URLs: {_percentiles(loaded)} (target p99 < 10 ms)"
        )

        methods = ["PROPFIND", "MKCOL", "PURGE", "LOCK", "SEARCH", "REPORT", "X-INVENTED"]
        for n in range(10_000):
            connection = http.client.HTTPConnection(host, port, timeout=10)
            try:
                connection.request(f"{methods[n % len(methods)]}", f"/healthz?n={n}")
                connection.getresponse().read()
            except (http.client.HTTPException, OSError):
                pass
            connection.close()
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10) as response:
            size = len(response.read())
        print(f"/metrics after 10,000 requests with invented methods: {size / 1024:.1f} KB "
              "(target < 200 KB)")  # fmt: skip

        before = _rss_kib(server.pid)
        first = _timed_gets(host, port, "/v1/track-record", 0.01)
        print(f"/v1/track-record first answer (computes it): {first[0]:.0f} ms")
        results: list[list[float]] = [[] for _ in range(4)]
        pollers = [
            threading.Thread(
                target=lambda k=k: results[k].extend(
                    _timed_gets(host, port, "/v1/track-record", args.seconds)
                )
            )
            for k in range(4)
        ]
        for poller in pollers:
            poller.start()
        for poller in pollers:
            poller.join()
        after = _rss_kib(server.pid)
        merged = [s for part in results for s in part]
        print(f"/v1/track-record, 4 clients, 120 monthly issues: {_percentiles(merged)} "
              "(target < 50 ms)")  # fmt: skip
        print(f"server memory: {before / 1024:.0f} MiB before the 4 clients, "
              f"{after / 1024:.0f} MiB after")  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
