"""Conditional responses for the endpoints dashboards poll, gzipped for clients that take it."""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Callable

from fastapi import Request, Response
from pydantic import BaseModel

CACHE_CONTROL = "no-cache"
# Below this a body fits in a packet or two: compressing it saves less than it costs.
GZIP_MIN_BYTES = 1400
# The gzipped body is another representation, so it carries its own strong ETag.
GZIPPED = "-gz"


def _headers(etag: str) -> dict[str, str]:
    return {"ETag": f'"{etag}"', "Cache-Control": CACHE_CONTROL, "Vary": "Accept-Encoding"}


def not_modified(request: Request, etag: str) -> Response | None:
    """A 304 when the client already holds `etag` (plain or gzipped)."""
    held = {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}
    for tag in (etag, etag + GZIPPED):
        if f'"{tag}"' in held:
            return Response(status_code=304, headers=_headers(tag))
    return None


def accepts_gzip(request: Request) -> bool:
    """Whether Accept-Encoding admits gzip: named with a q-value above 0, or else `*` is."""
    weights: dict[str, float] = {}
    for part in request.headers.get("accept-encoding", "").split(","):
        coding, _, parameters = part.partition(";")
        name, _, value = parameters.strip().partition("=")
        try:
            weight = float(value) if name.strip().lower() == "q" else 1.0
        except ValueError:
            weight = 0.0
        weights[coding.strip().lower()] = weight
    return weights.get("gzip", weights.get("*", 0.0)) > 0


def wants_gzip(request: Request, body: bytes) -> bool:
    return len(body) >= GZIP_MIN_BYTES and accepts_gzip(request)


def gzip_body(body: bytes) -> bytes:
    # mtime=0: the same body always compresses to the same bytes.
    return gzip.compress(body, compresslevel=6, mtime=0)


def kept_gzip(
    request: Request, keep: Callable[[str, Callable[[], bytes]], bytes], etag: str, body: bytes
) -> bytes | None:
    """The body gzipped for clients that take gzip, compressed once: `keep` (the server's body
    cache, `IssueServer.body`) holds it beside the plain body."""
    return keep(etag + GZIPPED, lambda: gzip_body(body)) if wants_gzip(request, body) else None


def json_response(
    request: Request, body: bytes, etag: str | None = None, gzipped: bytes | None = None
) -> Response:
    """The body with a strong ETag (its digest unless given), or a 304 when it is unchanged;
    `gzipped`, the body compressed, is sent instead where given."""
    etag = etag or hashlib.sha256(body).hexdigest()[:32]
    cached = not_modified(request, etag)
    if cached is not None:
        return cached
    if gzipped is not None:
        headers = {**_headers(etag + GZIPPED), "Content-Encoding": "gzip"}
        return Response(content=gzipped, media_type="application/json", headers=headers)
    return Response(content=body, media_type="application/json", headers=_headers(etag))


def model_response(request: Request, model: BaseModel) -> Response:
    return json_response(request, model.model_dump_json().encode())
