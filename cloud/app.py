"""The application factory: the read API, the console and the ledger's routes in one app.

It sits above the packages it assembles. The import direction is one way:
``cloud.app`` imports ``cloud.api``, ``cloud.console`` and ``ledger.service.api``;
``cloud.console`` may import ``cloud.api`` helpers (dependencies, errors, queries, schemas);
``cloud.api`` never imports ``cloud.console`` nor ``cloud.app`` (an import-linter contract
in pyproject.toml checks this).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final

import psycopg
from fastapi import FastAPI
from psycopg_pool import ConnectionPool

from cloud.api.consistency import CommitPositionMiddleware
from cloud.api.deps import SESSION_COOKIE, get_conn, ledger_bundle_access, rate_limited
from cloud.api.docs import mount_docs
from cloud.api.errors import install_problem_handlers
from cloud.api.metrics import ApiMetrics, RequestMetricsMiddleware
from cloud.api.middleware import BodyLimitMiddleware, RouteLimit, TrustedProxyMiddleware
from cloud.api.queries import RollupCatalog
from cloud.api.resolver_service import scan_service
from cloud.api.routers import (
    alerts,
    auth,
    channel_changes,
    channel_imports,
    devices,
    distributors,
    epcis_mappings,
    logins,
    prefixes,
    products,
    provenance,
    readings,
    resolver,
    sites,
    stock,
    stock_positions,
)
from cloud.auth.tokens import token_secret
from cloud.channel.errors import GeocoderUnavailable
from cloud.channel.geocode import default_geocoder
from cloud.console import mount_console
from cloud.db import make_pool
from cloud.replicas import ReadRouter, ReplicaMonitor, ReplicaState
from cloud.settings import ApiSection
from ledger.service import api as ledger_api

__all__ = ["CAPTURE_PATH", "create_app"]

_logger = logging.getLogger(__name__)

CAPTURE_PATH: Final = "/epcis/capture"
"""The EPCIS capture route: a body larger than ``CT_API_MAX_BODY_BYTES``."""
IMPORT_PATH: Final = "/v1/tenants/{tenant}/channel/imports"
CONSOLE_IMPORT_PATH: Final = "/console/setup/import"
"""Channel master data files (``CT_API_MAX_IMPORT_BYTES``)."""


def _warm_geocoder(data_path: Path | None) -> None:
    try:
        default_geocoder(None if data_path is None else str(data_path)).warm()
    except GeocoderUnavailable as exc:  # the resolver reports it where a scan needs a place
        _logger.warning("offline geocoder not loaded: %s", exc)
    except Exception:  # a warm-up only: lookups still decode on their own
        _logger.warning("decoding the geocoder's boundaries at start failed", exc_info=True)


def create_app(settings: ApiSection, metrics: ApiMetrics | None = None) -> FastAPI:
    """An app reading ``settings.database_url`` through a pool opened for its lifetime.

    With ``metrics``, every request is counted and timed there (``cloud.api.metrics``);
    the caller serves that registry on a port of its own.

    Raises :class:`cloud.auth.errors.AuthConfigError` at once when the token secret is
    unusable (missing or the public development one outside development).
    """
    token_secret(settings)  # fail at start, not at the first login

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The primary (multi-host URLs follow a failover), connections checked per loan.
        pool: ConnectionPool[psycopg.Connection[Any]] = make_pool(
            settings.database_url, name="api", min_size=1, max_size=settings.api_pool_max_size
        )
        pool.open(wait=False)  # start even while the database is down; requests get 503
        app.state.pool = pool
        monitor = _replica_monitor(settings, metrics)  # None: every read on the primary
        app.state.reads = None
        if monitor is not None:
            monitor.start()
            app.state.reads = ReadRouter(
                monitor, pool, max_size=settings.api_pool_max_size, on_read=_count_reads(metrics)
            )
            app.state.reads.open()
        app.state.scans = scan_service(settings, pool, monitor)  # the consumer resolver (async)
        await app.state.scans.start()
        # Scans with a GPS point are placed by the offline geocoder: its boundaries decoded in
        # the background now, once per process, not by the first scans near each border.
        warming = asyncio.create_task(asyncio.to_thread(_warm_geocoder, settings.geocoder_data))
        try:
            yield
        finally:
            await warming
            await app.state.scans.stop()  # every scan taken is written first
            if monitor is not None:
                app.state.reads.close()
                monitor.stop()
            pool.close()

    app = FastAPI(
        title="ChannelTrace read API",
        version="1",
        summary="Sites, devices, readings, stock and delivery completeness of a brand's "
        "distribution channel.",
        lifespan=lifespan,
        docs_url=None,  # mount_docs serves them with assets of our own, not a CDN's
        redoc_url=None,
    )
    mount_docs(app)
    app.state.settings = settings
    app.state.catalog = RollupCatalog()
    # The resolver first: consumer scans are most of the traffic, and routes are tried in order.
    for module in (resolver, auth, sites, devices, readings, stock, provenance, prefixes, alerts):
        app.include_router(module.router)
    # Channel master data and stock positions (docs/channel-setup.md).
    for channel in (distributors, products, epcis_mappings, logins, stock_positions,
                    channel_imports, channel_changes):  # fmt: skip
        app.include_router(channel.router)
    app.include_router(ledger_api.router)  # proof bundles, checkpoints, anchors
    app.dependency_overrides[ledger_api.get_conn] = get_conn
    app.dependency_overrides[ledger_api.public_access] = rate_limited
    app.dependency_overrides[ledger_api.bundle_access] = ledger_bundle_access
    mount_console(app)  # server-rendered pages under /console (docs/console.md)
    # Last: one path segment that no route above took may be a compressed Digital Link.
    app.include_router(resolver.compressed_router)
    # Middleware, innermost first (each add wraps the ones before it); docs/security.md.
    app.add_middleware(
        BodyLimitMiddleware,
        default_bytes=settings.api_max_body_bytes,
        routes=[
            RouteLimit(CAPTURE_PATH, settings.api_max_capture_bytes),
            RouteLimit(IMPORT_PATH, settings.api_max_import_bytes),
            RouteLimit(CONSOLE_IMPORT_PATH, settings.api_max_import_bytes),
        ],
        session_cookie=SESSION_COOKIE,
    )
    app.add_middleware(CommitPositionMiddleware)  # read-your-writes on replicas
    app.add_middleware(TrustedProxyMiddleware, trusted=settings.trusted_proxies)
    if metrics is not None:  # outermost: refusals by the limits above are counted too
        app.add_middleware(RequestMetricsMiddleware, metrics=metrics)
    install_problem_handlers(app)  # every error answer is RFC 9457 problem+json
    return app


def _replica_monitor(settings: ApiSection, metrics: ApiMetrics | None) -> ReplicaMonitor | None:
    """Samples the servers of ``CT_DATABASE_READ_URL`` (cloud/replicas.py), exporting lag."""
    if settings.database_read_url is None:
        return None

    def sampled(state: ReplicaState) -> None:
        if metrics is not None:
            lag = float("nan") if state.lag_s is None else state.lag_s
            metrics.replica_lag.labels(state.server).set(lag)

    return ReplicaMonitor(
        settings.database_read_url,
        max_lag_s=settings.database_read_max_lag_seconds,
        on_sample=sampled,
    )


def _count_reads(metrics: ApiMetrics | None) -> Callable[[str, str], None] | None:
    if metrics is None:
        return None
    return lambda target, why: metrics.reads.labels(target, why).inc()
