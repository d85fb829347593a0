"""Conditional responses for the endpoints dashboards poll."""

from __future__ import annotations

import hashlib

from fastapi import Request, Response
from pydantic import BaseModel

CACHE_CONTROL = "no-cache"


def not_modified(request: Request, etag: str) -> Response | None:
    """A 304 when the client already holds `etag`."""
    quoted = f'"{etag}"'
    held = [tag.strip() for tag in request.headers.get("if-none-match", "").split(",")]
    if quoted in held:
        return Response(status_code=304, headers={"ETag": quoted, "Cache-Control": CACHE_CONTROL})
    return None


def json_response(request: Request, body: bytes, etag: str | None = None) -> Response:
    """The body with a strong ETag (its digest unless given), or a 304 when it is unchanged."""
    etag = etag or hashlib.sha256(body).hexdigest()[:32]
    return not_modified(request, etag) or Response(
        content=body,
        media_type="application/json",
        headers={"ETag": f'"{etag}"', "Cache-Control": CACHE_CONTROL},
    )


def model_response(request: Request, model: BaseModel) -> Response:
    return json_response(request, model.model_dump_json().encode())
