"""Time-bucketed reading series, with SQL both backends run unchanged.

``raw_series`` buckets raw readings with ``date_bin`` (PostgreSQL 14+, also in
TimescaleDB); ``rollup_series`` reads ``readings_1m`` / ``readings_1h``, which are tables on
plain PostgreSQL and continuous aggregates on TimescaleDB, with the same columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import psycopg
from psycopg import sql

from cloud.errors import StorageError
from cloud.storage.rollups import ORIGIN

__all__ = [
    "Resolution",
    "SeriesPoint",
    "choose_resolution",
    "raw_series",
    "rollup_series",
]

Resolution = Literal["raw", "1m", "1h"]
_ROLLUPS = {"1m": "readings_1m", "1h": "readings_1h"}
# Ranges up to these spans are read from raw data, then from 1-minute buckets.
RAW_UP_TO = timedelta(hours=2)
MINUTE_UP_TO = timedelta(days=3)


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    bucket: datetime
    sensor: str
    n: int
    min: float | None
    max: float | None
    avg: float | None


def choose_resolution(start: datetime, end: datetime) -> Resolution:
    """Raw data for short ranges, then 1-minute, then 1-hour rollups."""
    span = _span(start, end)
    if span <= RAW_UP_TO:
        return "raw"
    return "1m" if span <= MINUTE_UP_TO else "1h"


def _span(start: datetime, end: datetime) -> timedelta:
    if start.tzinfo is None or end.tzinfo is None:
        raise StorageError("expected aware datetimes for a series range")
    if end <= start:
        raise StorageError(f"expected start < end, got {start.isoformat()} .. {end.isoformat()}")
    return end - start


def raw_series(
    conn: psycopg.Connection[Any],
    *,
    device_id: str,
    metric: str,
    start: datetime,
    end: datetime,
    step: timedelta,
) -> list[SeriesPoint]:
    """Readings of one device and metric in ``[start, end)``, bucketed by ``step``."""
    _span(start, end)
    if step <= timedelta(0):
        raise StorageError(f"expected a positive step, got {step}")
    rows = conn.execute(
        "SELECT date_bin(%(step)s, time, %(origin)s::timestamptz) AS bucket, sensor,"
        " count(value), min(value), max(value), avg(value)"
        " FROM readings"
        " WHERE device_id = %(device)s AND metric = %(metric)s"
        " AND time >= %(start)s AND time < %(end)s AND value IS NOT NULL"
        " GROUP BY 1, 2 ORDER BY 1, 2",
        {
            "step": step,
            "origin": ORIGIN,
            "device": device_id,
            "metric": metric,
            "start": start,
            "end": end,
        },
    ).fetchall()
    return [_point(r) for r in rows]


def rollup_series(
    conn: psycopg.Connection[Any],
    resolution: Literal["1m", "1h"],
    *,
    device_id: str,
    metric: str,
    start: datetime,
    end: datetime,
) -> list[SeriesPoint]:
    """Buckets of ``readings_1m`` or ``readings_1h`` for one device and metric."""
    _span(start, end)
    table = _ROLLUPS.get(resolution)
    if table is None:
        raise StorageError(f"expected resolution 1m or 1h, got {resolution!r}")
    query = sql.SQL(
        "SELECT bucket, sensor, n, min, max, avg FROM {}"
        " WHERE device_id = %s AND metric = %s AND bucket >= %s AND bucket < %s"
        " ORDER BY bucket, sensor"
    ).format(sql.Identifier(table))
    rows = conn.execute(query, (device_id, metric, start, end)).fetchall()
    return [_point(r) for r in rows]


def _point(row: tuple[Any, ...]) -> SeriesPoint:
    return SeriesPoint(row[0], str(row[1]), int(row[2]), row[3], row[4], row[5])
