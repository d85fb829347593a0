"""What this server process serves: each frequency's verified champion and its latest forecasts.

The registry in the database decides the champion; every process polls it, so a promotion or a
rollback reaches all workers within `refresh_s` without a restart. A champion whose artifact does
not verify is refused, and the process keeps serving the last good one.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from features.store.db import as_utc
from features.store.schema import issued_forecasts
from models.base import FORECAST_COLUMNS
from training import registry
from training.artifacts import ArtifactError
from training.issuing import ServingModel, issue_forecasts, load_version

log = logging.getLogger(__name__)
FREQUENCIES = ("month", "week")
MAX_CACHED_BODIES = 512
ROW_COLUMNS = (*(c for c in FORECAST_COLUMNS if c != "model_version"), "drivers")


@dataclass(frozen=True)
class Issue:
    """The latest issued forecasts of one champion version."""

    version: str
    freq: str
    model_as_of: str
    origin: str
    issued_at: datetime
    rows: tuple[dict[str, Any], ...]

    @property
    def etag(self) -> str:
        return hashlib.sha256(
            f"{self.version}|{self.origin}|{self.issued_at.isoformat()}".encode()
        ).hexdigest()[:32]


@dataclass
class _Slot:
    model: ServingModel | None = None
    issue: Issue | None = None
    problem: str | None = None
    refused: dict[str, str] = field(default_factory=dict)


def _latest_key(engine: Engine, version: str) -> tuple[str, datetime] | None:
    """(origin, issued_at) of a version's newest issue."""
    with engine.connect() as conn:
        latest = conn.execute(
            select(issued_forecasts.c.origin, func.max(issued_forecasts.c.issued_at))
            .where(issued_forecasts.c.version == version)
            .group_by(issued_forecasts.c.origin)
            .order_by(issued_forecasts.c.origin.desc())
            .limit(1)
        ).first()
    return (latest[0], as_utc(latest[1])) if latest is not None else None  # type: ignore[return-value]


def _load_issue(
    engine: Engine, version: str, freq: str, model_as_of: str, origin: str, issued_at: datetime
) -> Issue:
    with engine.connect() as conn:
        rows = conn.execute(
            select(*(issued_forecasts.c[c] for c in ROW_COLUMNS))
            .where(issued_forecasts.c.version == version, issued_forecasts.c.origin == origin)
            .order_by(issued_forecasts.c.region, issued_forecasts.c.horizon)
        ).mappings()
        return Issue(version, freq, model_as_of, origin, issued_at, tuple(dict(r) for r in rows))


def latest_issue(engine: Engine, version: str, freq: str, model_as_of: str) -> Issue | None:
    """A version's newest issued forecasts, or None when it has issued none."""
    key = _latest_key(engine, version)
    return _load_issue(engine, version, freq, model_as_of, *key) if key is not None else None


class ChampionServer:
    def __init__(
        self,
        engine: Engine,
        artifact_root: Path,
        secret: str,
        on_new_issue: Callable[[Issue], None] | None = None,
    ) -> None:
        self.engine = engine
        # Called once per process for each issue it starts serving (alert evaluation).
        self.on_new_issue = on_new_issue
        self.artifact_root = artifact_root
        self._secret = secret
        self._slots = {freq: _Slot() for freq in FREQUENCIES}
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

    def issue(self, freq: str) -> Issue | None:
        return self._slots[freq].issue

    def status(self, freq: str) -> str:
        slot = self._slots[freq]
        if slot.issue is not None:
            note = f"; refused {', '.join(slot.refused)}" if slot.refused else ""
            return f"serving {slot.issue.version} (origin {slot.issue.origin}){note}"
        if slot.refused:
            return "; ".join(f"champion {v} refused: {why}" for v, why in slot.refused.items())
        return slot.problem or "no champion"

    def refresh(self) -> None:
        """Catch up with the registry; never raises, so a bad moment cannot stop serving."""
        with self._lock:
            for freq in FREQUENCIES:
                try:
                    self._refresh(freq)
                except (SQLAlchemyError, OSError, ValueError) as exc:
                    self._slots[freq].problem = f"refresh failed: {type(exc).__name__}: {exc}"
                    log.error("serving %s: refresh failed: %s", freq, exc)

    def _refresh(self, freq: str) -> None:
        slot = self._slots[freq]
        champion = registry.champion(self.engine, freq)
        if champion is None:
            slot.problem = f"no {freq} champion: train one and promote it"
            slot.model, slot.issue = None, None
            return
        if slot.model is None or slot.model.record.version != champion.version:
            if champion.version in slot.refused:
                return
            try:
                model = load_version(
                    self.engine, self.artifact_root, self._secret, version=champion.version
                )
            except ArtifactError as exc:
                slot.refused[champion.version] = str(exc)
                log.error("serving %s: champion %s refused: %s", freq, champion.version, exc)
                return
            self._ensure_issued(model)
            slot.model = model
            log.info("serving %s: now %s", freq, champion.version)
        slot.issue = self._latest_issue(slot.model)
        slot.problem = None

    def _ensure_issued(self, model: ServingModel) -> None:
        with self.engine.connect() as conn:
            issued = conn.execute(
                select(issued_forecasts.c.id).where(
                    issued_forecasts.c.version == model.record.version
                )
            ).first()
        if issued is None:
            log.info("issuing first forecasts of %s", model.record.version)
            issue_forecasts(self.engine, model, replace=False)

    def _latest_issue(self, model: ServingModel) -> Issue | None:
        record = model.record
        current = self._slots[record.freq].issue
        key = _latest_key(self.engine, record.version)
        if key is None:
            return None
        if current and (current.version, current.origin, current.issued_at) == (
            record.version,
            *key,
        ):
            return current
        issue = _load_issue(self.engine, record.version, record.freq, record.as_of, *key)
        if self.on_new_issue is not None:
            try:
                self.on_new_issue(issue)
            except Exception:  # alerting trouble must not stop the new issue being served
                log.exception(
                    "serving %s: handling the new issue of %s failed", record.freq, record.version
                )
        return issue

    def run_forever(self, interval_s: float, stop: threading.Event) -> None:
        while not stop.wait(interval_s):
            try:
                self.refresh()
            except Exception:  # the poller must outlive any one bad refresh
                log.exception("champion poller: refresh failed")
