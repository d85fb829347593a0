"""API keys: created once and shown once, stored as sha256 digests, revocable."""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import Column, DateTime, Engine, Integer, String, Table, insert, select, update
from sqlalchemy.exc import IntegrityError

from store.db import write_transaction
from store.metadata import metadata

# API keys are stored as sha256 digests of high-entropy random tokens; the token is shown once.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(120), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

log = logging.getLogger(__name__)
Role = Literal["reader", "admin"]
ROLES = ("reader", "admin")
KEY_PREFIX = "tc_"
# Key use is written this often, off the request path; enough to audit.
USAGE_FLUSH_S = 30.0


class ApiKeyError(Exception):
    """A key that cannot be created or revoked as asked."""


@dataclass(frozen=True)
class ApiKey:
    id: int
    name: str
    role: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def digest(token: str) -> str:
    # Tokens carry 256 random bits, so a plain sha256 cannot be brute-forced back to them.
    return hashlib.sha256(token.encode()).hexdigest()


def create_key(engine: Engine, name: str, role: str) -> tuple[ApiKey, str]:
    """A new key; the token is returned once and never stored."""
    if role not in ROLES:
        raise ApiKeyError(f"unknown role {role!r}; use reader or admin")
    if not name.strip() or len(name) > 120:
        raise ApiKeyError("a key needs a name of 1 to 120 characters")
    token = KEY_PREFIX + secrets.token_urlsafe(32)
    try:
        with write_transaction(engine) as conn:
            conn.execute(
                insert(api_keys).values(
                    name=name,
                    role=role,
                    key_hash=digest(token),
                    prefix=token[:10],
                    created_at=datetime.now(UTC),
                )
            )
    except IntegrityError:
        raise ApiKeyError(f"a key named {name!r} already exists") from None
    return next(k for k in list_keys(engine) if k.name == name), token


def list_keys(engine: Engine) -> list[ApiKey]:
    columns = [api_keys.c[f] for f in ApiKey.__dataclass_fields__]
    with engine.connect() as conn:
        rows = conn.execute(select(*columns).order_by(api_keys.c.id)).mappings()
        return [ApiKey(**dict(row)) for row in rows]


def revoke_key(engine: Engine, name: str) -> None:
    with write_transaction(engine) as conn:
        done = conn.execute(
            update(api_keys)
            .where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        ).rowcount
    if not done:
        raise ApiKeyError(f"no active key named {name!r}")


def authenticate(engine: Engine, token: str) -> ApiKey | None:
    """The active key behind a token, or None when unknown or revoked. A read only: use is
    recorded off the request path (KeyUsage)."""
    columns = [api_keys.c[f] for f in ApiKey.__dataclass_fields__]
    with engine.connect() as conn:
        row = (
            conn.execute(select(*columns).where(api_keys.c.key_hash == digest(token)))
            .mappings()
            .first()
        )
    if row is None or row["revoked_at"] is not None:
        return None
    return ApiKey(**dict(row))


class KeyUsage:
    """When each key was last used, kept in memory by the request path and written to the
    database by a background thread, so no request waits for the write lock."""

    def __init__(self) -> None:
        self._seen: dict[int, datetime] = {}
        self._lock = threading.Lock()

    def mark(self, key: ApiKey) -> None:
        with self._lock:
            self._seen[key.id] = datetime.now(UTC)

    def flush(self, engine: Engine) -> int:
        """Write what was seen since the last flush; returns how many keys were written."""
        with self._lock:
            seen, self._seen = self._seen, {}
        if not seen:
            return 0
        with write_transaction(engine) as conn:
            for key_id, moment in seen.items():
                conn.execute(
                    update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=moment)
                )
        return len(seen)

    def run_forever(self, engine: Engine, interval_s: float, stop: threading.Event) -> None:
        while not stop.wait(interval_s):
            try:
                self.flush(engine)
            except Exception:  # the loop must outlive a bad moment of the database
                log.exception("recording API key use failed")
