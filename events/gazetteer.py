"""Regions by ISO 3166-2 code: name variants and boundaries, one data file per country."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property, lru_cache
from pathlib import Path

from shapely import union_all
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry
from shapely.prepared import PreparedGeometry, prep

from events.boundaries import load_topojson
from events.bundled import BOUNDARIES_DIR, GAZETTEER_DIR
from events.canonical import PROVINCE_LEVEL_PRECISION, Event

# Words that vary between releases without changing which unit is meant.
_GENERIC_WORDS = frozenset({"province"})


@lru_cache(maxsize=4096)
def normalize_name(name: str) -> str:
    """A spelling-insensitive key: case, accents, '&', dots, hyphens and 'province' ignored."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").lower()
    text = text.replace("&", " and ").replace(".", "")
    words = re.sub(r"[^a-z0-9]+", " ", text).split()
    return " ".join(word for word in words if word not in _GENERIC_WORDS)


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    name: str
    country: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Gazetteer:
    """One country's first-level units."""

    country: str
    name: str
    regions: tuple[Region, ...]
    boundaries_file: Path
    boundaries_object: str
    boundary_ids: Mapping[str, str]
    elections: tuple[date, ...] = ()
    _by_name: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name: dict[str, str] = {}
        for region in self.regions:
            for variant in (region.name, region.code, *region.aliases):
                key = normalize_name(variant)
                if by_name.setdefault(key, region.code) != region.code:
                    raise ValueError(f"{self.country}: name {variant!r} is given to two regions")
        object.__setattr__(self, "_by_name", by_name)

    @classmethod
    def from_file(cls, path: Path) -> Gazetteer:
        spec = json.loads(path.read_text(encoding="utf-8"))
        country = spec["country"]
        regions = tuple(
            Region(r["code"], r["name"], country, tuple(r.get("aliases", ())))
            for r in spec["regions"]
        )
        boundaries = spec["boundaries"]
        beside = path.parent / boundaries["file"]
        return cls(
            country=country,
            name=spec["name"],
            regions=regions,
            boundaries_file=beside if beside.exists() else BOUNDARIES_DIR / boundaries["file"],
            boundaries_object=boundaries["object"],
            boundary_ids=dict(boundaries["ids"]),
            elections=tuple(date.fromisoformat(day) for day in spec.get("elections", ())),
        )

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(region.code for region in self.regions)

    def code_for_name(self, name: str | None) -> str | None:
        return self._by_name.get(normalize_name(name)) if name else None

    @cached_property
    def shapes(self) -> dict[str, BaseGeometry]:
        """One geometry per region code (parts of the boundary file merged, e.g. NWFP + FATA)."""
        parts = load_topojson(self.boundaries_file, self.boundaries_object)
        unknown = set(parts) - set(self.boundary_ids)
        if unknown:
            raise ValueError(f"{self.boundaries_file.name}: ids {sorted(unknown)} map to no region")
        return {
            code: union_all([parts[pid] for pid, c in self.boundary_ids.items() if c == code])
            for code in self.codes
        }

    def neighbours(self, tolerance: float = 0.01) -> dict[str, tuple[str, ...]]:
        """Regions sharing a border (within `tolerance` degrees, for simplified boundaries)."""
        shapes = self.shapes
        return {
            code: tuple(
                other
                for other in self.codes
                if other != code and shape.buffer(tolerance).intersects(shapes[other])
            )
            for code, shape in shapes.items()
        }

    @cached_property
    def _prepared(self) -> dict[str, PreparedGeometry]:
        return {code: prep(geometry) for code, geometry in self.shapes.items()}

    def code_for_point(self, longitude: float, latitude: float) -> str | None:
        point = Point(longitude, latitude)
        for code, geometry in self._prepared.items():
            if geometry.covers(point):
                return code
        return None


@dataclass(frozen=True, slots=True)
class Placement:
    """Where an event was placed: its region code and how (by 'name' or 'point'), or nowhere."""

    region: str | None
    method: str | None


UNRESOLVED = Placement(None, None)


class RegionResolver:
    """Resolves events to region codes: by admin-1 name, else by point for precise locations."""

    def __init__(self, gazetteers: Iterable[Gazetteer]) -> None:
        self.gazetteers = {g.country: g for g in gazetteers}

    def place(self, event: Event) -> Placement:
        gazetteer = self.gazetteers.get(event.country)
        if gazetteer is None:
            return UNRESOLVED
        code = gazetteer.code_for_name(event.admin1)
        if code is not None:
            return Placement(code, "name")
        precise = (
            event.location_precision is not None
            and event.location_precision <= PROVINCE_LEVEL_PRECISION
        )
        if precise and event.latitude is not None and event.longitude is not None:
            code = gazetteer.code_for_point(event.longitude, event.latitude)
            if code is not None:
                return Placement(code, "point")
        return UNRESOLVED

    def region_names(self) -> dict[str, str]:
        """Every region's name by code, in code order."""
        regions = (r for g in self.gazetteers.values() for r in g.regions)
        return {r.code: r.name for r in sorted(regions, key=lambda r: r.code)}

    def region(self, code: str) -> Region:
        for gazetteer in self.gazetteers.values():
            for region in gazetteer.regions:
                if region.code == code:
                    return region
        raise KeyError(code)


def load_gazetteers(directory: Path = GAZETTEER_DIR) -> list[Gazetteer]:
    files = sorted(directory.glob("*.json"))
    if not files:
        raise FileNotFoundError(f"no gazetteer files (*.json) in {directory}")
    return [Gazetteer.from_file(path) for path in files]


@lru_cache(maxsize=1)
def default_resolver() -> RegionResolver:
    return RegionResolver(load_gazetteers())
