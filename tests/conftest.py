"""Shared fixtures: a fresh event store per test on SQLite, and on PostgreSQL when marked."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from service.settings import Settings
from store.db import make_engine, migrate
from tests.real_data import GED_20_1, GED_22_1
from training.installation import Installation

DATA = Path(__file__).parent / "data"
POSTGRES_ADMIN_URL = os.environ.get(
    "THREATCAST_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@contextlib.contextmanager
def serving(
    home: Path, workers: int = 1, **settings: str
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`threatcast serve` on a free loopback port over `home`, until it answers; stopped after."""
    port = free_port()
    env = {
        **os.environ, "THREATCAST_HOME": str(home), "THREATCAST_DATABASE_URL": "",
        "THREATCAST_SECRET_KEY": SECRET, "OMP_NUM_THREADS": "1",
        **{f"THREATCAST_{name.upper()}": value for name, value in settings.items()},
    }  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--port", str(port), "--workers", str(workers)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=1):
                    break
            except OSError:
                assert process.poll() is None, "the server exited"
                assert time.monotonic() < deadline, "the server did not answer within 60 s"
                time.sleep(0.1)
        yield process, url
    finally:
        process.terminate()
        process.wait(timeout=30)


def wait_until(condition: Callable[[], object], timeout_s: float = 20.0) -> None:
    """Poll `condition` until it holds; fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def run_cli(home: Path, *args: str) -> tuple[int, str]:
    """`threatcast ARGS` on the installation at `home`: exit code, and stdout with stderr."""
    from typer.testing import CliRunner

    from service.cli import app
    from service.settings import get_settings

    env = {
        "THREATCAST_HOME": str(home),
        "THREATCAST_DATABASE_URL": "",
        "THREATCAST_SECRET_KEY": SECRET,
    }
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, list(args), env=env)
    finally:
        get_settings.cache_clear()
    return result.exit_code, result.stdout + result.stderr


def settled(*paths: Path) -> None:
    """Files dropped in an inbox as a finished copy: last written ten minutes ago."""
    import os
    import time

    for path in paths:
        past = time.time() - 600
        os.utime(path, (past, past))


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


def _store_holding(directory: Path, events_file: Path) -> Path:
    """A migrated SQLite store in `directory` with `events_file` ingested."""
    from events.ingest import ingest_file

    path = directory / "threatcast.db"
    store = make_engine(f"sqlite:///{path}")
    migrate(store)
    ingest_file(store, events_file)
    store.dispose()
    return path


def _home_with(tmp_path: Path, store_file: Path) -> Path:
    import shutil

    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(store_file, home / "threatcast.db")
    return home


@pytest.fixture(scope="session")
def ged_store_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store holding the bundled GED 22.1 events, built once and copied per test."""

    return _store_holding(tmp_path_factory.mktemp("ged"), GED_22_1)


@pytest.fixture
def ged_home(tmp_path: Path, ged_store_file: Path) -> Path:
    """A ThreatCast home whose database already holds the GED 22.1 events."""
    return _home_with(tmp_path, ged_store_file)


# Where a test needs a trained model but not its skill: the real events from 2010 on. Twelve
# years train in a fraction of the time, and are too short for the ensemble's held-out stacking.
RECENT_SINCE_YEAR = 2010


