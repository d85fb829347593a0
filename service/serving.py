"""What this server process serves: each series' champion's newest issued forecasts, and how far
each series' data reaches.

Issuing (training.issuing) writes forecasts once, whichever process promotes; every web worker
only reads them. The registry decides the champions and each worker polls it, so a promotion or
rollback reaches all workers within `refresh_s` without a restart, and no worker unpickles a model.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import pandas as pd
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from events.coverage import Coverage
from service.cache import BoundedCache, TtlMemo
from service.coverage import all_coverage, coverage_stamp
from training import registry
from training.issued import Issue, latest_issue_key, load_issue

log = logging.getLogger(__name__)
MAX_CACHED_BODIES = 512
MAX_CACHED_BYTES = 32 * 2**20
MAX_CACHED_LAWS = 4096
# Probes and lists answered from a few seconds' old checks: a request costs a lookup.
CHECKS_TTL_S = 5.0


class IssueServer:
    def __init__(self, engine: Engine, default_series: str) -> None:
        self.engine = engine
        self.default_series = default_series
        self._issues: dict[str, Issue | None] = {default_series: None}
        self._problems: dict[str, str] = {}
        self._coverage: dict[str, Coverage] = {}
        self._coverage_stamp: tuple[object, ...] | None = None
        self._lock = threading.Lock()
        # Serialized responses by ETag (the canonical query): an issue's body is computed once
        # per query, not per poll; the least recently asked go first.
        self.bodies: BoundedCache[bytes] = BoundedCache(MAX_CACHED_BODIES, MAX_CACHED_BYTES, len)
        # Derived count laws (an actor group's thinning), per issue, region, horizon and group.
        self.laws: BoundedCache[object] = BoundedCache(MAX_CACHED_LAWS)
        self.checks: TtlMemo[object] = TtlMemo(CHECKS_TTL_S)
        # Scored track-record rows, per series and state of its issues and outcomes.
        self.scored: BoundedCache[pd.DataFrame] = BoundedCache(8)

    def body(self, etag: str, render: Callable[[], bytes]) -> bytes:
        cached = self.bodies.get(etag)
        return cached if cached is not None else self.bodies.put(etag, render())

    def issue(self, series: str) -> Issue | None:
        return self._issues.get(series)

    def served(self) -> dict[str, Issue]:
        """Every series with published forecasts."""
        return {key: issue for key, issue in self._issues.items() if issue is not None}

    def coverage(self) -> dict[str, Coverage]:
        """Every series the store has data for, with its covered periods."""
        return dict(self._coverage)

    def status(self, series: str) -> str:
        issue = self._issues.get(series)
        if issue is not None:
            return f"serving {issue.version} ({series}, origin {issue.origin})"
        return self._problems.get(series, f"no {series} champion: train one and promote it")

    def refresh(self) -> None:
        """Catch up with the registry and the coverage; never raises, so a bad moment cannot
        stop serving."""
        with self._lock:
            try:
                keys = {self.default_series, *(c.series for c in registry.champions(self.engine))}
                stamp = coverage_stamp(self.engine)
                if stamp != self._coverage_stamp:  # recomputed only when an ingest added spans
                    self._coverage, self._coverage_stamp = all_coverage(self.engine), stamp
            except SQLAlchemyError as exc:
                self._problems[self.default_series] = f"refresh failed: {type(exc).__name__}"
                log.error("serving: refresh failed: %s", exc)
                return
            for key in sorted(keys):
                try:
                    self._refresh(key)
                except SQLAlchemyError as exc:
                    self._problems[key] = f"refresh failed: {type(exc).__name__}"
                    log.error("serving %s: refresh failed: %s", key, exc)

    def _refresh(self, key: str) -> None:
        champion = registry.champion(self.engine, key)
        if champion is None:
            self._issues[key] = None
            self._problems[key] = f"no {key} champion: train one and promote it"
            return
        issue_key = latest_issue_key(self.engine, champion.version)
        if issue_key is None:
            self._issues[key] = None
            self._problems[key] = (
                f"champion {champion.version} has issued no forecasts: run `threatcast forecast`"
            )
            return
        current = self._issues.get(key)
        if current is None or (current.version, current.origin, current.issued_at) != (
            champion.version,
            *issue_key,
        ):
            self._issues[key] = load_issue(self.engine, champion, *issue_key)
            log.info("serving %s: %s at origin %s", key, champion.version, issue_key[0])

    def run_forever(self, interval_s: float, stop: threading.Event) -> None:
        while not stop.wait(interval_s):
            try:
                self.refresh()
            except Exception:  # the poller must outlive any one bad refresh
                log.exception("issue poller: refresh failed")
