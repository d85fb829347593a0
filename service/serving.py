"""What this server process serves: each frequency's champion's newest issued forecasts.

Issuing (training.issuing) writes forecasts once, whichever process promotes; every web worker
only reads them. The registry decides the champion and each worker polls it, so a promotion or
rollback reaches all workers within `refresh_s` without a restart, and no worker unpickles a model.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from events.periods import FREQUENCIES, Frequency
from training import registry
from training.issuing import Issue, latest_issue_key, load_issue

log = logging.getLogger(__name__)
MAX_CACHED_BODIES = 512


class IssueServer:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._issues: dict[Frequency, Issue | None] = dict.fromkeys(FREQUENCIES)
        self._problems: dict[Frequency, str] = {}
        self._lock = threading.Lock()
        # Serialized responses by ETag: an issue's body is computed once per query, not per poll.
        self._bodies: dict[str, bytes] = {}

    def body(self, etag: str, render: Callable[[], bytes]) -> bytes:
        cached = self._bodies.get(etag)
        if cached is None:
            if len(self._bodies) >= MAX_CACHED_BODIES:
                self._bodies.clear()
            cached = self._bodies[etag] = render()
        return cached

    def issue(self, freq: Frequency) -> Issue | None:
        return self._issues[freq]

    def status(self, freq: Frequency) -> str:
        issue = self._issues[freq]
        if issue is not None:
            return f"serving {issue.version} (origin {issue.origin})"
        return self._problems.get(freq, "not loaded yet")

    def refresh(self) -> None:
        """Catch up with the registry; never raises, so a bad moment cannot stop serving."""
        with self._lock:
            for freq in FREQUENCIES:
                try:
                    self._refresh(freq)
                except SQLAlchemyError as exc:
                    self._problems[freq] = f"refresh failed: {type(exc).__name__}"
                    log.error("serving %s: refresh failed: %s", freq, exc)

    def _refresh(self, freq: Frequency) -> None:
        champion = registry.champion(self.engine, freq)
        if champion is None:
            self._issues[freq] = None
            self._problems[freq] = f"no {freq} champion: train one and promote it"
            return
        key = latest_issue_key(self.engine, champion.version)
        if key is None:
            self._issues[freq] = None
            self._problems[freq] = (
                f"champion {champion.version} has issued no forecasts: run `threatcast forecast`"
            )
            return
        current = self._issues[freq]
        if current is None or (current.version, current.origin, current.issued_at) != (
            champion.version,
            *key,
        ):
            self._issues[freq] = load_issue(self.engine, champion, *key)
            log.info("serving %s: %s at origin %s", freq, champion.version, key[0])

    def run_forever(self, interval_s: float, stop: threading.Event) -> None:
        while not stop.wait(interval_s):
            try:
                self.refresh()
            except Exception:  # the poller must outlive any one bad refresh
                log.exception("issue poller: refresh failed")
