"""The FastAPI application factory."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from features.gazetteer import default_resolver
from features.store.db import make_engine
from service import errors, observability
from service.routes import forecasts, health, jobs, models, regions
from service.serving import ChampionServer
from service.settings import Settings, get_settings

API_VERSION = "0.2.0"


def create_app(settings: Settings) -> FastAPI:
    """A new app bound to `settings`; its engine and champion poller live as long as the app."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        server = ChampionServer(
            engine, settings.artifact_root, settings.secret_key.get_secret_value()
        )
        app.state.engine, app.state.server = engine, server
        app.state.resolver, app.state.settings = default_resolver(), settings
        app.state.metrics = observability.install_collectors(server)
        server.refresh()
        stop = threading.Event()
        poller = threading.Thread(
            target=server.run_forever,
            args=(settings.refresh_s, stop),
            name="champion-poller",
            daemon=True,
        )
        poller.start()
        yield
        stop.set()
        poller.join(timeout=10)
        engine.dispose()

    app = FastAPI(
        title="ThreatCast",
        version=API_VERSION,
        summary="Province-level early-warning forecasts of organized violence.",
        lifespan=lifespan,
    )
    errors.install(app)
    observability.install_middleware(app)
    # Routes match in order: the endpoint dashboards poll comes first.
    for module in (forecasts, health, regions, models, jobs):
        app.include_router(module.router)
    return app


def app_from_environment() -> FastAPI:
    """The factory uvicorn calls in each worker process (which has its own logging to set up)."""
    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return create_app(settings)
