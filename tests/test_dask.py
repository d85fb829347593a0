"""The same backtest on a Dask distributed cluster gives exactly the local predictions."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from dask.distributed import LocalCluster

from events.gazetteer import default_resolver
from events.panel import build_panel
from events.periods import Frequency
from events.series import Series
from features.specs import default_spec
from store.db import make_engine
from training.backtest import BacktestRequest, run_backtest
from training.parallel import compute_backend


@pytest.mark.integration
def test_backtest_on_a_dask_cluster_matches_the_local_run(ged_store_file: Path) -> None:
    store = make_engine(f"sqlite:///{ged_store_file}")
    # From 2008 on: enough history for the origins, a fraction of the fitting.
    panel = build_panel(store, Series("PAK", "ucdp", Frequency.MONTH), start="2008-01")
    store.dispose()
    spec = default_spec(default_resolver().gazetteers["PAK"], "month")

    def run(backend: str) -> pd.DataFrame:
        request = BacktestRequest(
            freq="month", start="2019-01", end="2019-03", horizons=(1, 3),
            models=("ensemble", "climatology"), n_jobs=2, backend=backend,
        )  # fmt: skip
        return run_backtest(panel, request, spec)

    local = run("loky")
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster,
        compute_backend("dask", cluster.scheduler_address) as backend,
    ):
        assert backend == "dask"
        before = cluster.scheduler.transition_counter
        distributed = run(backend)
        assert cluster.scheduler.transition_counter > before  # the cluster did the work
    assert len(local) == 3 * 2 * 7 * 2
    pd.testing.assert_frame_equal(local, distributed, check_exact=True)


def test_backend_options_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown backend 'spark'"), compute_backend("spark"):
        pass
    with (
        pytest.raises(ValueError, match="only applies to --backend dask"),
        compute_backend("loky", "tcp://127.0.0.1:8786"),
    ):
        pass
