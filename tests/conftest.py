"""Shared fixtures: a fresh event store per test on SQLite, and on PostgreSQL when marked."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from features.store.db import make_engine, migrate

DATA = Path(__file__).parent / "data"
POSTGRES_ADMIN_URL = os.environ.get(
    "THREATCAST_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'threatcast.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, empty database on the local server, dropped after the test."""
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"threatcast_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A migrated, empty event store."""
    store = make_engine(database_url)
    migrate(store)
    yield store
    store.dispose()


# A training config small enough for tests: one horizon, a two-origin backtest, one process.
SMALL_TRAINING = {
    "horizons": [1, 2],
    "backtest_origins": 2,
    "backtest_horizons": [1],
    "n_jobs": 1,
    "gate_max_calibration_error": 1.0,
}


@pytest.fixture(scope="session")
def ged_store_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store holding the bundled GED 22.1 events, built once and copied per test."""
    from features import bundled
    from features.ingest import ingest_file

    path = tmp_path_factory.mktemp("ged") / "threatcast.db"
    store = make_engine(f"sqlite:///{path}")
    migrate(store)
    ingest_file(store, bundled.UCDP_GED_22_1_PAKISTAN)
    store.dispose()
    return path


@pytest.fixture
def ged_home(tmp_path: Path, ged_store_file: Path) -> Path:
    """A ThreatCast home whose database already holds the GED 22.1 events."""
    import shutil

    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(ged_store_file, home / "threatcast.db")
    return home
