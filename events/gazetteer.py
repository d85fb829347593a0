"""A country's definition: its regions by ISO 3166-2 code with the names sources use, their
boundaries, calendar facts and actor groups. One data file per country, bundled
(`events/data/countries/`) or added by a user (`threatcast countries add`)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from shapely import union_all
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry
from shapely.prepared import PreparedGeometry, prep

from events.actors import ActorClassifier
from events.boundaries import load_topojson, locate, touching
from events.bundled import COUNTRIES_DIR
from events.canonical import PROVINCE_LEVEL_PRECISION, Event
from events.levels import FIRST_LEVEL, UNPLACED, Level
from events.names import name_table, normalize_name

# A definition is named by its country's ISO 3166-1 alpha-3 code: PAK.json.
_DEFINITION_NAME = re.compile(r"[A-Z]{3}\.json", re.ASCII)


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    name: str
    country: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Gazetteer:
    """One country's definition: first-level units, boundaries, elections and actor groups.
    Without a boundary file (`boundaries_file` None) units are known by name alone."""

    country: str
    name: str
    regions: tuple[Region, ...]
    boundaries_file: Path | None
    boundaries_object: str
    boundary_ids: Mapping[str, str]
    elections: tuple[date, ...] = ()
    actors: ActorClassifier = field(default_factory=ActorClassifier)
    # The TopoJSON property holding a geometry's id (None: the geometry's own `id`).
    id_property: str | None = None
    # Levels below the first, by name ("adm2": districts), each unit inside one region.
    levels: Mapping[str, Level] = field(default_factory=dict)
    _by_name: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        spellings = ((r.code, (r.name, r.code, *r.aliases)) for r in self.regions)
        by_name = name_table(spellings, normalize_name, self.country, "regions")
        object.__setattr__(self, "_by_name", by_name)
        for level in self.levels.values():
            strangers = {u.parent for u in level.units} - set(self.codes)
            if strangers:
                raise ValueError(f"{self.country}: {level.name}s in unknown regions {strangers}")

    @classmethod
    def from_file(cls, path: Path) -> Gazetteer:
        try:
            return cls.from_spec(json.loads(path.read_text(encoding="utf-8")), path.parent)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path.name}: not a country definition ({exc!s:.200})") from None

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], folder: Path) -> Gazetteer:
        """From a definition's JSON; its boundary file lies in `folder` or the bundled ones."""
        country = spec["country"]
        regions = tuple(
            Region(r["code"], r["name"], country, tuple(r.get("aliases", ())))
            for r in spec["regions"]
        )
        boundaries = spec.get("boundaries") or {}
        return cls(
            country=country,
            name=spec["name"],
            regions=regions,
            boundaries_file=locate(boundaries["file"], folder) if boundaries else None,
            boundaries_object=boundaries.get("object", ""),
            boundary_ids=dict(boundaries.get("ids", {})),
            elections=tuple(date.fromisoformat(day) for day in spec.get("elections", ())),
            actors=ActorClassifier.from_spec(spec.get("actor_groups")),
            id_property=boundaries.get("id_property"),
            levels={
                name: Level.from_spec(level, folder)
                for name, level in (spec.get("levels") or {}).items()
            },
        )

    @property
    def has_boundaries(self) -> bool:
        return self.boundaries_file is not None

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(region.code for region in self.regions)

    def code_for_name(self, name: str | None) -> str | None:
        return self._by_name.get(normalize_name(name)) if name else None

    def unit_parents(self, level: str) -> dict[str, str]:
        """Each unit a series of `level` forecasts, to its region: the regions themselves at
        the first level; below it, the level's units and each region's remainder
        (`<region code>-UNPLACED`: events that can be placed only in the region)."""
        if level == FIRST_LEVEL:
            return {code: code for code in self.codes}
        if level not in self.levels:
            raise ValueError(
                f"{self.name} has no {level} level; its levels: "
                f"{', '.join([FIRST_LEVEL, *self.levels])}"
            )
        remainders = {f"{code}-{UNPLACED}": code for code in self.codes}
        return {**dict(sorted(self.levels[level].parents.items())), **remainders}

    def unit_names(self, level: str) -> dict[str, str]:
        """The names of the units a series of `level` forecasts, by code (none for a level
        the country does not define)."""
        names = {r.code: r.name for r in self.regions}
        if level == FIRST_LEVEL:
            return dict(sorted(names.items()))
        if level not in self.levels:
            return {}
        units = {u.code: u.name for u in self.levels[level].units}
        remainders = {f"{c}-{UNPLACED}": f"{n}, not placed in a district" for c, n in names.items()}
        return dict(sorted({**units, **remainders}.items()))

    @cached_property
    def shapes(self) -> dict[str, BaseGeometry]:
        """One geometry per region code (parts of the boundary file merged, e.g. NWFP + FATA)."""
        if self.boundaries_file is None:
            return {}
        parts = load_topojson(self.boundaries_file, self.boundaries_object, self.id_property)
        unknown = set(parts) - set(self.boundary_ids)
        if unknown:
            raise ValueError(f"{self.boundaries_file.name}: ids {sorted(unknown)} map to no region")
        return {
            code: union_all([parts[pid] for pid, c in self.boundary_ids.items() if c == code])
            for code in self.codes
        }

    def neighbours(self, tolerance: float = 0.01) -> dict[str, tuple[str, ...]]:
        """Regions sharing a border (within `tolerance` degrees, for simplified boundaries)."""
        return touching(self.shapes, self.shapes, tolerance)

    @cached_property
    def _prepared(self) -> dict[str, PreparedGeometry]:
        return {code: prep(geometry) for code, geometry in self.shapes.items()}

    def code_for_point(self, longitude: float, latitude: float) -> str | None:
        if not self._prepared:
            return None
        point = Point(longitude, latitude)
        for code, geometry in self._prepared.items():
            if geometry.covers(point):
                return code
        return None


