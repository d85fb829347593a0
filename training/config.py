"""The training configuration: one validated object, saved in every manifest."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from events.periods import CADENCES, Frequency
from events.series import Series, default_series
from models.catalog import DEFAULT_MODEL, FAMILIES


class TrainingConfig(BaseModel):
    """What `threatcast train` fits and how its backtest and promotion gate judge it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    freq: Frequency = Frequency.MONTH
    country: str = Field(
        default_factory=lambda: Series.parse(default_series()).country,
        description="ISO 3166-1 alpha-3; default: the default series' country.",
    )
    source: str = Field(default="ucdp", description="The source family the series is built from.")
    level: str = Field(
        default="adm1",
        description="The units forecast: adm1 (provinces) or adm2 (districts, issued split "
        "from the province series' forecasts).",
    )
    model: str = DEFAULT_MODEL
    horizons: tuple[int, ...] = Field(default=(), description="Default: 1 to the maximum.")
    seed: int = 0
    pool_with: tuple[str, ...] = Field(
        default=(),
        description="Other countries (ISO 3166-1 alpha-3) whose units of the same source and "
        "frequency the model also learns from: a small country has little history alone. The "
        "series, its backtest scores and its forecasts stay this country's.",
    )
    cross_border: bool = Field(
        default=False,
        description="Add events across the border (other defined countries' units touching "
        "each unit, same source) as features. Off: no real data to judge it ships.",
    )
    severe_threshold: int = Field(default=25, ge=1)
    backtest_origins: int = Field(default=72, ge=1, le=240)
    backtest_horizons: tuple[int, ...] = Field(
        default=(), description="Default: the standard ones."
    )
    n_jobs: int = Field(default=2, ge=1, le=64)
    gate_brier_tolerance: float = Field(default=0.005, ge=0.0, le=1.0)
    gate_max_calibration_error: float = Field(default=0.06, gt=0.0, le=1.0)

    @model_validator(mode="before")
    @classmethod
    def _default_horizons(cls, values: Any) -> Any:
        # Resolve the defaults now, so the manifest records the horizons actually used.
        if isinstance(values, dict):
            freq = values.get("freq", Frequency.MONTH)
            known = (
                CADENCES[Frequency(freq)] if isinstance(freq, str) and freq in CADENCES else None
            )
            if known is not None:
                values = dict(values)
                values["horizons"] = values.get("horizons") or tuple(
                    range(1, known.max_horizon + 1)
                )
                values["backtest_horizons"] = values.get("backtest_horizons") or known.gate_horizons
        return values

    @field_validator("pool_with")
    @classmethod
    def _countries(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        codes = tuple(dict.fromkeys(code.strip().upper() for code in value))
        bad = [c for c in codes if len(c) != 3 or not c.isalpha()]
        if bad:
            raise ValueError(f"pool_with takes ISO 3166-1 alpha-3 codes, not {bad}")
        return codes

    @property
    def series(self) -> Series:
        return Series(self.country, self.source, self.freq, self.level)

    @model_validator(mode="after")
    def _known_choices(self) -> TrainingConfig:
        self.series  # noqa: B018 (validates the source and country)
        if self.model not in FAMILIES:
            raise ValueError(f"unknown model {self.model!r}; known: {', '.join(FAMILIES)}")
        limit = CADENCES[self.freq].max_horizon
        if not self.horizons or not self.backtest_horizons:
            raise ValueError("horizons must not be empty")
        for name in ("horizons", "backtest_horizons"):
            bad = [h for h in getattr(self, name) if not 1 <= h <= limit]
            if bad:
                raise ValueError(f"{name} must lie between 1 and {limit} for {self.freq}: {bad}")
        return self


def load_config(path: Path | None, **overrides: object) -> TrainingConfig:
    """Read a JSON or TOML config file (or none), then apply command-line overrides."""
    values: dict[str, object] = {}
    if path is not None:
        try:
            text = path.read_text()
            values = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read config {path}: {exc}") from None
        if not isinstance(values, dict):
            raise ValueError(f"config {path} must hold a table of settings")
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return TrainingConfig.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors()
        )
        raise ValueError(f"invalid training config: {problems}") from None
