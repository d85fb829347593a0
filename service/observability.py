"""Prometheus metrics and structured access logs for the HTTP API."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

from fastapi import FastAPI, Request, Response
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from service.serving import FREQUENCIES, ChampionServer

access_log = logging.getLogger("threatcast.access")
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class ForecastCollector(Collector):
    """The served champion and its risk probabilities, read from the server at scrape time."""

    def __init__(self, server: ChampionServer) -> None:
        self.server = server

    def collect(self) -> Iterator[Metric]:
        champion = GaugeMetricFamily(
            "threatcast_champion_info",
            "The model version each frequency serves.",
            labels=["freq", "version"],
        )
        risk = GaugeMetricFamily(
            "threatcast_risk_probability",
            "Latest forecast probability per region, horizon and target (event or severe).",
            labels=["freq", "region", "horizon", "target"],
        )
        for freq in FREQUENCIES:
            issue = self.server.issue(freq)
            if issue is None:
                continue
            champion.add_metric([freq, issue.version], 1.0)
            for row in issue.rows:
                labels = [freq, row["region"], str(row["horizon"])]
                risk.add_metric([*labels, "event"], row["p_event"])
                risk.add_metric([*labels, "severe"], row["p_severe"])
        yield champion
        yield risk


@dataclass(frozen=True)
class HttpMetrics:
    """The app's own registry (not the global one), so every app and test starts from zero."""

    registry: CollectorRegistry
    requests: Counter
    latency: Histogram


def install_collectors(server: ChampionServer) -> HttpMetrics:
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
    registry.register(ForecastCollector(server))
    return HttpMetrics(registry, requests, latency)


def install_middleware(app: FastAPI) -> None:
    @app.middleware("http")
    async def observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(request.scope.get("route"), "path", "unmatched")
            metrics: HttpMetrics = request.app.state.metrics
            metrics.requests.labels(route, request.method, str(status)).inc()
            metrics.latency.labels(route, request.method).observe(elapsed)
            access_log.info(
                json.dumps(
                    {
                        "method": request.method,
                        "path": request.url.path,
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "key": getattr(request.state, "key_name", None),
                        "client": request.client.host if request.client else None,
                    }
                )
            )
