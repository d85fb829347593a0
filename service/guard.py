"""What an anonymous client can make the server hold, bounded before any route runs.

Every request body is limited, by its declared Content-Length and while it streams (413), and a
state-changing request (POST, PUT, PATCH, DELETE) must carry an admin key, checked before its
body is read (401/403). Pure ASGI: nothing is buffered here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import error_response
from service.keys import ApiKey, authenticate

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# JSON bodies (alert rules, reasons, comments) are small; uploads have their own limit.
JSON_BODY_LIMIT = 64 * 1024
UPLOAD_PATH = "/v1/training-jobs"
# Multipart framing and the small form fields beside the uploaded file.
MULTIPART_OVERHEAD = 64 * 1024
CHALLENGE = {"WWW-Authenticate": "Bearer"}
# On every response: no content sniffing, no framing, no referrer to other sites.
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)


UNKNOWN_KEY = "unknown or revoked API key"
Refusal = tuple[int, str, dict[str, str]]


def admin_refusal(key: ApiKey | None, token_sent: bool) -> Refusal | None:
    """Why a caller may not change state (status, message, headers), or None for an admin."""
    if not token_sent:
        return 401, "this action needs an admin API key", CHALLENGE
    if key is None:
        return 401, UNKNOWN_KEY, CHALLENGE
    if key.role != "admin":
        return 403, f"key {key.name!r} is a {key.role} key; this action needs admin", {}
    return None


class _BodyTooLarge(HTTPException):
    """Raised from `receive` while a route reads the body; rendered as 413 like any HTTP error."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body exceeds {limit} bytes")


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of an `Authorization: Bearer` header; '' when the header is malformed."""
    header = headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


class RequestGuard:
    def __init__(self, app: ASGIApp, upload_limit: int) -> None:
        self.app = app
        self.upload_limit = upload_limit

    def _limit(self, path: str) -> int:
        if path.rstrip("/") == UPLOAD_PATH:
            return self.upload_limit + MULTIPART_OVERHEAD
        return JSON_BODY_LIMIT

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        limit = self._limit(scope["path"])
        declared = headers.get("content-length", "")
        if declared and (not declared.isdigit() or int(declared) > limit):
            await self._refuse(scope, receive, send, 413, f"the request body exceeds {limit} bytes")
            return
        if scope["method"] in STATE_CHANGING:
            refusal = await self._admin_refusal(scope, headers)
            if refusal is not None:
                await self._refuse(scope, receive, send, *refusal)
                return
        await self._pass_bounded(scope, receive, send, limit)

    async def _admin_refusal(self, scope: Scope, headers: dict[str, str]) -> Refusal | None:
        token = bearer_token(headers)
        key: ApiKey | None = None
        if token:
            key = await run_in_threadpool(authenticate, scope["app"].state.engine, token)
        refusal = admin_refusal(key, bool(token))
        if refusal is None:  # the route's own check reuses this lookup instead of querying again
            scope.setdefault("state", {})["api_key"] = key
        return refusal

    async def _pass_bounded(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send, 413, f"the request body exceeds {limit} bytes")

    @staticmethod
    async def _refuse(
        scope: Scope, receive: Receive, send: Send, status: int, message: str, headers: Any = None
    ) -> None:
        await error_response(status, message, headers=headers or None)(scope, receive, send)
