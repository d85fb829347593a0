"""Region boundaries from TopoJSON files, as shapely geometries, and which of them touch."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from itertools import accumulate
from pathlib import Path
from typing import Any

from shapely import STRtree
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from events.bundled import BOUNDARIES_DIR

Position = list[float]


def _decode_arcs(topology: dict[str, Any]) -> list[list[Position]]:
    """Absolute coordinates of every arc (quantized arcs are delta-encoded)."""
    arcs: list[list[list[float]]] = topology["arcs"]
    transform = topology.get("transform")
    if transform is None:
        return arcs
    (sx, sy), (tx, ty) = transform["scale"], transform["translate"]
    decoded = []
    for arc in arcs:
        xs = accumulate(point[0] for point in arc)
        ys = accumulate(point[1] for point in arc)
        decoded.append([[x * sx + tx, y * sy + ty] for x, y in zip(xs, ys, strict=True)])
    return decoded


def _ring(arc_ids: Sequence[int], arcs: list[list[Position]]) -> list[Position]:
    """Stitch arcs into a ring; a negative id ~i is arc i reversed, shared ends joined once."""
    ring: list[Position] = []
    for arc_id in arc_ids:
        points = arcs[arc_id] if arc_id >= 0 else arcs[~arc_id][::-1]
        ring.extend(points if not ring else points[1:])
    return ring


def _geojson_geometry(geometry: dict[str, Any], arcs: list[list[Position]]) -> dict[str, Any]:
    kind = geometry["type"]
    if kind == "Polygon":
        return {"type": kind, "coordinates": [_ring(r, arcs) for r in geometry["arcs"]]}
    if kind == "MultiPolygon":
        polygons = [[_ring(r, arcs) for r in polygon] for polygon in geometry["arcs"]]
        return {"type": kind, "coordinates": polygons}
    raise ValueError(f"unsupported TopoJSON geometry type {kind!r} (expected polygons)")


def load_topojson(
    path: Path, object_name: str, id_property: str | None = None
) -> dict[str, BaseGeometry]:
    """The geometries of one TopoJSON object, keyed by feature id (or by the property
    `id_property`, as geoBoundaries files key theirs: `shapeISO`, `shapeID`)."""
    topology = json.loads(path.read_text(encoding="utf-8"))
    try:
        collection = topology["objects"][object_name]
    except KeyError:
        raise ValueError(f"{path.name} has no object {object_name!r}") from None
    arcs = _decode_arcs(topology)
    return {
        _feature_id(item, id_property): shape(_geojson_geometry(item, arcs)).buffer(0)
        for item in collection["geometries"]
    }


def _feature_id(item: dict[str, Any], id_property: str | None) -> str:
    value = item.get("properties", {}).get(id_property) if id_property else item.get("id")
    if value is None:
        raise ValueError(f"a geometry has no {id_property or 'id'}")
    return str(value)


def locate(name: str, folder: Path) -> Path:
    """A boundary file named by a definition: beside it in `folder`, else a bundled one."""
    beside = folder / name
    return beside if beside.exists() else BOUNDARIES_DIR / name


def touching(
    shapes: Mapping[str, BaseGeometry], others: Mapping[str, BaseGeometry], tolerance: float
) -> dict[str, tuple[str, ...]]:
    """For each of `shapes`, the codes of `others` (in their order) within `tolerance` degrees
    of it, its own code left out: simplified boundaries rarely share exact edges."""
    codes = list(others)
    tree = STRtree([others[code] for code in codes])
    return {
        code: tuple(
            codes[i]
            for i in sorted(tree.query(geometry.buffer(tolerance), predicate="intersects"))
            if codes[i] != code
        )
        for code, geometry in shapes.items()
    }
