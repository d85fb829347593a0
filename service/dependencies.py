"""Request dependencies: what the app was created with, and who is calling.

They are async so FastAPI runs them on the event loop rather than a worker thread: each is
in-memory work, except a key lookup, which is one indexed query.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine

from events.gazetteer import RegionResolver
from service.errors import ApiError
from service.keys import ApiKey, authenticate
from service.serving import IssueServer
from service.settings import Settings
from training.issuing import Installation


async def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def _resolver(request: Request) -> RegionResolver:
    resolver: RegionResolver = request.app.state.resolver
    return resolver


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

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def _authenticate(request: Request) -> ApiKey | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "use `Authorization: Bearer <API key>`", headers=_CHALLENGE)
    key = authenticate(request.app.state.engine, token.strip())
    if key is None:
        raise ApiError(401, "unknown or revoked API key", headers=_CHALLENGE)
    request.state.key_name = key.name  # for the access log; never the key itself
    return key


# One dependency each, reading app state directly: polled routes pay for no dependency chain.
def reader_check(request: Request) -> ApiKey | None:
    """The caller, if reading needs one (public_forecasts off) or one was sent."""
    caller = _authenticate(request)
    if caller is None and not request.app.state.settings.public_forecasts:
        raise ApiError(401, "this server requires an API key to read forecasts", headers=_CHALLENGE)
    return caller


async def _reader(request: Request) -> ApiKey | None:
    return reader_check(request)


async def _admin(request: Request) -> ApiKey:
    caller = _authenticate(request)
    if caller is None:
        raise ApiError(401, "this action needs an admin API key", headers=_CHALLENGE)
    if caller.role != "admin":
        raise ApiError(403, f"key {caller.name!r} is a {caller.role} key; this action needs admin")
    return caller


ReaderDep = Annotated[ApiKey | None, Depends(_reader)]
AdminDep = Annotated[ApiKey, Depends(_admin)]
