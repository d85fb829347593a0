"""Time and peak memory of the reference backtest (not a test): GED 22.1, origins 2016-01..2021-12,
horizons 1, 3, 6, the default ensemble and the reference models; with --freq week the weekly
one (origins 2016-W01..2021-W52, horizons 1, 2, 4, 8), with --freq both the two side by side;
with --freq districts the monthly one per province beside the one per district (`--level adm2`:
the district models, the province model they are reconciled to, and the references).

    .venv/bin/python benchmarks/backtest.py [--n-jobs 2] [--repeat 1] [--freq month|week|both|districts]
    .venv/bin/python benchmarks/backtest.py --baseline d26b846 --repeat 3

With --baseline, the same backtest of that commit (checked out in a temporary git worktree, run
with this environment's interpreter) alternates with this tree's, run by run, so both meet the
same machine noise; the medians and their ratio are printed.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from events import bundled

GED_22_1 = bundled.EVENTS_DIR / "ucdp_ged_22.1_pakistan_hdx.csv.gz"

ROOT = Path(__file__).resolve().parent.parent


WINDOWS = {
    "month": ("--freq", "month", "--start", "2016-01", "--end", "2021-12", "--horizons", "1,3,6"),
    "week": ("--freq", "week", "--start", "2016-W01", "--end", "2021-W52", "--horizons", "1,2,4,8"),
}
WINDOWS["district"] = (*WINDOWS["month"], "--level", "adm2")
PAIRS = {"month": ("month",), "week": ("week",), "both": ("month", "week"),
         "districts": ("month", "district")}  # fmt: skip


def _run_once(tree: Path, n_jobs: int, workdir: Path, freq: str = "month") -> tuple[float, float]:
    """Wall seconds, and the peak resident memory (MiB) of the command or any of its workers."""
    command = [
        sys.executable, "-m", "service", "backtest", "--events", str(GED_22_1),
        *WINDOWS[freq], "--n-jobs", str(n_jobs),
        "--output", str(workdir / "forecasts.csv"), "--report", str(workdir / "report"),
    ]  # fmt: skip
    # The tree's own packages come first on the path (an older commit has its own layout).
    env = {**os.environ, "PYTHONPATH": str(tree)}
    # Timed runs read bytecode, never compile the libraries from source again in each worker.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--measure", *command],
        check=True, cwd=tree, env=env, capture_output=True, text=True,
    )  # fmt: skip
    return time.perf_counter() - started, float(done.stdout.split()[-1])


def _measure(command: list[str]) -> None:
    """Run `command` and print its children's peak resident set (MiB): one run's own figure."""
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # ru_maxrss of children: the largest resident set of the command or any worker (KiB on Linux).
    print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)


def _summary(times: list[float]) -> str:
    return f"median {statistics.median(times):.1f} s over {len(times)} run(s) {[round(t, 1) for t in times]}"


def main() -> None:
    if sys.argv[1:2] == ["--measure"]:
        _measure(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--freq", choices=tuple(PAIRS), default="month")
    parser.add_argument("--baseline", help="A commit to alternate with, e.g. d26b846.")
    parser.add_argument("--keep", type=Path, help="Copy this tree's last report here.")
    args = parser.parse_args()
    freqs = PAIRS[args.freq]
    ours: dict[str, list[tuple[float, float]]] = {freq: [] for freq in freqs}
    theirs: dict[str, list[tuple[float, float]]] = {freq: [] for freq in freqs}
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        baseline = work / "baseline"
        if args.baseline:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(baseline), args.baseline],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        try:
            # Alternated run by run (and frequency by frequency), so both meet the same noise.
            for _ in range(args.repeat):
                for freq in freqs:
                    if args.baseline:
                        theirs[freq].append(_run_once(baseline, args.n_jobs, work / "theirs", freq))
                    ours[freq].append(_run_once(ROOT, args.n_jobs, work / "ours", freq))
            metrics = (work / "ours" / "report" / "metrics.csv").read_text()
            if args.keep:
                shutil.copytree(work / "ours" / "report", args.keep, dirs_exist_ok=True)
        finally:
            if args.baseline:
                subprocess.run(
                    ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(baseline)],
                    check=False,
                )
    for freq in freqs:
        times = [t for t, _ in ours[freq]]
        peak = max(m for _, m in ours[freq])
        print(f"{freq} backtest wall time: {_summary(times)}; peak memory {peak:.0f} MiB")
        if theirs[freq]:
            base = [t for t, _ in theirs[freq]]
            ratio = statistics.median(times) / statistics.median(base)
            print(f"  baseline {args.baseline}: {_summary(base)}; ratio of medians {ratio:.2f}")
    if len(freqs) == 2:
        first, second = (statistics.median(t for t, _ in ours[f]) for f in freqs)
        print(f"{freqs[1]} / {freqs[0]} wall time: {second / first:.2f}")
    print(metrics)


if __name__ == "__main__":
    main()
