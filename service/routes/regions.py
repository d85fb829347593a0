"""The regions ThreatCast forecasts for, and their boundaries, per country."""

from __future__ import annotations

import functools
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from shapely.geometry import mapping

from events.gazetteer import Gazetteer, RegionResolver
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


@router.get("/regions", response_model=RegionsPublic, responses=error_responses(422))
def list_regions(
    resolver: ResolverDep, country: CountryQuery = None, level: LevelQuery = "adm1"
) -> RegionsPublic:
    """Every region (of one country with `country`), by code; districts with `level=adm2`."""
    countries = _countries(resolver, country)
    if level == "adm1":
        data = [
            RegionPublic(code=region.code, name=region.name, country=region.country)
            for gazetteer in countries
            for region in gazetteer.regions
        ]
    else:
        data = [
            RegionPublic(code=unit.code, name=unit.name, country=gazetteer.country,
                         level=level, parent=unit.parent)
            for gazetteer in countries
            if level in gazetteer.levels
            for unit in gazetteer.levels[level].units
        ]  # fmt: skip
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
    countries = tuple(g.country for g in _countries(resolver, country))
    if level == "adm2":
        return _district_boundaries(resolver, countries)
    return _boundaries(resolver, countries)


@functools.lru_cache(maxsize=16)
def _district_boundaries(
    resolver: RegionResolver, countries: tuple[str, ...]
) -> GeoJsonFeatureCollection:
    features = [
        {
            "type": "Feature",
            "id": unit.code,
            "properties": {
                "code": unit.code,
                "name": unit.name,
                "country": code,
                "parent": unit.parent,
            },
            "geometry": mapping(level.shapes[unit.code]),
        }
        for code in countries
        if (level := resolver.gazetteers[code].levels.get("adm2")) is not None
        for unit in level.units
    ]
    return GeoJsonFeatureCollection(features=features)


@functools.lru_cache(maxsize=32)
def _boundaries(resolver: RegionResolver, countries: tuple[str, ...]) -> GeoJsonFeatureCollection:
    """Built once per set of definitions (a resolver) and countries asked for."""
    features = [
        {
            "type": "Feature",
            "id": region.code,
            "properties": {"code": region.code, "name": region.name, "country": region.country},
            "geometry": mapping(gazetteer.shapes[region.code]),
        }
        for gazetteer in (resolver.gazetteers[code] for code in countries)
        if gazetteer.has_boundaries
        for region in gazetteer.regions
    ]
    return GeoJsonFeatureCollection(features=features)
