"""Defining a country a user brings data for: its first-level units from a boundary file
(geoBoundaries ADM1, or any TopoJSON with a name per geometry) or from the admin-1 names in a
data file, keyed by ISO 3166-2 code (pycountry), and written as a country definition."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pycountry

from events.gazetteer import Gazetteer, look_again
from events.names import normalize_name
from events.sources.aggregated import aggregated_layout, read_counts
from events.sources.base import DEFAULT_LIMITS, FileLimits
from events.sources.reader import read_events, read_header

_SUBDIVISION_CODE = re.compile(r"[A-Z]{2}-[A-Z0-9]{1,3}", re.ASCII)
_NAME_PROPERTIES = ("shapeName", "name", "NAME_1", "ADM1_EN", "admin1")
_ID_PROPERTIES = ("shapeID", "shapeISO")
MAX_UNITS = 500


class CountryError(ValueError):
    """The definition cannot be made: a bad code, file or aliases table."""


@dataclass(frozen=True)
class CountryDraft:
    """A country definition before it is written, with what could not be matched."""

    spec: dict[str, Any]
    boundary_file: Path | None
    # Units whose names matched no ISO 3166-2 subdivision (they got a code of their own).
    unmatched: tuple[str, ...]

    @property
    def country(self) -> str:
        return str(self.spec["country"])

    @property
    def units(self) -> int:
        return len(self.spec["regions"])


def country_record(code: str) -> Any:
    """The ISO 3166-1 entry for an alpha-3 code; CountryError if there is none."""
    found = pycountry.countries.get(alpha_3=code.strip().upper()) if len(code) == 3 else None
    if found is None:
        raise CountryError(f"{code[:10]!r} is not an ISO 3166-1 alpha-3 country code")
    return found


class _Codes:
    """ISO 3166-2 codes of a country's first-level units, matched by name; a name no
    subdivision has gets a code of its own ('IN-U01'), reported as unmatched."""

    def __init__(self, alpha2: str) -> None:
        self.alpha2 = alpha2
        subdivisions = pycountry.subdivisions.get(country_code=alpha2) or []  # type: ignore[no-untyped-call]
        top = [s for s in subdivisions if getattr(s, "parent_code", None) is None]
        self.by_name = {normalize_name(s.name): s.code for s in top}
        self.known = {s.code for s in top}
        self.taken: set[str] = set()
        self.unmatched: list[str] = []

    def code(self, name: str, offered: str | None = None) -> str:
        candidate = (offered or "").replace("_", "-").upper()
        if not (_SUBDIVISION_CODE.fullmatch(candidate) and candidate in self.known):
            candidate = self.by_name.get(normalize_name(name), "")
        if not candidate or candidate in self.taken:
            self.unmatched.append(name)
            candidate = f"{self.alpha2}-U{len(self.unmatched):02d}"
        self.taken.add(candidate)
        return candidate


def _topology(path: Path) -> tuple[str, list[dict[str, Any]]]:
    try:
        topology = json.loads(path.read_text(encoding="utf-8"))
        objects = topology["objects"]
        (name, collection), *rest = objects.items()
        geometries = collection["geometries"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CountryError(f"{path.name} is not a TopoJSON file ({exc!s:.100})") from None
    if rest:
        raise CountryError(f"{path.name} holds {len(objects)} objects; give one with one level")
    if not 0 < len(geometries) <= MAX_UNITS:
        raise CountryError(f"{path.name} has {len(geometries)} units; at most {MAX_UNITS}")
    return name, geometries


def _pick(properties: Mapping[str, Any], names: Iterable[str], what: str, path: Path) -> str:
    for name in names:
        if properties.get(name) not in (None, ""):
            return name
    raise CountryError(f"{path.name}: a unit has no {what} ({', '.join(names)})")


def from_boundaries(code: str, path: Path, name_property: str | None = None) -> CountryDraft:
    """A definition from a TopoJSON of first-level units (a geoBoundaries ADM1 file works)."""
    country = country_record(code)
    object_name, geometries = _topology(path)
    first = geometries[0].get("properties") or {}
    name_key = name_property or _pick(first, _NAME_PROPERTIES, "name", path)
    # geoBoundaries keys units by properties; other TopoJSON files by the geometry's id.
    id_key = next((k for k in _ID_PROPERTIES if first.get(k) not in (None, "")), None)
    codes = _Codes(country.alpha_2)
    regions, ids = [], {}
    for geometry in geometries:
        properties = geometry.get("properties") or {}
        name = properties.get(name_key)
        ident = properties.get(id_key) if id_key else geometry.get("id")
        if not name or ident in (None, ""):
            raise CountryError(f"{path.name}: a unit has no {name_key} or {id_key or 'id'}")
        if str(ident) in ids:
            raise CountryError(f"{path.name}: {id_key or 'id'} {ident!r} is given to two units")
        region_code = codes.code(str(name), properties.get("shapeISO"))
        ids[str(ident)] = region_code
        regions.append({"code": region_code, "name": str(name), "aliases": []})
    spec = _spec(country, regions)
    spec["boundaries"] = {
        "file": f"{country.alpha_3.lower()}_adm1.topo.json",
        "object": object_name,
        "id_property": id_key,
        "ids": ids,
    }
    return CountryDraft(spec, path, tuple(codes.unmatched))


def from_data(code: str, path: Path, limits: FileLimits = DEFAULT_LIMITS) -> CountryDraft:
    """A definition whose units are the admin-1 names a data file gives the country's rows
    (no boundaries: forecasts and the API work, the dashboard shows a table)."""
    country = country_record(code)
    if aggregated_layout(read_header(path, limits)) is not None:
        names = {row.admin1 for _, row in read_counts(path, limits).rows
                 if row.country == country.alpha_3}  # fmt: skip
    else:
        names = {event.admin1 for _, event in read_events(path, "auto", None, limits).events
                 if event.country == country.alpha_3 and event.admin1}  # fmt: skip
    if not names:
        raise CountryError(f"{path.name} has no rows of {country.alpha_3} with an admin-1 name")
    by_key: dict[str, str] = {}
    for name in sorted(names):
        by_key.setdefault(normalize_name(name), name)
    if len(by_key) > MAX_UNITS:
        raise CountryError(f"{path.name} names {len(by_key)} units of {country.alpha_3}")
    codes = _Codes(country.alpha_2)
    regions = [{"code": codes.code(name), "name": name, "aliases": []} for name in by_key.values()]
    return CountryDraft(_spec(country, regions), None, tuple(codes.unmatched))


def _spec(country: Any, regions: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "country": country.alpha_3,
        "name": getattr(country, "common_name", None) or country.name,
        "regions": sorted(regions, key=lambda r: r["code"]),
    }


def with_aliases(draft: CountryDraft, path: Path) -> CountryDraft:
    """Add the aliases of a CSV table (`name,code`): how sources spell units the matching
    missed. An unknown code is an error."""
    by_code = {r["code"]: r for r in draft.spec["regions"]}
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CountryError(f"cannot read aliases {path.name}: {exc!s:.100}") from None
    for line, row in enumerate(rows, start=2):
        name, code = (row.get("name") or "").strip(), (row.get("code") or "").strip()
        if not name or code not in by_code:
            raise CountryError(
                f"{path.name} line {line}: needs a name and one of the codes "
                f"{', '.join(sorted(by_code))[:200]}"
            )
        by_code[code]["aliases"].append(name)
    return draft


def write_definition(draft: CountryDraft, folder: Path) -> Gazetteer:
    """Check the definition loads, then write it (and its boundary file) into `folder`, each
    file by an atomic rename so a reader never sees half a definition."""
    folder.mkdir(parents=True, exist_ok=True)
    boundaries = draft.spec.get("boundaries")
    if draft.boundary_file is not None and boundaries:
        _atomic_copy(draft.boundary_file, folder / boundaries["file"])
    gazetteer = Gazetteer.from_spec(draft.spec, folder)  # names given twice are refused
    gazetteer.shapes  # noqa: B018 (every id maps to a unit, every shape reads)
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        staged = Path(scratch) / f"{draft.country}.json"
        staged.write_text(json.dumps(draft.spec, indent=2, ensure_ascii=False) + "\n", "utf-8")
        os.replace(staged, folder / f"{draft.country}.json")
    look_again()
    return gazetteer


def _atomic_copy(source: Path, target: Path) -> None:
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as handle:
        staged = Path(handle.name)
    try:
        shutil.copyfile(source, staged)
        os.replace(staged, target)
    finally:
        staged.unlink(missing_ok=True)
