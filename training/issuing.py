"""Issuing forecasts: load a verified model version and store what it forecasts."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine, delete, insert, select

from features.panel import build_panel
from features.periods import Frequency
from features.store.db import write_transaction
from features.store.schema import issued_forecasts
from models.base import FORECAST_COLUMNS
from models.direct import DirectForecaster
from training import registry
from training.artifacts import ArtifactError, load_artifact

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServingModel:
    record: registry.ModelVersion
    forecaster: DirectForecaster
    manifest: dict[str, Any]


def load_version(
    engine: Engine,
    artifact_root: Path,
    secret: str,
    *,
    version: str | None = None,
    freq: Frequency = "month",
    allow_version_mismatch: bool = False,
) -> ServingModel:
    """The named version, or the frequency's champion, verified before it is unpickled."""
    if version is not None:
        record = registry.get(engine, version)
    else:
        champion = registry.champion(engine, freq)
        if champion is None:
            raise registry.RegistryError(
                f"there is no {freq} champion yet; train one and `threatcast models promote` it"
            )
        record = champion
    model, manifest = load_artifact(
        artifact_root / record.artifact_dir,
        record.sha256,
        record.manifest_hmac,
        secret,
        allow_version_mismatch=allow_version_mismatch,
    )
    if not isinstance(model, DirectForecaster):
        raise ArtifactError(f"{record.version} does not hold a ThreatCast forecaster")
    return ServingModel(record, model, manifest)


def issue_forecasts(
    engine: Engine,
    serving: ServingModel,
    *,
    horizons: Sequence[int] | None = None,
    origin: str | None = None,
    replace: bool = True,
) -> pd.DataFrame:
    """Forecast from the newest period of the stored events (or `origin`), and store the rows.

    Issuing again for the same version and origin replaces that issue; with `replace=False` an
    existing issue is kept (several server processes may race to issue for a new champion).
    """
    record, model = serving.record, serving.forecaster
    country = serving.manifest.get("config", {}).get("country", "PAK")
    panel = build_panel(engine, model.spec.freq, country=country)
    origin = origin or str(panel["period"].max())
    if origin < record.as_of:
        raise ValueError(
            f"origin {origin} is before {record.version}'s data cutoff {record.as_of}: "
            "the model has seen what followed it"
        )
    chosen = tuple(horizons) if horizons else model.horizons
    table = model.predict(panel, origin, chosen)
    issued_at = datetime.now(UTC)
    rows = [
        {**{c: row[c] for c in FORECAST_COLUMNS if c != "model_version"}, "drivers": row["drivers"]}
        for row in table.to_dict(orient="records")
    ]
    same_issue = (issued_forecasts.c.version == record.version) & (
        issued_forecasts.c.origin == origin
    )
    with write_transaction(engine) as conn:
        if not replace and conn.execute(select(issued_forecasts.c.id).where(same_issue)).first():
            return table
        conn.execute(delete(issued_forecasts).where(same_issue))
        conn.execute(
            insert(issued_forecasts),
            [
                {**row, "version": record.version, "freq": record.freq, "issued_at": issued_at}
                for row in rows
            ],
        )
    log.info("issued %d forecasts from %s at origin %s", len(rows), record.version, origin)
    return table
