"""Prometheus metrics and structured access logs for the HTTP API."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from events.levels import FIRST_LEVEL
from events.series import Series
from service.alerts.delivery import backlog
from service.alerts.evaluation import firing_counts
from service.freshness import coverage_freshness
from service.serving import IssueServer
from training.track_record import latest_skill

access_log = logging.getLogger("threatcast.access")
SKILL_EVERY_S = 300.0
_EVENT_STATS = {
    "mean": "expected_events", "p10": "events_p10", "p50": "events_p50", "p90": "events_p90"
}  # fmt: skip
_FATALITY_STATS = {
    "mean": "expected_fatalities", "p10": "fatalities_p10", "p50": "fatalities_p50",
    "p90": "fatalities_p90",
}  # fmt: skip
# Metric labels come from fixed sets: an invented method is "other", never a new series.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class ForecastCollector(Collector):
    """The served champion and its risk probabilities, read from the server at scrape time."""

    def __init__(
        self, server: IssueServer, stale_after_days: int, unit_gauges: bool = False
    ) -> None:
        self.server = server
        self.stale_after_days = stale_after_days
        # Series below the first level (districts) have a gauge per unit only when asked.
        self.unit_gauges = unit_gauges
        self._skill: dict[tuple[str, str], float] = {}
        self._skill_at = -SKILL_EVERY_S

    def _track_skill(self) -> dict[tuple[str, str], float]:
        """The rolling 12-month skill, recomputed at most every SKILL_EVERY_S (it reads every
        scored forecast)."""
        now = time.monotonic()
        if now - self._skill_at >= SKILL_EVERY_S:
            self._skill_at = now
            self._skill = latest_skill(self.server.engine, sorted(self.server.served()))
        return self._skill

    def collect(self) -> Iterator[Metric]:
        champion = GaugeMetricFamily(
            "threatcast_champion_info",
            "The model version each series serves.",
            labels=["series", "version"],
        )
        risk = GaugeMetricFamily(
            "threatcast_risk_probability",
            "Latest forecast probability per series, region, horizon and target (event or severe).",
            labels=["series", "region", "horizon", "target"],
        )
        age = GaugeMetricFamily(
            "threatcast_data_age_days",
            "Days from the end of the series' newest covered period to today.",
            labels=["series"],
        )
        covered = GaugeMetricFamily(
            "threatcast_data_covered_until",
            "The end of the series' newest covered period (Unix time, end of day UTC).",
            labels=["series"],
        )
        stale = GaugeMetricFamily(
            "threatcast_data_stale",
            "1 when the series' data end longer ago than THREATCAST_STALE_AFTER_DAYS, else 0.",
            labels=["series"],
        )
        for key, coverage in sorted(self.server.coverage().items()):
            fresh = coverage_freshness(coverage, self.stale_after_days)
            age.add_metric([key], float(fresh.age_days))
            stale.add_metric([key], float(fresh.stale))
            end_of_day = datetime.combine(fresh.covered_until, datetime.max.time(), tzinfo=UTC)
            covered.add_metric([key], end_of_day.timestamp())
        events = GaugeMetricFamily(
            "threatcast_forecast_events",
            "Latest forecast count of events per series, region and horizon: its mean and the "
            "ends and middle of its 80% interval.",
            labels=["series", "region", "horizon", "stat"],
        )
        fatalities = GaugeMetricFamily(
            "threatcast_forecast_fatalities",
            "Latest forecast fatalities per series, region and horizon: the mean and the ends and "
            "middle of the 80% interval (models that forecast fatalities).",
            labels=["series", "region", "horizon", "stat"],
        )
        actors = GaugeMetricFamily(
            "threatcast_actor_probability",
            "Latest forecast probability of at least one event involving an actor group, per "
            "series, region and horizon (sources that name actors).",
            labels=["series", "region", "horizon", "actor"],
        )
        for key, issue in sorted(self.server.served().items()):
            champion.add_metric([key, issue.version], 1.0)
            if not self.unit_gauges and Series.parse(key).level != FIRST_LEVEL:
                continue
            for row in issue.rows:
                labels = [key, row.region, str(row.horizon)]
                risk.add_metric([*labels, "event"], row.p_event)
                risk.add_metric([*labels, "severe"], row.p_severe)
                for stat, column in _EVENT_STATS.items():
                    events.add_metric([*labels, stat], getattr(row, column))
                if row.expected_fatalities is not None:
                    for stat, column in _FATALITY_STATS.items():
                        fatalities.add_metric([*labels, stat], getattr(row, column))
                for group, part in sorted(row.actors.items()):
                    actors.add_metric([*labels, group], part.p_event)
        skill = GaugeMetricFamily(
            "threatcast_track_record_skill",
            "Brier skill of p_event over the last 12 scored months against a reference method "
            "(climatology, recent: the trailing-12 share); below 0, the reference did better.",
            labels=["series", "reference"],
        )
        for (key, reference), value in sorted(self._track_skill().items()):
            skill.add_metric([key, reference], value)
        firing = GaugeMetricFamily(
            "threatcast_alerts_firing",
            "Firing alerts.",
            labels=["rule", "severity", "region", "horizon"],
        )
        for alert in firing_counts(self.server.engine):
            firing.add_metric(
                [alert["name"], alert["severity"], alert["region"], str(alert["horizon"])], 1.0
            )
        waiting = backlog(self.server.engine)
        pending = GaugeMetricFamily(
            "threatcast_alert_deliveries_pending", "Alert deliveries waiting to be sent."
        )
        pending.add_metric([], float(waiting.pending))
        oldest_age = GaugeMetricFamily(
            "threatcast_alert_delivery_oldest_pending_seconds",
            "Age of the oldest delivery waiting to be sent (0 when none waits).",
        )
        oldest_age.add_metric([], waiting.oldest_pending_s or 0.0)
        retrying = GaugeMetricFamily(
            "threatcast_alert_deliveries_retrying",
            "Alert deliveries a receiver refused at least once, waiting for their next attempt.",
        )
        retrying.add_metric([], float(waiting.retrying))
        failed = GaugeMetricFamily(
            "threatcast_alert_deliveries_failed",
            "Alert deliveries given up after THREATCAST_WEBHOOK_MAX_ATTEMPTS attempts (all "
            "time; it only grows).",
        )
        failed.add_metric([], float(waiting.failed))
        yield champion
        yield age
        yield covered
        yield stale
        yield risk
        yield events
        yield fatalities
        yield actors
        yield skill
        yield firing
        yield pending
        yield oldest_age
        yield retrying
        yield failed


# Set (by `threatcast serve --workers N`) before the workers start, so prometheus_client keeps
# every worker's counters in files there and a scrape of any worker sums them all.
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"


@dataclass(frozen=True)
class HttpMetrics:
    """The app's own registry (not the global one), so every app and test starts from zero."""

    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    forecasts: ForecastCollector

    def exposition(self) -> bytes:
        """The text Prometheus scrapes: with several workers, their counters summed."""
        if os.environ.get(MULTIPROCESS_DIR):
            summed = CollectorRegistry()
            multiprocess.MultiProcessCollector(summed)  # type: ignore[no-untyped-call]
            summed.register(self.forecasts)
            return generate_latest(summed)
        return generate_latest(self.registry)


