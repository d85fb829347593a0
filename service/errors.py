"""One JSON shape for every error: {"error": {"status", "code", "message", "details"}}."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    422: "invalid_request",
    500: "internal_error",
    503: "unavailable",
}


class ErrorBody(BaseModel):
    status: int
    code: str
    message: str
    details: Any = None


class ErrorPublic(BaseModel):
    error: ErrorBody


def error_responses(
    *statuses: int, described: Mapping[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the error statuses a route answers, with a description where
    the status alone does not say it."""
    responses: dict[int | str, dict[str, Any]] = {code: {"model": ErrorPublic} for code in statuses}
    for code, description in (described or {}).items():
        responses[code] = {"model": ErrorPublic, "description": description}
    return dict(sorted(responses.items(), key=lambda item: int(item[0])))


NOT_MODIFIED: dict[int | str, dict[str, Any]] = {304: {"description": "Not modified."}}


class ApiError(Exception):
    """An error a route raises on purpose, with what the client should know."""

    def __init__(
        self, status: int, message: str, details: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.details, self.headers = status, message, details, headers


def error_response(
    status: int, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = ErrorPublic(
        error=ErrorBody(
            status=status, code=_CODES.get(status, "error"), message=message, details=details
        )
    )
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {"location": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
    ]


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = _validation_details(exc)
        message = "; ".join(f"{d['location']}: {d['message']}" for d in details)
        return error_response(422, message, details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(
            exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        return error_response(500, "internal error; the server log has the details")
