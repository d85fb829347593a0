"""Time and peak memory of the reference backtest (not a test): GED 22.1, origins 2016-01..2021-12,
horizons 1, 3, 6, the default ensemble and the reference models.

    .venv/bin/python benchmarks/backtest.py [--n-jobs 2] [--repeat 1]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from events import bundled


def _run_once(n_jobs: int, workdir: Path) -> float:
    command = [
        sys.executable, "-m", "service", "backtest", "--events", str(bundled.UCDP_GED_22_1_PAKISTAN),
        "--start", "2016-01", "--end", "2021-12", "--horizons", "1,3,6", "--n-jobs", str(n_jobs),
        "--output", str(workdir / "forecasts.csv"), "--report", str(workdir / "report"),
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        times = [_run_once(args.n_jobs, Path(scratch)) for _ in range(args.repeat)]
        metrics = (Path(scratch) / "report" / "metrics.csv").read_text()
    # ru_maxrss of children: the largest resident set of the command or any worker (KiB on Linux).
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"backtest wall time: median {statistics.median(times):.1f} s over {len(times)} run(s) {[round(t, 1) for t in times]}"
    )
    print(f"peak memory of one process: {peak_mib:.0f} MiB")
    print(metrics)


if __name__ == "__main__":
    main()