def install_collectors(
    server: IssueServer, stale_after_days: int, unit_gauges: bool = False
) -> HttpMetrics:
    registry = CollectorRegistry()
    requests = Counter(
        "threatcast_http_requests_total",
        "HTTP requests by route, method and status.",
        ["route", "method", "status"],
        registry=registry,
    )
    latency = Histogram(
        "threatcast_http_request_duration_seconds",
        "HTTP request latency by route and method.",
        ["route", "method"],
        buckets=_BUCKETS,
        registry=registry,
    )
    forecasts = ForecastCollector(server, stale_after_days, unit_gauges)
    registry.register(forecasts)
    return HttpMetrics(registry, requests, latency, forecasts)


class ObservabilityMiddleware:
    """Counts, times and logs every request (pure ASGI: no per-request task or body copy)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            self._record(scope, status, time.perf_counter() - started)

    @staticmethod
    def _record(scope: Scope, status: int, elapsed: float) -> None:
        route = getattr(scope.get("route"), "path", "unmatched")
        method = scope["method"] if scope["method"] in KNOWN_METHODS else "other"
        metrics: HttpMetrics = scope["app"].state.metrics
        metrics.requests.labels(route, method, str(status)).inc()
        metrics.latency.labels(route, method).observe(elapsed)
        if access_log.isEnabledFor(logging.INFO):
            state = scope.get("state", {})
            client = scope.get("client")
            access_log.info(
                json.dumps(
                    {
                        "method": method,
                        "path": scope["path"],
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "key": state.get("key_name"),
                        "client": client[0] if client else None,
                    }
                )
            )


def install_middleware(app: FastAPI) -> None:
    app.add_middleware(ObservabilityMiddleware)
