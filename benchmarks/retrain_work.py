"""How often one retrain builds the series' panel and its features (not a test).

Runs `threatcast retrain --events <bundled GED 22.1> --promote always` on a fresh home with a
small training config, counting every call of events.panel.build_panel and
features.specs.build_features, and those made while issuing the promoted version's forecasts.

    .venv/bin/python benchmarks/retrain_work.py
    .venv/bin/python benchmarks/retrain_work.py --baseline 6af42b2

With --baseline, that commit (in a temporary git worktree) runs the same retrain first.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GED_22_1 = ROOT / "events" / "data" / "events" / "ucdp_ged_22.1_pakistan_hdx.csv.gz"
CONFIG = {"horizons": [1, 2, 3], "backtest_origins": 6, "backtest_horizons": [1], "n_jobs": 1}


def _count(calls: Counter[str], name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    def counted(*args: Any, **kwargs: Any) -> Any:
        issuing = any(f.name == "_prepare" for f in traceback.extract_stack())
        calls[f"{name} (issuing)" if issuing else name] += 1
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            calls[f"{name} seconds"] += time.perf_counter() - started  # type: ignore[assignment]

    return counted


def _child(home: Path) -> None:
    import events.panel
    import features.specs
    from service.cli import app

    calls: Counter[str] = Counter()
    originals = {
        "build_panel": events.panel.build_panel,
        "build_features": features.specs.build_features,
    }
    import service.cli.main  # noqa: F401 (loads every command's modules)

    for name, original in originals.items():
        wrapper = _count(calls, name, original)
        for module in list(sys.modules.values()):
            if getattr(module, "__name__", "").split(".")[0] not in {
                "events", "features", "models", "training", "service"
            }:  # fmt: skip
                continue
            for attr, value in list(vars(module).items()):
                if value is original:
                    setattr(module, attr, wrapper)
    config = home / "config.json"
    config.write_text(json.dumps(CONFIG))

    started = time.perf_counter()
    try:
        app(
            ["retrain", "--events", str(GED_22_1), "--config", str(config),
             "--promote", "always"],
            standalone_mode=False,
        )  # fmt: skip
    except SystemExit as exit_:
        if exit_.code not in (0, None):
            raise
    calls["retrain seconds"] = time.perf_counter() - started  # type: ignore[assignment]
    print(json.dumps(dict(calls)))


def _run(tree: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as home:
        env = {
            **os.environ, "PYTHONPATH": str(tree), "THREATCAST_HOME": home,
            "THREATCAST_DATABASE_URL": "", "THREATCAST_LOG_LEVEL": "WARNING",
            "THREATCAST_SECRET_KEY": "a-benchmark-secret-that-is-long-enough",
        }  # fmt: skip
        done = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--child", home],
            cwd=tree, env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        counts: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
        return counts


def _show(label: str, counts: dict[str, float]) -> None:
    def n(key: str) -> int:
        return int(counts.get(key, 0))

    print(
        f"{label}: build_panel {n('build_panel') + n('build_panel (issuing)')} calls "
        f"({n('build_panel (issuing)')} while issuing, {counts.get('build_panel seconds', 0):.1f} s); "
        f"build_features outside the backtest's origins: {n('build_features (issuing)')} while "
        f"issuing; all build_features {n('build_features') + n('build_features (issuing)')} "
        f"({counts.get('build_features seconds', 0):.1f} s); retrain {counts['retrain seconds']:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baseline", help="A commit to measure first, e.g. 6af42b2.")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(Path(args.child))
        return
    if args.baseline:
        with tempfile.TemporaryDirectory() as scratch:
            tree = Path(scratch) / "baseline"
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), args.baseline],
                check=True, capture_output=True,
            )  # fmt: skip
            try:
                _show(f"{args.baseline}", _run(tree))
            finally:
                subprocess.run(
                    ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                    check=False, capture_output=True,
                )  # fmt: skip
    _show("this tree", _run(ROOT))


if __name__ == "__main__":
    main()
