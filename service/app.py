"""The FastAPI application factory."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from pydantic import ValidationError

from events.gazetteer import use_country_folders
from service import errors, observability
from service.alerts import delivery
from service.guard import RequestGuard
from service.installation import installation
from service.keys import USAGE_FLUSH_S, KeyUsage
from service.routes import alerts as alert_routes
from service.routes import (
    calendar,
    dashboard,
    forecasts,
    health,
    jobs,
    models,
    regions,
    series,
    track_record,
)
from service.serving import IssueServer
from service.settings import Settings, get_settings, settings_problems
from store.db import make_engine

API_VERSION = "0.4.0"
DELIVERY_POLL_S = 0.5


def create_app(settings: Settings) -> FastAPI:
    """A new app bound to `settings`; its engine and issue poller live as long as the app."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        server = IssueServer(engine, settings.default_series)
        app.state.engine, app.state.server = engine, server
        app.state.installation = installation(settings)
        app.state.key_usage = KeyUsage()
        use_country_folders(settings.country_folder)
        app.state.settings = settings
        app.state.metrics = observability.install_collectors(
            server, settings.stale_after_days, settings.unit_gauges
        )
        server.refresh()
        stop = threading.Event()
        poller = threading.Thread(
            target=server.run_forever,
            args=(settings.refresh_s, stop),
            name="issue-poller",
            daemon=True,
        )
        receivers = delivery.Receivers(
            settings.alert_webhook_urls,
            settings.alertmanager_urls,
            settings.public_url,
            settings.alert_allow_internal_receivers,
        )
        deliverer = threading.Thread(
            target=delivery.run_forever,
            args=(
                engine,
                settings.webhook_signing_key,
                settings.webhook_backoff_s,
                settings.webhook_max_attempts,
                DELIVERY_POLL_S,
                stop,
                delivery.Keepalive(engine, receivers, settings.alertmanager_resend_s),
                receivers,
            ),
            name="alert-delivery",
            daemon=True,
        )
        usage = threading.Thread(
            target=app.state.key_usage.run_forever,
            args=(engine, USAGE_FLUSH_S, stop),
            name="key-usage",
            daemon=True,
        )
        threads = (poller, deliverer, usage)
        for thread in threads:
            thread.start()
        yield
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        app.state.key_usage.flush(engine)
        engine.dispose()
        use_country_folders()  # the folder of this app's settings, while it lives

    # The API docs' assets are served from the fastapi-offline package: nothing loads from a CDN.
    app = FastAPIOffline(
        title="ThreatCast",
        version=API_VERSION,
        summary="Province-level early-warning forecasts of organized violence.",
        lifespan=lifespan,
    )
    errors.install(app)
    app.add_middleware(RequestGuard, upload_limit=settings.max_upload_bytes)
    observability.install_middleware(app)
    # Routes match in order: the endpoint dashboards poll comes first.
    for module in (
        forecasts, health, regions, series, track_record, calendar, models, jobs, alert_routes,
        dashboard,
    ):  # fmt: skip
        app.include_router(module.router)
    return app


def app_from_environment() -> FastAPI:
    """The factory uvicorn calls in each worker process (which has its own logging to set up)."""
    try:
        settings = get_settings()
    except ValidationError as exc:
        logging.getLogger(__name__).critical("invalid settings: %s", settings_problems(exc))
        raise SystemExit(2) from None
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return create_app(settings)
