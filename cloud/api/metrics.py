"""Prometheus metrics of the API: requests and latency by route template and status class.

The labels are bounded: ``route`` is the matched route's template (``/v1/sites/{site}``,
a mount's prefix such as ``/console/static``, or ``<unmatched>``), never the raw path, and
``status`` is the class (``2xx`` ... ``5xx``). The registry is served on its own port
(``CT_METRICS_PORT``, by ``channeltrace cloud api``), not by the public app: nothing about
the metrics endpoint is reachable through the API's port or its reverse proxy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["UNMATCHED", "ApiMetrics", "RequestMetricsMiddleware", "route_template", "status_class"]

UNMATCHED = "<unmatched>"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Most reads answer in milliseconds; exports and proof bundles may take seconds.
_LATENCY_BUCKETS = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True, slots=True)
class ApiMetrics:
    """The API's instruments, registered in ``registry``."""

    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    replica_lag: Gauge  # per server of CT_DATABASE_READ_URL (cloud/replicas.py)
    reads: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry | None = None) -> ApiMetrics:
        reg = registry if registry is not None else CollectorRegistry()
        return cls(
            registry=reg,
            requests=Counter(
                "ct_api_requests",
                "HTTP requests answered, by method, route template and status class.",
                ["method", "route", "status"],
                registry=reg,
            ),
            latency=Histogram(
                "ct_api_request_duration_seconds",
                "Time from request to the end of the response body, by route and status class.",
                ["route", "status"],
                buckets=_LATENCY_BUCKETS,
                registry=reg,
            ),
            replica_lag=Gauge(
                "ct_api_replica_replay_lag_seconds",
                "How far each server of CT_DATABASE_READ_URL is behind the primary, as this"
                " process last sampled it (0 on the primary; NaN: not streaming or unreachable,"
                " so not used for reads).",
                ["server"],
                registry=reg,
            ),
            reads=Counter(
                "ct_api_database_reads",
                "Connections lent to read requests, by target (replica, primary) and reason.",
                ["target", "reason"],
                registry=reg,
            ),
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        klass = status_class(status)
        self.requests.labels(
            method=method if method in _METHODS else "other", route=route, status=klass
        ).inc()
        self.latency.labels(route=route, status=klass).observe(seconds)


def status_class(status: int) -> str:
    """``404`` → ``"4xx"``; anything outside 100–599 → ``"other"``."""
    return f"{status // 100}xx" if 100 <= status <= 599 else "other"


def route_template(scope: Scope, request_scope: Scope | None = None) -> str:
    """The template of the route that answered ``scope`` (after the app ran).

    FastAPI records its own routes in ``scope["route"]``; for the others (the OpenAPI and
    docs pages, mounts such as the console's static files) the application's routes are
    matched against ``request_scope``, a copy of the scope taken before the app ran (a
    mount rewrites ``root_path`` while it handles the request).
    """
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str) and path:
        return path
    routes: list[BaseRoute] = getattr(scope.get("app"), "routes", [])
    partial: str | None = None
    for route in routes:
        match, _child = route.matches(request_scope if request_scope is not None else scope)
        template = getattr(route, "path", None)
        if not isinstance(template, str) or not template:
            continue
        if match is Match.FULL:
            return template
        if match is Match.PARTIAL and partial is None:
            partial = template  # the path exists, not for this method (405)
    return partial or UNMATCHED


class RequestMetricsMiddleware:
    """Pure ASGI middleware recording every HTTP request in an :class:`ApiMetrics`."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_scope = dict(scope)
        status = 500  # an exception before the response started becomes a 500 outside us

        async def send_recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_recording)
        finally:
            self.metrics.observe(
                scope["method"],
                route_template(scope, request_scope),
                status,
                time.perf_counter() - started,
            )
