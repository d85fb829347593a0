"""ThreatCast settings: one typed object, read from THREATCAST_* environment variables."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from events.ingest import MAX_REMOVED_SHARE
from events.series import Series, default_series
from events.sources.base import DEFAULT_LIMITS, FileLimits

SUPPORTED_DRIVERS = ("sqlite", "postgresql")
MIN_SECRET_KEY_LENGTH = 32
# Without THREATCAST_SECRET_KEY (outside production) a random key is made on first use and kept
# here, under home, readable by its owner only; the same for the webhook signing key.
SECRET_KEY_FILE = "secret_key"
WEBHOOK_SECRET_FILE = "webhook_secret"


def _secret_in(path: Path) -> str:
    """The secret kept in `path`, made (random, mode 0600) if there is none yet."""
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_urlsafe(48))
    return path.read_text(encoding="ascii").strip()


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
    secret_key: SecretStr | None = Field(
        default=None,
        description="Signs model manifests (HMAC-SHA256); required in production, else a "
        "random key kept in home/secret_key.",
    )
    previous_secret_keys: list[SecretStr] = Field(
        default_factory=list,
        description="Older keys that still verify (JSON list), while `threatcast models resign` "
        "re-signs with the new one.",
    )
    artifacts_dir: Path | None = Field(
        default=None, description="Model artifact directories; defaults to home/artifacts."
    )
    countries_dir: Path | None = Field(
        default=None,
        description="Definitions of countries users added; defaults to home/countries.",
    )
    dask_scheduler: str | None = Field(
        default=None, description="Dask scheduler address for `--backend dask`."
    )
    public_forecasts: bool = Field(
        default=True, description="Serve forecasts without a key; false requires a reader key."
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="A bearer token Prometheus may scrape /metrics with when forecasts are "
        "not public (else a reader key is needed).",
    )
    stale_after_days: int = Field(
        default=45,
        ge=1,
        description="Forecasts are stale when their data end this many days before today.",
    )
    unit_gauges: bool = Field(
        default=False,
        description="Export Prometheus forecast gauges for district series too (one series "
        "per unit and horizon: a country's districts run to hundreds, so off unless wanted).",
    )
    default_series: str = Field(
        default_factory=default_series,
        description="The series (COUNTRY-SOURCE-FREQ) the API and dashboard show when none is asked.",
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
    max_inflated_bytes: int = Field(
        default=512 * 2**20,
        ge=1024,
        description="Largest text a data file (possibly gzipped, or a workbook) may inflate to.",
    )
    max_file_rows: int = Field(
        default=DEFAULT_LIMITS.rows,
        ge=10,
        description="Most rows (blank ones too) a data file may have.",
    )
    max_file_cells: int = Field(
        default=DEFAULT_LIMITS.cells, ge=100, description="Most cells a data file may have."
    )
    max_removed_share: float = Field(
        default=MAX_REMOVED_SHARE,
        ge=0.0,
        le=1.0,
        description="A data file may remove at most this share of the stored rows it is "
        "authoritative for; past it, `--replace` (the CLI), inbox/held/ (refresh) or a failed "
        "job (uploads).",
    )
    inbox_settle_s: float = Field(
        default=60.0,
        ge=0.0,
        le=86400.0,
        description="Refresh takes an inbox file only once its size and mtime have not changed "
        "for this long (or once it was renamed from .part).",
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
    alertmanager_urls: list[str] = Field(
        default_factory=list,
        description="Alertmanagers (base URLs) every alert is pushed to, in Alertmanager's v2 "
        "API format.",
    )
    alert_allow_internal_receivers: bool = Field(
        default=False,
        description="Let webhooks and Alertmanagers on loopback, link-local or private addresses "
        "receive alerts (an Alertmanager beside the service, say); off, such addresses are "
        "refused, so no rule can probe the internal network.",
    )
    alertmanager_resend_s: float = Field(
        default=60.0,
        ge=1.0,
        le=3600.0,
        description="Firing alerts are pushed again this often, so Alertmanager's resolve "
        "timeout (5 minutes by default) never ends them.",
    )
    webhook_secret: SecretStr | None = Field(
        default=None,
        description="Signs webhook bodies; defaults to a random key kept in home/webhook_secret.",
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
        except ArgumentError:
            # The parser's message repeats the URL, password and all: say only what is wrong.
            raise ValueError(
                "not a database URL (expected sqlite:///PATH or postgresql://USER@HOST/DB)"
            ) from None
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

    @field_validator("default_series")
    @classmethod
    def _known_series(cls, value: str) -> str:
        return Series.parse(value).key

    @property
    def file_limits(self) -> FileLimits:
        """What one data file may cost to read."""
        return FileLimits(
            text_bytes=self.max_inflated_bytes, rows=self.max_file_rows, cells=self.max_file_cells
        )

    @property
    def inbox(self) -> Path:
        """Where `threatcast refresh` picks up new data files."""
        return self.home / "inbox"

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
        if self.environment != "production":
            return self
        secret = self.secret_key.get_secret_value() if self.secret_key is not None else ""
        if len(secret) < MIN_SECRET_KEY_LENGTH:
            raise ValueError(
                f"THREATCAST_SECRET_KEY must be set to a random value of at least "
                f"{MIN_SECRET_KEY_LENGTH} characters in production"
            )
        return self

    @property
    def signing_key(self) -> str:
        """The key that signs new artifacts."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        return _secret_in(self.home / SECRET_KEY_FILE)

    @property
    def verifying_keys(self) -> tuple[str, ...]:
        """Every key an artifact may verify with: the signing key first, then older ones."""
        older = (key.get_secret_value() for key in self.previous_secret_keys)
        return (self.signing_key, *older)

    @property
    def webhook_signing_key(self) -> str:
        """Signs webhook bodies; separate from the artifact key, so rotating one keeps the other."""
        if self.webhook_secret is not None:
            return self.webhook_secret.get_secret_value()
        return _secret_in(self.home / WEBHOOK_SECRET_FILE)

    @property
    def artifact_root(self) -> Path:
        return self.artifacts_dir or self.home / "artifacts"

    @property
    def country_folder(self) -> Path:
        """Where `threatcast countries add` writes the definitions of countries users bring."""
        return self.countries_dir or self.home / "countries"


def settings_problems(exc: ValidationError) -> str:
    """What is wrong with the settings, by variable, never repeating the values given (a
    database URL may hold a password)."""
    return "; ".join(
        (f"THREATCAST_{error['loc'][0]}".upper() + ": " if error["loc"] else "") + error["msg"]
        for error in exc.errors(include_input=False, include_url=False)
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
