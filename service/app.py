"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from features.gazetteer import default_resolver
from features.store.db import make_engine
from service.routes import health, regions
from service.settings import Settings, get_settings

API_VERSION = "0.1.0"


def create_app(settings: Settings) -> FastAPI:
    """A new app bound to `settings`; its engine lives as long as the app."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.engine = make_engine(settings.database_url)
        app.state.resolver = default_resolver()
        app.state.settings = settings
        yield
        app.state.engine.dispose()

    app = FastAPI(
        title="ThreatCast",
        version=API_VERSION,
        summary="Province-level early-warning forecasts of organized violence.",
        lifespan=lifespan,
    )
    app.include_router(health.router)
    app.include_router(regions.router)
    return app


def app_from_environment() -> FastAPI:
    """The factory uvicorn calls in each worker process."""
    return create_app(get_settings())
