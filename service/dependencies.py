"""Request dependencies: what the app was created with, and who is calling."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine

from features.gazetteer import RegionResolver
from service.errors import ApiError
from service.keys import ApiKey, authenticate
from service.serving import ChampionServer
from service.settings import Settings


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _resolver(request: Request) -> RegionResolver:
    resolver: RegionResolver = request.app.state.resolver
    return resolver


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _server(request: Request) -> ChampionServer:
    server: ChampionServer = request.app.state.server
    return server


EngineDep = Annotated[Engine, Depends(_engine)]
ResolverDep = Annotated[RegionResolver, Depends(_resolver)]
SettingsDep = Annotated[Settings, Depends(_settings)]
ServerDep = Annotated[ChampionServer, Depends(_server)]

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def _caller(request: Request, engine: EngineDep) -> ApiKey | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "use `Authorization: Bearer <API key>`", headers=_CHALLENGE)
    key = authenticate(engine, token.strip())
    if key is None:
        raise ApiError(401, "unknown or revoked API key", headers=_CHALLENGE)
    request.state.key_name = key.name  # for the access log; never the key itself
    return key


CallerDep = Annotated[ApiKey | None, Depends(_caller)]


def _reader(caller: CallerDep, settings: SettingsDep) -> ApiKey | None:
    if caller is None and not settings.public_forecasts:
        raise ApiError(401, "this server requires an API key to read forecasts", headers=_CHALLENGE)
    return caller


def _admin(caller: CallerDep) -> ApiKey:
    if caller is None:
        raise ApiError(401, "this action needs an admin API key", headers=_CHALLENGE)
    if caller.role != "admin":
        raise ApiError(403, f"key {caller.name!r} is a {caller.role} key; this action needs admin")
    return caller


ReaderDep = Annotated[ApiKey | None, Depends(_reader)]
AdminDep = Annotated[ApiKey, Depends(_admin)]
