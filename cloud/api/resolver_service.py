"""The consumer resolver's service for one app: an async pool, the brand cache and the
scan writer (:class:`cloud.provenance.resolver.ScanService`), from settings."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

import psycopg
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from cloud.db import writer_conninfo
from cloud.provenance.brandcache import BrandCache
from cloud.provenance.resolver import ScanService
from cloud.provenance.scanwriter import ScanWriter
from cloud.replicas import AsyncReadRouter, ReplicaMonitor
from cloud.settings import ApiSection

__all__ = ["scan_service"]


def scan_service(
    settings: ApiSection,
    sync_pool: ConnectionPool[psycopg.Connection[Any]],
    replicas: ReplicaMonitor | None = None,
) -> ScanService:
    """A service to start in the app's lifespan (``await service.start()``).

    Scans are written on the primary (a multi-host URL finds it after a failover; cloud/db.py);
    with ``replicas`` (``CT_DATABASE_READ_URL``), the passports, scan summaries and brand keys
    are read from a replica within the lag bound (cloud/replicas.py).
    """
    pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = AsyncConnectionPool(
        writer_conninfo(settings.database_url, application_name="ct-resolver"),
        min_size=1,
        max_size=settings.resolver_pool_max_size,
        kwargs={"autocommit": True},
        # No check per loan (a round trip per scan): a connection a failover broke fails its
        # one request (503) and the pool discards it.
        open=False,
        name="resolver",
    )
    reads: Any = pool
    if replicas is not None:
        reads = AsyncReadRouter(replicas, pool, max_size=settings.resolver_pool_max_size)
    writer = ScanWriter(
        pool,
        max_queue=settings.resolver_queue_max,
        max_batch=settings.resolver_batch_max,
        max_wait=settings.resolver_batch_wait_ms / 1000,
    )
    return ScanService(
        cast(AsyncConnectionPool[psycopg.AsyncConnection[Any]], reads),
        sync_pool,
        # Its LISTEN needs the primary (NOTIFY does not reach standbys).
        BrandCache(reads, writer_conninfo(settings.database_url, application_name="ct-brands")),
        writer,
        passport_refresh=timedelta(seconds=settings.passport_refresh_seconds),
    )
