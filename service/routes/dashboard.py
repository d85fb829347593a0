"""The dashboard: one page and its assets, all served from here (no CDN, works offline)."""

from __future__ import annotations

import functools
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from service.errors import ApiError

STATIC = Path(__file__).resolve().parent.parent / "static"
_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}
# Everything the page uses comes from this origin; nothing may frame it.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
HEADERS = {"Cache-Control": "no-cache", "Content-Security-Policy": CSP}


@functools.cache
def _assets() -> frozenset[str]:
    return frozenset(p.name for p in STATIC.iterdir()) if STATIC.is_dir() else frozenset()


router = APIRouter(include_in_schema=False)


@router.get("/")
@router.get("/dashboard")
def dashboard() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html", headers=HEADERS)


@router.get("/static/{name}")
def asset(name: str) -> FileResponse:
    if name not in _assets():
        raise ApiError(404, f"no asset {name!r}")
    return FileResponse(
        STATIC / name,
        media_type=_TYPES.get(Path(name).suffix),
        headers=HEADERS,
    )
