"""Public response shapes of the HTTP API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class RegionPublic(BaseModel):
    code: str = Field(examples=["PK-KP"], description="ISO 3166-2 code.")
    name: str = Field(examples=["Khyber Pakhtunkhwa"])
    country: str = Field(examples=["PAK"], description="ISO 3166-1 alpha-3 code.")


class RegionsPublic(BaseModel):
    data: list[RegionPublic]
    count: int


class HealthPublic(BaseModel):
    status: Literal["ok"] = "ok"


class ReadinessPublic(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, str]


class GeoJsonFeatureCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[dict[str, Any]]
