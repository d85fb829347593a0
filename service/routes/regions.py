"""The regions ThreatCast forecasts for, and their boundaries, per country."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from events.gazetteer import Gazetteer, RegionResolver
from events.levels import FIRST_LEVEL
from service.dependencies import ResolverDep
from service.errors import ApiError, error_responses
from service.schemas import (
    ActorGroupPublic,
    CountriesPublic,
    CountryPublic,
    GeoJsonFeatureCollection,
    RegionPublic,
    RegionsPublic,
)

router = APIRouter(prefix="/v1", tags=["regions"])
LevelQuery = Annotated[
    Literal["adm1", "adm2"],
    Query(description="adm1: first-level units (provinces); adm2: districts, where defined."),
]
CountryQuery = Annotated[
    str | None,
    Query(
        max_length=3,
        description="ISO 3166-1 alpha-3 code, e.g. AFG; default: every defined country.",
    ),
]


def _countries(resolver: RegionResolver, country: str | None) -> list[Gazetteer]:
    if country is None:
        return [resolver.gazetteers[code] for code in sorted(resolver.gazetteers)]
    found = resolver.gazetteers.get(country.upper())
    if found is None:
        raise ApiError(
            422, f"unknown country {country!r}", {"valid_countries": sorted(resolver.gazetteers)}
        )
    return [found]


@router.get("/countries", response_model=CountriesPublic)
def list_countries(resolver: ResolverDep) -> CountriesPublic:
    """Every defined country: its units, whether it has boundaries, the actor groups it tracks."""
    data = [
        CountryPublic(
            code=country.country,
            name=country.name,
            units=len(country.regions),
            boundaries=country.has_boundaries,
            actor_groups=[
                ActorGroupPublic(group=g, label=country.actors.label(g))
                for g in country.actors.tracked
            ],
        )
        for country in _countries(resolver, None)
    ]
    return CountriesPublic(data=data, count=len(data))


def _units(gazetteer: Gazetteer, level: str) -> list[RegionPublic]:
    """A country's units at `level`: its regions, or a lower level's units (none if it has no
    such level)."""
    if level == FIRST_LEVEL:
        return [
            RegionPublic(code=r.code, name=r.name, country=gazetteer.country)
            for r in gazetteer.regions
        ]
    units = gazetteer.levels[level].units if level in gazetteer.levels else ()
    return [
        RegionPublic(code=u.code, name=u.name, country=gazetteer.country, level=level,
                     parent=u.parent)
        for u in units
    ]  # fmt: skip


def _shapes(gazetteer: Gazetteer, level: str) -> Mapping[str, BaseGeometry]:
    if level == FIRST_LEVEL:
        return gazetteer.shapes  # empty for a country defined without boundaries
    return gazetteer.levels[level].shapes if level in gazetteer.levels else {}


@router.get("/regions", response_model=RegionsPublic, responses=error_responses(422))
def list_regions(
    resolver: ResolverDep, country: CountryQuery = None, level: LevelQuery = "adm1"
) -> RegionsPublic:
    """Every region (of one country with `country`), by code; districts with `level=adm2`."""
    data = [unit for g in _countries(resolver, country) for unit in _units(g, level)]
    return RegionsPublic(data=data, count=len(data))


@router.get(
    "/regions.geojson", response_model=GeoJsonFeatureCollection, responses=error_responses(422)
)
def region_boundaries(
    resolver: ResolverDep, country: CountryQuery = None, level: LevelQuery = "adm1"
) -> GeoJsonFeatureCollection:
    """Region boundaries as GeoJSON, each unit one feature (parts a boundary file splits, such
    as a merged province's, are one). A country defined without boundaries has none; districts
    (`level=adm2`) carry their province as `parent`."""
    return _boundaries(resolver, tuple(g.country for g in _countries(resolver, country)), level)


@functools.lru_cache(maxsize=32)
def _boundaries(
    resolver: RegionResolver, countries: tuple[str, ...], level: str
) -> GeoJsonFeatureCollection:
    """Built once per set of definitions (a resolver), countries and level asked for."""
    features = []
    for gazetteer in (resolver.gazetteers[code] for code in countries):
        shapes = _shapes(gazetteer, level)
        for unit in _units(gazetteer, level) if shapes else ():
            properties = unit.model_dump(include={"code", "name", "country", "parent"})
            if unit.parent is None:
                del properties["parent"]
            features.append(
                {
                    "type": "Feature",
                    "id": unit.code,
                    "properties": properties,
                    "geometry": mapping(shapes[unit.code]),
                }
            )
    return GeoJsonFeatureCollection(features=features)
