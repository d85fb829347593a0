"""Time and peak memory of the reference backtest (not a test): GED 22.1, origins 2016-01..2021-12,
horizons 1, 3, 6, the default ensemble and the reference models.

    .venv/bin/python benchmarks/backtest.py [--n-jobs 2] [--repeat 1]
    .venv/bin/python benchmarks/backtest.py --baseline d26b846 --repeat 3

With --baseline, the same backtest of that commit (checked out in a temporary git worktree, run
with this environment's interpreter) alternates with this tree's, run by run, so both meet the
same machine noise; the medians and their ratio are printed.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from events import bundled

ROOT = Path(__file__).resolve().parent.parent


def _run_once(tree: Path, n_jobs: int, workdir: Path) -> float:
    command = [
        sys.executable, "-m", "service", "backtest", "--events", str(bundled.UCDP_GED_22_1_PAKISTAN),
        "--start", "2016-01", "--end", "2021-12", "--horizons", "1,3,6", "--n-jobs", str(n_jobs),
        "--output", str(workdir / "forecasts.csv"), "--report", str(workdir / "report"),
    ]  # fmt: skip
    # The tree's own packages come first on the path (an older commit has its own layout).
    env = {**os.environ, "PYTHONPATH": str(tree)}
    started = time.perf_counter()
    subprocess.run(
        command, check=True, cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return time.perf_counter() - started


def _summary(times: list[float]) -> str:
    return f"median {statistics.median(times):.1f} s over {len(times)} run(s) {[round(t, 1) for t in times]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--baseline", help="A commit to alternate with, e.g. d26b846.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        baseline = work / "baseline"
        if args.baseline:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(baseline), args.baseline],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        try:
            ours, theirs = [], []
            for _ in range(args.repeat):
                if args.baseline:
                    theirs.append(_run_once(baseline, args.n_jobs, work / "theirs"))
                ours.append(_run_once(ROOT, args.n_jobs, work / "ours"))
            metrics = (work / "ours" / "report" / "metrics.csv").read_text()
        finally:
            if args.baseline:
                subprocess.run(
                    ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(baseline)],
                    check=False,
                )
    # ru_maxrss of children: the largest resident set of the command or any worker (KiB on Linux).
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"backtest wall time: {_summary(ours)}")
    if theirs:
        ratio = statistics.median(ours) / statistics.median(theirs)
        print(f"baseline {args.baseline} wall time: {_summary(theirs)}")
        print(f"ratio of medians (this tree / baseline): {ratio:.2f}")
    print(f"peak memory of one process: {peak_mib:.0f} MiB")
    print(metrics)


if __name__ == "__main__":
    main()
