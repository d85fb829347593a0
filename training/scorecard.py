"""A version's backtest metrics as a value: its window, and each model's scores per horizon.

Stored as JSON in the registry (training.train writes it); read by the promotion gate, the
CLI and the models API through this one type.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

POOLED = "all"


@dataclass(frozen=True)
class Window:
    start: str
    end: str
    horizons: tuple[int, ...]

    def __str__(self) -> str:
        return f"{self.start}..{self.end}"


@dataclass(frozen=True)
class BacktestMetrics:
    """Scores by model, then by horizon ("1", "3", ... and POOLED), then by name."""

    main_model: str
    window: Window
    models: Mapping[str, Mapping[str, Mapping[str, float | None]]]

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> BacktestMetrics:
        window = value["window"]
        return cls(
            str(value["main_model"]),
            Window(str(window["start"]), str(window["end"]), tuple(window.get("horizons", ()))),
            value["models"],
        )

    @property
    def main(self) -> Mapping[str, float | None]:
        """The pooled scores of the version's own model."""
        return self.models[self.main_model][POOLED]

    @property
    def brier(self) -> float:
        return float(self.main["brier"])  # type: ignore[arg-type]

    @property
    def calibration_error(self) -> float:
        return float(self.main["calibration_error"])  # type: ignore[arg-type]
