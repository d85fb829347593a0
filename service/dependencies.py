"""Request dependencies: the engine and resolver the app was created with."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine

from features.gazetteer import RegionResolver


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _resolver(request: Request) -> RegionResolver:
    resolver: RegionResolver = request.app.state.resolver
    return resolver


EngineDep = Annotated[Engine, Depends(_engine)]
ResolverDep = Annotated[RegionResolver, Depends(_resolver)]
