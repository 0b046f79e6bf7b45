"""The one storage interface, with a plain-PostgreSQL and a TimescaleDB backend.

Migration 0002 decides once, by whether ``CREATE EXTENSION timescaledb`` succeeds, and
records the answer in ``storage_backend``. Both backends expose the same table and view
names; they differ only in who keeps them: the scheduler (plain PostgreSQL) or
TimescaleDB's own background policies (nothing to do here).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Literal, Protocol

import psycopg

from cloud.errors import StorageError
from cloud.storage import partitions, rollups

__all__ = [
    "BackendName",
    "PostgresBackend",
    "StorageBackend",
    "TimescaleBackend",
    "backend_for",
    "backend_name",
]

_logger = logging.getLogger(__name__)

BackendName = Literal["postgresql", "timescaledb"]


class StorageBackend(Protocol):
    """Maintenance of the time-series tables; every method is safe to repeat."""

    name: BackendName

    def ensure_partitions(self, conn: psycopg.Connection[Any], now: datetime | None = None) -> int:
        """Create the partitions rows will need soon; returns how many were created."""
        ...

    def refresh_rollups(self, conn: psycopg.Connection[Any]) -> int:
        """Bring readings_1m/readings_1h up to date with raw readings; returns hours redone."""
        ...

    def apply_retention(self, conn: psycopg.Connection[Any], now: datetime | None = None) -> int:
        """Drop data older than ``storage_policies.retain_for``; returns partitions dropped."""
        ...


class PostgresBackend:
    """Plain PostgreSQL: day partitions and rollup tables, kept by the scheduler's jobs."""

    name: BackendName = "postgresql"

    def ensure_partitions(self, conn: psycopg.Connection[Any], now: datetime | None = None) -> int:
        return partitions.ensure_partitions(conn, now)

    def refresh_rollups(self, conn: psycopg.Connection[Any]) -> int:
        return rollups.refresh_rollups(conn)

    def apply_retention(self, conn: psycopg.Connection[Any], now: datetime | None = None) -> int:
        return partitions.apply_retention(conn, now)


class TimescaleBackend:
    """TimescaleDB: chunks, compression, retention and continuous aggregates run as
    TimescaleDB background jobs (policies added by migration 0002), so these are no-ops."""

    name: BackendName = "timescaledb"

    def ensure_partitions(self, conn: psycopg.Connection[Any], now: datetime | None = None) -> int:
        return 0  # chunks are created on insert

    def refresh_rollups(self, conn: psycopg.Connection[Any]) -> int:
        return 0  # continuous aggregate policies refresh readings_1m and readings_1h

    def apply_retention(self, conn: psycopg.Connection[Any], now: datetime | None = None) -> int:
        return 0  # retention policies drop old chunks


def backend_name(conn: psycopg.Connection[Any]) -> BackendName:
    """What migration 0002 chose for this database."""
    try:
        row = conn.execute("SELECT backend FROM storage_backend").fetchone()
    except psycopg.errors.UndefinedTable:
        raise StorageError(
            "storage_backend does not exist: run `channeltrace cloud migrate` first"
        ) from None
    if row is None or row[0] not in ("postgresql", "timescaledb"):
        raise StorageError(f"storage_backend holds {row!r}; expected postgresql or timescaledb")
    name: BackendName = row[0]
    return name


def backend_for(conn: psycopg.Connection[Any]) -> StorageBackend:
    """The backend object for the database behind ``conn``."""
    name = backend_name(conn)
    _logger.debug("storage backend: %s", name)
    return TimescaleBackend() if name == "timescaledb" else PostgresBackend()
