"""Settings validate early and default to an embedded SQLite store under the home directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from service.settings import Settings


def test_default_database_is_sqlite_under_home(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    assert settings.database_url == f"sqlite:///{tmp_path.as_posix()}/threatcast.db"


def test_plain_postgresql_urls_use_psycopg() -> None:
    settings = Settings(database_url="postgresql://postgres@127.0.0.1:5432/test")
    assert settings.database_url == "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"database_url": "not a url"}, "not a database URL"),
        ({"database_url": "mysql://root@localhost/db"}, "unsupported database 'mysql'"),
        ({"log_level": "LOUD"}, "unknown log level"),
    ],
)
def test_bad_values_fail_fast(changes: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(**changes)  # type: ignore[arg-type]


def test_environment_variables_use_the_threatcast_prefix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("THREATCAST_HOME", str(tmp_path))
    monkeypatch.setenv("THREATCAST_LOG_LEVEL", "debug")
    settings = Settings()
    assert (settings.home, settings.log_level) == (tmp_path, "DEBUG")


def test_production_needs_a_real_secret_key(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="THREATCAST_SECRET_KEY must be set"):
        Settings(home=tmp_path, environment="production")
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings(home=tmp_path, environment="production", secret_key="short")
    secret = "s3cret-" + "x" * 40
    settings = Settings(home=tmp_path, environment="production", secret_key=secret)
    assert settings.signing_key == secret
    assert secret not in repr(settings) and secret not in str(settings.model_dump())
    assert settings.artifact_root == tmp_path / "artifacts"


def test_without_a_secret_key_a_random_one_is_kept_under_home_for_its_owner(
    tmp_path: Path,
) -> None:
    settings = Settings(home=tmp_path)
    assert not (tmp_path / "secret_key").exists()  # made on first use, not by reading settings
    key = settings.signing_key
    assert len(key) >= 48 and (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    assert Settings(home=tmp_path).signing_key == key  # the same key on every start
    assert Settings(home=tmp_path / "another").signing_key != key
    webhook = settings.webhook_signing_key
    assert webhook != key and (tmp_path / "webhook_secret").stat().st_mode & 0o777 == 0o600
    assert settings.verifying_keys == (key,)
