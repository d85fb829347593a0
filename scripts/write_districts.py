"""Write Pakistan's district level into its country definition (events/data/countries/PAK.json).

    .venv/bin/python scripts/write_districts.py

Each of the 126 districts of the geoBoundaries ADM2 file (2019) gets a stable code (its
province's ISO 3166-2 code and its name), its province from geometry (the province holding most
of its area; the file has no province field) and the spellings UCDP's `adm_2` uses for it. Run
again after changing the tables below; the output is deterministic.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from events.boundaries import load_topojson
from events.gazetteer import Gazetteer

ROOT = Path(__file__).resolve().parent.parent
DEFINITION = ROOT / "events" / "data" / "countries" / "PAK.json"
BOUNDARIES = "pakistan_adm2_geoboundaries.topo.json"
OBJECT = "PAK-ADM2-60131773"
# Natural Earth's coarse province edges put most of Jafarabad in Sindh; it is in Balochistan.
PROVINCE_FIXES = {"Jafarabad": "PK-BA"}
# How UCDP spells districts the 2019 file names otherwise, or that it folds into another unit
# (districts created later, Azad Kashmir's and Karachi's districts, renamed ones). "district"
# and "agency" need no alias: names are compared without them.
ALIASES = {
    "Azad Kashmir": ["Neelam", "Neelum", "Kotli", "Poonch", "Bhimber", "Muzaffarabad", "Bagh",
                     "Mirpur", "Sudhnati", "Sudhnoti", "Hattian", "Hattian Bala", "Haveli",
                     "Jhelum Valley", "Azad Jammu and Kashmir"],
    "Islamabad Capital Territory": ["Islamabad", "Islamabad Capital territory"],
    "Karachi": ["Karachi East", "Karachi West", "Karachi South", "Karachi Central", "Malir",
                "Korangi", "Keamari"],
    "Nawabshah": ["Shaheed Benazirabad", "Shaheed Benazir Abad"],
    "Qambar Shahdadkot": ["Kambar Shahdadkot", "Qambar Shahdad Kot", "Kamber"],
    "Qilla Abdullah": ["Killa Abdullah", "Chaman"],
    "Qilla Saifullah": ["Killa Saifullah"],
    "Nushki": ["Noshki"],
    "Kachhi": ["Bolan"],
    "Kech": ["Turbat"],
    "Lasbela": ["Hub"],
    "Zhob": ["Sherani"],
    "Kharan": ["Washuk"],
    "Sibi": ["Harnai", "Lehri"],
    "Loralai": ["Duki"],
    "Jafarabad": ["Sohbatpur"],
    "Mansehra": ["Torghar", "Tor Ghar"],
    "Thatta": ["Sujawal"],
    "Jhang": ["Chiniot"],
    "Kohistan": ["Upper Kohistan", "Lower Kohistan", "Kolai Palas"],
    "Chitral": ["Upper Chitral", "Lower Chitral"],
    "Malakand": ["Malakand PA", "Malakand Protected Area"],
    "Diamer": ["Diamir"],
    "Dera Ismail Khan": ["D.I. Khan", "DI Khan"],
    "Dera Ghazi Khan": ["D.G. Khan", "DG Khan"],
}  # fmt: skip


def district_code(province: str, name: str) -> str:
    return f"{province}-{re.sub(r'[^A-Z0-9]+', '_', name.upper()).strip('_')}"


def main() -> None:
    spec = json.loads(DEFINITION.read_text(encoding="utf-8"))
    provinces = Gazetteer.from_spec(spec, DEFINITION.parent).shapes
    path = ROOT / "events" / "data" / "boundaries" / BOUNDARIES
    topology = json.loads(path.read_text(encoding="utf-8"))
    names = {
        g["properties"]["shapeID"]: g["properties"]["shapeName"]
        for g in topology["objects"][OBJECT]["geometries"]
    }
    shapes = load_topojson(path, OBJECT, "shapeID")
    units = []
    for shape_id, name in sorted(names.items(), key=lambda item: item[1]):
        shape = shapes[shape_id]
        share = {code: shape.intersection(p).area / shape.area for code, p in provinces.items()}
        province = PROVINCE_FIXES.get(name, max(share, key=share.__getitem__))
        units.append(
            {
                "code": district_code(province, name),
                "name": name,
                "parent": province,
                "boundary_id": shape_id,
                "aliases": ALIASES.get(name, []),
            }
        )
    unknown = set(ALIASES) - set(names.values())
    assert not unknown, f"aliases for districts the file does not have: {sorted(unknown)}"
    spec["levels"] = {
        "adm2": {
            "name": "district",
            "boundaries": {"file": BOUNDARIES, "object": OBJECT, "id_property": "shapeID"},
            "units": units,
        }
    }
    DEFINITION.write_text(json.dumps(spec, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(units)} districts written to {DEFINITION.name}")  # noqa: T201 (a script)


if __name__ == "__main__":
    main()