@dataclass(frozen=True, slots=True)
class Placement:
    """Where an event was placed: its region code and how (by 'name' or 'point'), or nowhere;
    and its district, with what placing it found (`DistrictCheck`)."""

    region: str | None
    method: str | None
    district: str | None = None
    district_check: str | None = None


UNRESOLVED = Placement(None, None)
# UCDP's where_prec 3 is "a second-order administrative division": the finest precision that
# says which district; GTD's specificity and ACLED's geo_precision are mapped onto this scale.
DISTRICT_LEVEL_PRECISION = 3
DISTRICT_LEVEL = "adm2"


class DistrictCheck:
    """What placing an event in a district found, as the ingest report counts it."""

    PLACED = "placed"  # by its coordinates, in its region, agreeing with its admin-2 name
    NAME_DISAGREES = "name_disagrees"  # placed by coordinates; its admin-2 name says another
    # Its point lies in no district of its region but within SNAP_DEGREES of one (boundaries
    # are simplified, and two files draw a province's edge differently): placed in that one.
    SNAPPED = "snapped"
    FAR_OUTSIDE = "far_outside"  # farther from its region's districts: unplaced
    IMPRECISE = "imprecise"  # its location says only the region or the country: unplaced


# About 11 km: the largest gap between two boundary files' edges seen on GED 22.1's points.
SNAP_DEGREES = 0.1


def _located(event: Event, finest: int) -> bool:
    """Whether the event has coordinates at least as precise as `finest` (UCDP's scale)."""
    return (
        event.location_precision is not None
        and event.location_precision <= finest
        and event.latitude is not None
        and event.longitude is not None
    )


def _district(level: Level, event: Event, region: str) -> tuple[str | None, str]:
    """The district of an event placed in `region`: by its point, when its precision says the
    district, and only inside its region (a province keeps what it cannot place)."""
    if not _located(event, DISTRICT_LEVEL_PRECISION):
        return None, DistrictCheck.IMPRECISE
    longitude, latitude = float(event.longitude), float(event.latitude)  # type: ignore[arg-type]
    code = level.code_for_point(longitude, latitude)
    if code is None or level.parents[code] != region:
        near = level.nearest_in(region, longitude, latitude, SNAP_DEGREES)
        return near, DistrictCheck.SNAPPED if near is not None else DistrictCheck.FAR_OUTSIDE
    named = level.code_for_name(event.admin2)
    if named is not None and named != code:
        return code, DistrictCheck.NAME_DISAGREES
    return code, DistrictCheck.PLACED


