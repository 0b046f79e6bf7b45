"""The consumer resolver's service for one app: an async pool, the brand cache and the
scan writer (:class:`cloud.provenance.resolver.ScanService`), from settings."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from cloud.provenance.brandcache import BrandCache
from cloud.provenance.resolver import ScanService
from cloud.provenance.scanwriter import ScanWriter
from cloud.settings import CloudSettings

__all__ = ["scan_service"]


def scan_service(
    settings: CloudSettings, sync_pool: ConnectionPool[psycopg.Connection[Any]]
) -> ScanService:
    """A service to start in the app's lifespan (``await service.start()``)."""
    pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = AsyncConnectionPool(
        settings.database_url,
        min_size=1,
        max_size=settings.resolver_pool_max_size,
        kwargs={"autocommit": True},
        open=False,
        name="resolver",
    )
    writer = ScanWriter(
        pool,
        max_queue=settings.resolver_queue_max,
        max_batch=settings.resolver_batch_max,
        max_wait=settings.resolver_batch_wait_ms / 1000,
    )
    return ScanService(
        pool,
        sync_pool,
        BrandCache(pool, settings.database_url),
        writer,
        passport_refresh=timedelta(seconds=settings.passport_refresh_seconds),
    )
