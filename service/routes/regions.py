"""The regions ThreatCast forecasts for, and their boundaries."""

from __future__ import annotations

from fastapi import APIRouter
from shapely.geometry import mapping

from service.dependencies import ResolverDep
from service.schemas import GeoJsonFeatureCollection, RegionPublic, RegionsPublic

router = APIRouter(prefix="/v1", tags=["regions"])


@router.get("/regions", response_model=RegionsPublic)
def list_regions(resolver: ResolverDep) -> RegionsPublic:
    """Every region, by ISO 3166-2 code."""
    data = [
        RegionPublic(code=region.code, name=region.name, country=region.country)
        for gazetteer in resolver.gazetteers.values()
        for region in gazetteer.regions
    ]
    return RegionsPublic(data=data, count=len(data))


@router.get("/regions.geojson", response_model=GeoJsonFeatureCollection)
def region_boundaries(resolver: ResolverDep) -> GeoJsonFeatureCollection:
    """Region boundaries as GeoJSON (Khyber Pakhtunkhwa with the former FATA as one polygon)."""
    features = [
        {
            "type": "Feature",
            "id": region.code,
            "properties": {"code": region.code, "name": region.name, "country": region.country},
            "geometry": mapping(gazetteer.shapes[region.code]),
        }
        for gazetteer in resolver.gazetteers.values()
        if gazetteer.boundary_ids
        for region in gazetteer.regions
    ]
    return GeoJsonFeatureCollection(features=features)
