"""ThreatCast settings: one typed object, read from THREATCAST_* environment variables."""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

SUPPORTED_DRIVERS = ("sqlite", "postgresql")
# Good enough for a laptop; refused in production, where artifacts must be signed with a real secret.
DEV_SECRET_KEY = "threatcast-dev-secret-not-for-production"
MIN_SECRET_KEY_LENGTH = 32


class Settings(BaseSettings):
    """Everything configurable about a ThreatCast installation."""

    model_config = SettingsConfigDict(env_prefix="THREATCAST_", extra="ignore")

    home: Path = Field(
        default=Path("./var"), description="Directory for the database and artifacts."
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL; defaults to a SQLite file under home.",
    )
    log_level: str = Field(default="INFO", description="Python logging level name.")
    environment: Literal["dev", "production"] = Field(
        default="dev", description="`production` refuses the development secret key."
    )
    secret_key: SecretStr = Field(
        default=SecretStr(DEV_SECRET_KEY),
        description="Signs model manifests (HMAC-SHA256); required in production.",
    )
    artifacts_dir: Path | None = Field(
        default=None, description="Model artifact directories; defaults to home/artifacts."
    )
    dask_scheduler: str | None = Field(
        default=None, description="Dask scheduler address for `--backend dask`."
    )
    public_forecasts: bool = Field(
        default=True, description="Serve forecasts without a key; false requires a reader key."
    )
    refresh_s: float = Field(
        default=2.0, gt=0, le=300, description="How often each worker checks for a new champion."
    )
    risk_cut_points: tuple[float, float, float] = Field(
        default=(0.25, 0.5, 0.75),
        description="p_event cut-points between the risk levels low, moderate, high, very high.",
    )
    max_upload_bytes: int = Field(
        default=50 * 2**20, ge=1024, description="Largest event file a training job may upload."
    )
    bootstrap_config: Path | None = Field(
        default=None, description="Training config for the first champion `--bootstrap` trains."
    )
    public_url: str = Field(
        default="http://localhost:8000", description="How receivers reach this service (links)."
    )
    alert_webhook_urls: list[str] = Field(
        default_factory=list, description="Webhooks every alert goes to, beside each rule's own."
    )
    webhook_secret: SecretStr | None = Field(
        default=None,
        description="Signs webhook bodies; defaults to a key derived from the secret key.",
    )
    webhook_backoff_s: float = Field(default=2.0, gt=0, description="First retry delay; doubles.")
    webhook_max_attempts: int = Field(default=10, ge=1, le=50)
    job_stale_after_s: int = Field(
        default=120, ge=10, description="A running job silent this long is declared dead."
    )

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}; use DEBUG, INFO, WARNING or ERROR")
        return level

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if not value:
            return value
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"not a database URL: {exc}") from exc
        backend = url.get_backend_name()
        if backend not in SUPPORTED_DRIVERS:
            raise ValueError(f"unsupported database {backend!r}; use sqlite or postgresql")
        if backend == "postgresql" and url.drivername == "postgresql":
            # psycopg 3 is the driver we ship; plain postgresql:// would ask for psycopg2.
            url = url.set(drivername="postgresql+psycopg")
        return url.render_as_string(hide_password=False)

    @model_validator(mode="after")
    def _defaults_under_home(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.home / 'threatcast.db').as_posix()}"
        if self.artifacts_dir is None:
            self.artifacts_dir = self.home / "artifacts"
        return self

    @field_validator("risk_cut_points")
    @classmethod
    def _increasing_cut_points(
        cls, value: tuple[float, float, float]
    ) -> tuple[float, float, float]:
        if not 0 < value[0] < value[1] < value[2] < 1:
            raise ValueError("risk cut-points must increase strictly between 0 and 1")
        return value

    @model_validator(mode="after")
    def _real_secret_in_production(self) -> Settings:
        secret = self.secret_key.get_secret_value()
        if self.environment == "production" and (
            secret == DEV_SECRET_KEY or len(secret) < MIN_SECRET_KEY_LENGTH
        ):
            raise ValueError(
                f"THREATCAST_SECRET_KEY must be set to a random value of at least "
                f"{MIN_SECRET_KEY_LENGTH} characters in production"
            )
        return self

    @property
    def webhook_signing_key(self) -> str:
        """The webhook key: set explicitly, or derived so receivers never hold the artifact key."""
        if self.webhook_secret is not None:
            return self.webhook_secret.get_secret_value()
        secret = self.secret_key.get_secret_value().encode()
        return hmac.new(secret, b"threatcast-webhooks", hashlib.sha256).hexdigest()

    @property
    def artifact_root(self) -> Path:
        return self.artifacts_dir or self.home / "artifacts"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
