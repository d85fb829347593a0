"""A second level of units inside a country's first (districts in provinces): each unit with a
stable code, its parent unit, the names sources use, and its boundary; points are placed by an
STRtree over the boundaries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from shapely import STRtree
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from events.boundaries import load_topojson, locate, touching
from events.names import name_table, normalize_name

# A country's first-level units (provinces); series and panels of lower levels name theirs.
FIRST_LEVEL = "adm1"
# A region's remainder below the first level, `<region code>-UNPLACED`: its events that can be
# placed only in the region, never in an invented unit.
UNPLACED = "UNPLACED"
# Words sources add to a district's name without changing which district is meant.
_UNIT_WORDS = frozenset({"district", "agency", "tehsil"})


@dataclass(frozen=True, slots=True)
class Unit:
    code: str
    name: str
    parent: str
    aliases: tuple[str, ...] = ()


def unit_key(name: str) -> str:
    """A spelling-insensitive key for a district's name ('Khyber agency' is 'khyber')."""
    return " ".join(w for w in normalize_name(name).split() if w not in _UNIT_WORDS)


@dataclass(frozen=True)
class Level:
    """One level below the first: its units and their boundaries."""

    name: str
    units: tuple[Unit, ...]
    boundaries_file: Path
    boundaries_object: str
    id_property: str | None
    boundary_ids: Mapping[str, str]
    _by_name: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        spellings = ((u.code, (u.name, *u.aliases)) for u in self.units)
        object.__setattr__(self, "_by_name", name_table(spellings, unit_key, self.name, "units"))

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], folder: Path) -> Level:
        boundaries = spec["boundaries"]
        units = tuple(
            Unit(u["code"], u["name"], u["parent"], tuple(u.get("aliases", ())))
            for u in spec["units"]
        )
        return cls(
            name=spec.get("name", "unit"),
            units=units,
            boundaries_file=locate(boundaries["file"], folder),
            boundaries_object=boundaries["object"],
            id_property=boundaries.get("id_property"),
            boundary_ids={u["boundary_id"]: u["code"] for u in spec["units"]},
        )

    @cached_property
    def parents(self) -> dict[str, str]:
        return {unit.code: unit.parent for unit in self.units}

    def code_for_name(self, name: str | None) -> str | None:
        return self._by_name.get(unit_key(name)) if name else None

    @cached_property
    def shapes(self) -> dict[str, BaseGeometry]:
        parts = load_topojson(self.boundaries_file, self.boundaries_object, self.id_property)
        unknown = set(parts) - set(self.boundary_ids)
        if unknown:
            raise ValueError(
                f"{self.boundaries_file.name}: ids {sorted(unknown)[:3]} map to no unit"
            )
        return {self.boundary_ids[pid]: shape for pid, shape in parts.items()}

    @cached_property
    def _tree(self) -> tuple[STRtree, list[str]]:
        codes = sorted(self.shapes)
        return STRtree([self.shapes[code] for code in codes]), codes

    def nearest_in(
        self, parent: str, longitude: float, latitude: float, degrees: float
    ) -> str | None:
        """The unit of `parent` nearest to the point, if within `degrees` of it."""
        point = Point(longitude, latitude)
        near = [
            (self.shapes[unit.code].distance(point), unit.code)
            for unit in self.units
            if unit.parent == parent
        ]
        distance, code = min(near, default=(float("inf"), None))
        return code if distance <= degrees else None

    def neighbours(self, tolerance: float = 0.01) -> dict[str, tuple[str, ...]]:
        """Units sharing a border (within `tolerance` degrees, for simplified boundaries)."""
        by_code = {code: self.shapes[code] for code in sorted(self.shapes)}
        return touching(by_code, by_code, tolerance)

    def code_for_point(self, longitude: float, latitude: float) -> str | None:
        """The unit whose boundary covers the point (the first by code on a shared edge)."""
        tree, codes = self._tree
        hits = tree.query(Point(longitude, latitude), predicate="intersects")
        return codes[min(hits)] if len(hits) else None
