"""Rollup tables on plain PostgreSQL: ``readings_1m`` and ``readings_1h``, kept incrementally.

A statement trigger on ``readings`` records every UTC hour an insert touched in
``rollup_invalidations`` (the same idea as TimescaleDB's invalidation log), late data
included. A refresh takes the recorded hours and recomputes exactly those: 1-minute
buckets from raw readings, then 1-hour buckets from the 1-minute ones. Rows inserted by
transactions that commit while a refresh runs leave their invalidations for the next one.

Bucket boundaries are the same as TimescaleDB's ``time_bucket`` for 1 minute and 1 hour
(``date_bin`` from 2000-01-01 UTC), so the API reads identical buckets on both backends.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import psycopg

__all__ = ["ORIGIN", "merge_hours", "refresh_rollups"]

_logger = logging.getLogger(__name__)

ORIGIN = "2000-01-01 00:00:00+00"
_LOCK_KEY = 0x43_54_52_55  # "CTRU": one refresh at a time, whatever the scheduler does
_HOUR = timedelta(hours=1)

_REDO_1M = (
    "DELETE FROM readings_1m WHERE bucket >= %(lo)s AND bucket < %(hi)s",
    """
INSERT INTO readings_1m (bucket, tenant_id, site_id, device_id, sensor, metric, n, min, max, avg)
SELECT date_bin('1 minute', time, %(origin)s::timestamptz),
       tenant_id, site_id, device_id, sensor, metric,
       count(value), min(value), max(value), avg(value)
FROM readings
WHERE time >= %(lo)s AND time < %(hi)s AND value IS NOT NULL
GROUP BY 1, 2, 3, 4, 5, 6
""",
)

_REDO_1H = (
    "DELETE FROM readings_1h WHERE bucket >= %(lo)s AND bucket < %(hi)s",
    """
INSERT INTO readings_1h (bucket, tenant_id, site_id, device_id, sensor, metric, n, min, max, avg)
SELECT date_bin('1 hour', bucket, %(origin)s::timestamptz),
       tenant_id, site_id, device_id, sensor, metric,
       sum(n), min(min), max(max), sum(avg * n) / sum(n)
FROM readings_1m
WHERE bucket >= %(lo)s AND bucket < %(hi)s
GROUP BY 1, 2, 3, 4, 5, 6
""",
)


def merge_hours(hours: list[datetime]) -> list[tuple[datetime, datetime]]:
    """Coalesce hour starts into half-open ``[lo, hi)`` ranges of consecutive hours."""
    ranges: list[tuple[datetime, datetime]] = []
    for hour in sorted(set(hours)):
        if ranges and ranges[-1][1] == hour:
            ranges[-1] = (ranges[-1][0], hour + _HOUR)
        else:
            ranges.append((hour, hour + _HOUR))
    return ranges


def refresh_rollups(conn: psycopg.Connection[Any]) -> int:
    """Recompute the invalidated hours of readings_1m and readings_1h; returns their count."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        rows = conn.execute("DELETE FROM rollup_invalidations RETURNING hour").fetchall()
        hours = sorted({r[0] for r in rows})
        for lo, hi in merge_hours(hours):
            for statement in (*_REDO_1M, *_REDO_1H):
                conn.execute(statement, {"lo": lo, "hi": hi, "origin": ORIGIN})
    if hours:
        _logger.info(
            "rollups: recomputed %d hour(s) from %s to %s", len(hours), hours[0], hours[-1]
        )
    return len(hours)
