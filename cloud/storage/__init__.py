"""Time-series storage behind one interface, on plain PostgreSQL or TimescaleDB.

The scheduler calls the four maintenance functions below; each asks the database which
backend migration 0002 chose and does what that backend needs (on TimescaleDB, where
policies do the work, the first three do nothing). See docs/storage.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from cloud.storage.backend import (
    BackendName,
    PostgresBackend,
    StorageBackend,
    TimescaleBackend,
    backend_for,
    backend_name,
)
from cloud.storage.gaps import detect_gaps

__all__ = [
    "BackendName",
    "PostgresBackend",
    "StorageBackend",
    "TimescaleBackend",
    "apply_retention",
    "backend_for",
    "backend_name",
    "detect_gaps",
    "ensure_partitions",
    "refresh_rollups",
]


def ensure_partitions(conn: psycopg.Connection[Any], now: datetime | None = None) -> int:
    """Create upcoming day partitions (plain PostgreSQL); returns how many were created."""
    return backend_for(conn).ensure_partitions(conn, now)


def refresh_rollups(conn: psycopg.Connection[Any]) -> int:
    """Recompute invalidated rollup hours (plain PostgreSQL); returns how many."""
    return backend_for(conn).refresh_rollups(conn)


def apply_retention(conn: psycopg.Connection[Any], now: datetime | None = None) -> int:
    """Drop data past its retention (plain PostgreSQL); returns partitions dropped."""
    return backend_for(conn).apply_retention(conn, now)
