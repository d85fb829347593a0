"""Where parallel work runs: local processes (loky) or a Dask distributed cluster.

Both go through joblib, so the code that fans out work is the same for either.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)
BACKENDS = ("loky", "dask")


@contextmanager
def compute_backend(backend: str, scheduler: str | None = None) -> Iterator[str]:
    """Yield the joblib backend name to use; for Dask, hold a client for the duration.

    Without a scheduler address, Dask starts a local cluster: the same code path, one machine.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; use {' or '.join(BACKENDS)}")
    if backend == "loky":
        if scheduler:
            raise ValueError("--scheduler only applies to --backend dask")
        yield "loky"
        return
    from joblib import parallel_config

    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise ValueError("--backend dask needs dask[distributed] installed") from None
    if scheduler:
        log.info("connecting to the Dask scheduler at %s", scheduler)
        try:
            client = Client(scheduler, timeout=30)
        except OSError as exc:
            raise ValueError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        # parallel_config registers joblib's Dask backend, which talks to the current client.
        with client, parallel_config(backend="dask"):
            yield "dask"
        return
    log.info("starting a local Dask cluster")
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster),
        parallel_config(backend="dask"),
    ):
        yield "dask"
