"""API throughput and latency (not a test): GET /v1/forecasts against GET /healthz on one server,
same load tool (wrk), same connections, in one run.

    .venv/bin/python benchmarks/api.py [--home DIR] [--connections 32] [--duration 15]
    .venv/bin/python benchmarks/api.py --home DIR --query level=adm2   # a district series
    .venv/bin/python benchmarks/api.py --home DIR --query level=adm2 --gzip   # as browsers ask

--home must hold a champion (e.g. after `make serve` or `threatcast bootstrap`: ./var); without it
a temporary home is bootstrapped first (ingest and a first training: a minute or two).
Needs `wrk` (Debian: apt-get install wrk). Target: forecasts >= 80% of healthz throughput and
a p99 at most 1.5x healthz's, at 32 connections, one uvicorn worker; the two endpoints are
alternated (--repeat) and medians compared, since wrk shares the machine with the server.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit("the server did not become ready (does the home hold a champion?)")


def _wrk(url: str, connections: int, duration: int, headers: list[str]) -> dict[str, float]:
    asked = [option for header in headers for option in ("-H", header)]
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", *asked, url],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    figures = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    for pct in ("50", "99"):
        value, unit = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        figures[f"p{pct}_ms"] = float(value) * _UNITS[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    figures["errors"] = float(errors.group(1)) if errors else 0.0
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--home", type=Path)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument(
        "--repeat", type=int, default=3, help="Alternate the endpoints this often; medians."
    )
    parser.add_argument(
        "--query", default="", help="Ask /v1/forecasts this, e.g. level=adm2 (its districts)."
    )
    parser.add_argument(
        "--gzip",
        action="store_true",
        help="Ask both endpoints with Accept-Encoding: gzip, as browsers and HTTP libraries do.",
    )
    args = parser.parse_args()
    headers = ["Accept-Encoding: gzip"] if args.gzip else []
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    scratch = tempfile.mkdtemp(prefix="threatcast-api-bench-")
    home = args.home or Path(scratch)
    env = {**os.environ, "THREATCAST_HOME": str(home), "THREATCAST_LOG_LEVEL": "WARNING"}
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "service",
        "serve",
        "--port",
        str(port),
        "--workers",
        "1",
        "--bootstrap",
    ]
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, timeout=600)
        forecasts_path = f"v1/forecasts?{args.query}" if args.query else "v1/forecasts"
        _wrk(f"{url}/{forecasts_path}", args.connections, 3, headers)  # warm-up
        # Alternated, so a noisy moment of the machine falls on both endpoints alike.
        runs: dict[str, list[dict[str, float]]] = {"healthz": [], forecasts_path: []}
        for _ in range(args.repeat):
            for path, found in runs.items():
                found.append(_wrk(f"{url}/{path}", args.connections, args.duration, headers))
        health, forecasts = (
            {key: statistics.median(run[key] for run in found) for key in found[0]}
            for found in runs.values()
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(scratch, ignore_errors=True)
    print(
        f"wrk, 2 threads, {args.connections} connections, {args.repeat} alternated runs of "
        f"{args.duration} s per endpoint (medians), one uvicorn worker"
        + (", Accept-Encoding: gzip" if args.gzip else "")
    )
    for name, figures in (("GET /healthz", health), (f"GET /{forecasts_path}", forecasts)):
        print(
            f"{name:<30} {figures['rps']:8.0f} req/s   p50 {figures['p50_ms']:6.2f} ms   "
            f"p99 {figures['p99_ms']:6.2f} ms   non-2xx {figures['errors']:.0f}"
        )
    print(
        f"forecasts / healthz throughput: {forecasts['rps'] / health['rps']:.2f} (target >= 0.80)"
    )
    print(
        f"forecasts p99 / healthz p99: {forecasts['p99_ms'] / health['p99_ms']:.2f} (target <= 1.5)"
    )


if __name__ == "__main__":
    main()