def _cut_to_recent(source: Path, target: Path) -> Path:
    """A UCDP GED file as shipped, keeping only the rows of events that started in or after
    RECENT_SINCE_YEAR (ISO dates, or the web export's MM/DD/YYYY), and any HXL row."""
    import csv
    import gzip

    with gzip.open(source, "rt", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    column = rows[0].index("date_start")

    def year(row: list[str]) -> int:
        day = row[column]
        return int(day[:4] if day[4:5] == "-" else day[6:10])

    hxl = [row for row in rows[1:2] if row[column].startswith("#")]
    kept = [row for row in rows[1 + len(hxl) :] if year(row) >= RECENT_SINCE_YEAR]
    with target.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([rows[0], *hxl, *kept])
    return target


@pytest.fixture(scope="session")
def recent_ged_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled GED 22.1 file cut to the events that started in 2010 or later."""

    target = tmp_path_factory.mktemp("recent") / "ucdp_ged_22.1_pakistan_since_2010.csv"
    return _cut_to_recent(GED_22_1, target)


@pytest.fixture(scope="session")
def recent_ged_20_1_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled GED 20.1 web export cut the same way (its quirks kept)."""

    target = tmp_path_factory.mktemp("recent") / "ucdp_ged_20.1_pakistan_since_2010.csv"
    return _cut_to_recent(GED_20_1, target)


@pytest.fixture(scope="session")
def recent_store_file(tmp_path_factory: pytest.TempPathFactory, recent_ged_file: Path) -> Path:
    return _store_holding(tmp_path_factory.mktemp("recent-store"), recent_ged_file)


@pytest.fixture
def recent_home(tmp_path: Path, recent_store_file: Path) -> Path:
    """A ThreatCast home whose database holds the GED 22.1 events since 2010."""
    return _home_with(tmp_path, recent_store_file)


SECRET = "a-test-secret-that-is-long-enough-1234"


def served_settings(home: Path, **extra: Any) -> Settings:
    """The settings of a served home: its database and the test secret (and any others)."""
    default = home / "default_series.txt"
    if default.exists():
        extra.setdefault("default_series", default.read_text())
    return Settings(
        home=home, database_url=(home / "database_url.txt").read_text(), secret_key=SECRET, **extra
    )


@pytest.fixture(scope="session")
def served_template(tmp_path_factory: pytest.TempPathFactory, recent_store_file: Path) -> Path:
    """A home with GED 22.1 since 2010, a champion (data to 2021-10, forecasts issued at 2021-10
    and 2021-12) and a candidate (data to 2021-12, nothing issued yet). Built once, copied per
    test."""
    import shutil

    from training import issuing
    from training.config import TrainingConfig
    from training.train import train_version

    home = tmp_path_factory.mktemp("served") / "home"
    home.mkdir()
    shutil.copy(recent_store_file, home / "threatcast.db")
    store = make_engine(f"sqlite:///{home / 'threatcast.db'}")
    migrate(store)
    root = home / "artifacts"
    versions = []
    for as_of, seed in (("2021-10", 0), ("2021-12", 1)):
        config = TrainingConfig.model_validate({**SMALL_TRAINING, "seed": seed})
        result = train_version(store, config, artifact_root=root, secret=SECRET, as_of=as_of)
        versions.append(result.version.version)
    installation = Installation(root, SECRET)
    issuing.promote(store, installation, versions[0], "cli", "first")
    issuing.issue(store, installation, origin="2021-10")
    issuing.issue(store, installation)
    (home / "versions.txt").write_text("\n".join(versions))
    store.dispose()
    return home


@pytest.fixture(scope="session")
def district_template(tmp_path_factory: pytest.TempPathFactory, served_template: Path) -> Path:
    """The served home (a province champion issued at 2021-10 and 2021-12) with a district
    candidate trained on data to 2021-10; `district_version.txt` names it."""
    import shutil

    from training.config import TrainingConfig
    from training.train import train_version

    home = tmp_path_factory.mktemp("districts") / "home"
    shutil.copytree(served_template, home)
    store = make_engine(f"sqlite:///{home / 'threatcast.db'}")
    config = TrainingConfig.model_validate({**SMALL_TRAINING, "level": "adm2"})
    result = train_version(
        store, config, artifact_root=home / "artifacts", secret=SECRET, as_of="2021-10"
    )
    (home / "district_version.txt").write_text(result.version.version)
    (home / "database_url.txt").write_text(f"sqlite:///{home / 'threatcast.db'}")
    store.dispose()
    return home


SOUTH_ASIA = DATA / "acled_aggregated_south_asia_sample.csv.gz"


@pytest.fixture(scope="session")
def south_asia_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home holding the multi-country ACLED fixture (Afghan and Indian counts illustrative),
    India defined from its names (no boundaries), and champions of afg-acled-month (the default
    series) and ind-acled-month. Read-only: tests must not change it."""
    from events.countries import from_data, write_definition
    from events.gazetteer import use_country_folders
    from events.ingest import ingest_file
    from training import issuing
    from training.config import TrainingConfig
    from training.train import train_version

    home = tmp_path_factory.mktemp("south-asia") / "home"
    home.mkdir()
    write_definition(from_data("IND", SOUTH_ASIA), home / "countries")
    use_country_folders(home / "countries")
    try:
        store = make_engine(f"sqlite:///{home / 'threatcast.db'}")
        migrate(store)
        ingest_file(store, SOUTH_ASIA)
        root = home / "artifacts"
        for country in ("AFG", "IND"):
            config = TrainingConfig.model_validate(
                {**SMALL_TRAINING, "country": country, "source": "acled"}
            )
            result = train_version(store, config, artifact_root=root, secret=SECRET)
            issuing.promote(store, Installation(root, SECRET), result.version.version, "cli", "")
        store.dispose()
    finally:
        use_country_folders()
    (home / "database_url.txt").write_text(f"sqlite:///{home / 'threatcast.db'}")
    (home / "default_series.txt").write_text("afg-acled-month")
    return home


def _copy_rows(source: Engine, target: Engine) -> None:
    from sqlalchemy import insert, select

    from events.tables import coverage_spans, event_counts, event_rows, ingest_runs
    from training.issued import issued_forecasts
    from training.jobs import jobs
    from training.registry import model_status_changes, model_versions

    tables = (ingest_runs, event_rows, event_counts, coverage_spans, jobs, model_versions,
              model_status_changes, issued_forecasts)  # fmt: skip
    with source.connect() as read, target.begin() as write:
        for table in tables:
            rows = [dict(r) for r in read.execute(select(table)).mappings()]
            if rows:
                write.execute(insert(table), rows)
        if target.dialect.name == "postgresql":
            for name in (
                "ingest_runs",
                "events",
                "coverage_spans",
                "event_counts",
                "jobs",
                "model_status_changes",
                "issued_forecasts",
            ):
                write.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT MAX(id) FROM {name}))"
                    )
                )


@pytest.fixture
def served_home(database_url: str, served_template: Path, tmp_path: Path) -> Path:
    """A served home on the test's backend; `versions.txt` names the champion, then the candidate."""
    return _served_home(database_url, served_template, tmp_path)


@pytest.fixture
def postgres_served_home(postgres_url: str, served_template: Path, tmp_path: Path) -> Path:
    return _served_home(postgres_url, served_template, tmp_path)


def _served_home(database_url: str, served_template: Path, tmp_path: Path) -> Path:
    import shutil

    home = tmp_path / "served"
    shutil.copytree(served_template, home)
    if database_url.startswith("postgresql"):
        target = make_engine(database_url)
        migrate(target)
        source = make_engine(f"sqlite:///{home / 'threatcast.db'}")
        _copy_rows(source, target)
        source.dispose()
        target.dispose()
        (home / "threatcast.db").unlink()
    (home / "database_url.txt").write_text(
        database_url
        if database_url.startswith("postgresql")
        else f"sqlite:///{home / 'threatcast.db'}"
    )
    return home


@pytest.fixture
def sqlite_served_home(served_template: Path, tmp_path: Path) -> Path:
    import shutil

    home = tmp_path / "served"
    shutil.copytree(served_template, home)
    return home
