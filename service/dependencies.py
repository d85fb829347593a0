"""Request dependencies: what the app was created with, and who is calling.

Those reading app state are async (in-memory work on the event loop); those that look up a key
are sync, so FastAPI runs them in its threadpool.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy import Engine

from events.gazetteer import RegionResolver, default_resolver
from service.errors import ApiError
from service.guard import CHALLENGE, UNKNOWN_KEY, admin_refusal, bearer_token
from service.keys import ApiKey, authenticate
from service.serving import IssueServer
from service.settings import Settings
from training.installation import Installation


async def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def _resolver(request: Request) -> RegionResolver:
    # Re-read when a user adds a country; otherwise the cached definitions.
    return default_resolver()


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _server(request: Request) -> IssueServer:
    server: IssueServer = request.app.state.server
    return server


async def _installation(request: Request) -> Installation:
    installation: Installation = request.app.state.installation
    return installation


EngineDep = Annotated[Engine, Depends(_engine)]
ResolverDep = Annotated[RegionResolver, Depends(_resolver)]
SettingsDep = Annotated[Settings, Depends(_settings)]
ServerDep = Annotated[IssueServer, Depends(_server)]
InstallationDep = Annotated[Installation, Depends(_installation)]


def _authenticate(request: Request) -> ApiKey | None:
    """The caller's key, or None when no Authorization header was sent. Queries the database,
    so it runs in the threadpool, never on the event loop."""
    key: ApiKey | None = request.scope.get("state", {}).get("api_key")  # the guard's lookup
    if key is None:
        token = bearer_token(request.headers)
        if token is None:
            return None
        if not token:
            raise ApiError(401, "use `Authorization: Bearer <API key>`", headers=CHALLENGE)
        key = authenticate(request.app.state.engine, token)
        if key is None:
            raise ApiError(401, UNKNOWN_KEY, headers=CHALLENGE)
    request.app.state.key_usage.mark(key)
    request.state.key_name = key.name  # for the access log; never the key itself
    return key


def reader_check(request: Request) -> ApiKey | None:
    """The caller, if reading needs one (public_forecasts off) or one was sent."""
    caller = _authenticate(request)
    if caller is None and not request.app.state.settings.public_forecasts:
        raise ApiError(401, "this server requires an API key to read forecasts", headers=CHALLENGE)
    return caller


def _admin(request: Request) -> ApiKey:
    caller = _authenticate(request)
    refusal = admin_refusal(caller, caller is not None)
    if refusal is not None:
        status, message, headers = refusal
        raise ApiError(status, message, headers=headers or None)
    assert caller is not None  # admin_refusal refused every other case
    return caller


# Sync dependencies: FastAPI runs them in its threadpool, so a key lookup never blocks the loop.
ReaderDep = Annotated[ApiKey | None, Depends(reader_check)]
AdminDep = Annotated[ApiKey, Depends(_admin)]


DEFAULT_PAGE, MAX_PAGE = 100, 500


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int

    def of(self, total: int, count: int) -> dict[str, int]:
        """The page fields of a response."""
        return {"count": count, "total": total, "limit": self.limit, "offset": self.offset}


async def _page(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="At most this many items.")] = (
        DEFAULT_PAGE
    ),
    offset: Annotated[int, Query(ge=0, le=2**31 - 1, description="Skip this many.")] = 0,
) -> Page:
    return Page(limit, offset)


PageDep = Annotated[Page, Depends(_page)]