class RegionResolver:
    """Resolves events to region codes: by admin-1 name, else by point for precise locations."""

    def __init__(self, gazetteers: Iterable[Gazetteer]) -> None:
        self.gazetteers = {g.country: g for g in gazetteers}

    def place(self, event: Event) -> Placement:
        placed = self._region(event)
        gazetteer = self.gazetteers.get(event.country)
        level = gazetteer.levels.get(DISTRICT_LEVEL) if gazetteer is not None else None
        if level is None or placed.region is None:
            return placed
        district, check = _district(level, event, placed.region)
        return Placement(placed.region, placed.method, district, check)

    def _region(self, event: Event) -> Placement:
        gazetteer = self.gazetteers.get(event.country)
        if gazetteer is None:
            return UNRESOLVED
        code = gazetteer.code_for_name(event.admin1)
        if code is not None:
            return Placement(code, "name")
        if not gazetteer.has_boundaries:
            return UNRESOLVED
        if _located(event, PROVINCE_LEVEL_PRECISION):
            code = gazetteer.code_for_point(event.longitude, event.latitude)  # type: ignore[arg-type]
            if code is not None:
                return Placement(code, "point")
        return UNRESOLVED

    def region_names(self) -> dict[str, str]:
        """Every region's name by code, in code order (a copy: callers may keep it)."""
        return dict(self._names)

    @cached_property
    def _names(self) -> dict[str, str]:
        regions = (r for g in self.gazetteers.values() for r in g.regions)
        return {r.code: r.name for r in sorted(regions, key=lambda r: r.code)}

    def region(self, code: str) -> Region:
        for gazetteer in self.gazetteers.values():
            for region in gazetteer.regions:
                if region.code == code:
                    return region
        raise KeyError(code)


def load_gazetteers(*directories: Path) -> list[Gazetteer]:
    """The country definitions in `directories` (the bundled ones when none is given); a later
    folder's definition of a country replaces an earlier one's."""
    folders = directories or (COUNTRIES_DIR,)
    found: dict[str, Gazetteer] = {}
    for folder in folders:
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else ():
            if not _DEFINITION_NAME.fullmatch(path.name):
                continue  # a boundary file beside the definitions
            gazetteer = Gazetteer.from_file(path)
            found[gazetteer.country] = gazetteer
    if not found:
        raise FileNotFoundError(
            f"no country definitions (*.json) in {', '.join(map(str, folders))}"
        )
    return list(found.values())


# Folders of countries users added (THREATCAST_HOME/countries), read after the bundled ones.
_user_folders: tuple[Path, ...] = ()


def use_country_folders(*folders: Path) -> None:
    """Read user-added country definitions from `folders` too (set once from the settings)."""
    global _user_folders
    _user_folders = tuple(folders)


def _stamp(folders: tuple[Path, ...]) -> tuple[tuple[str, int], ...]:
    """What changes when a definition is added, changed or removed in `folders`."""
    stamps = []
    for folder in folders:
        try:
            stamps.append((str(folder), folder.stat().st_mtime_ns))
        except FileNotFoundError:
            stamps.append((str(folder), 0))
    return tuple(stamps)


@lru_cache(maxsize=4)
def _resolver(folders: tuple[Path, ...], stamp: tuple[tuple[str, int], ...]) -> RegionResolver:
    return RegionResolver(load_gazetteers(COUNTRIES_DIR, *folders))


# Servers ask on every request: the folders are looked at once a second at most.
_RESTAT_SECONDS = 1.0
_last_look: tuple[tuple[Path, ...], float, tuple[tuple[str, int], ...]] | None = None


def look_again() -> None:
    """Read the folders at the next call: this process has just written to one."""
    global _last_look
    _last_look = None


def _current_stamp(folders: tuple[Path, ...]) -> tuple[tuple[str, int], ...]:
    global _last_look
    now = time.monotonic()
    if _last_look is not None:
        seen, at, stamp = _last_look
        if seen == folders and now - at < _RESTAT_SECONDS:
            return stamp
    stamp = _stamp(folders)
    _last_look = (folders, now, stamp)
    return stamp


def default_resolver() -> RegionResolver:
    """Every defined country: the bundled ones and those users added, re-read when a user's
    folder changes (so a country added by the CLI reaches running servers within a second)."""
    return _resolver(_user_folders, _current_stamp(_user_folders))
