"""Reading series: raw readings or a rollup, chosen by range; the one series query path.

Only ``date_bin`` and plain SQL are used, so the same queries run on TimescaleDB
(continuous aggregates) and on plain PostgreSQL (rollup tables kept by the scheduler).

Rollups are found at run time: :class:`RollupCatalog` checks that each relation in
:data:`ROLLUPS` exists with the expected columns and otherwise falls back to
``date_bin`` over raw readings (correct, only slower), logging why once. A rollup lags
the raw data (refresh policy or scheduler), so the part of a range after its newest
bucket is read from raw readings and merged in: a series is never missing recent data.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from cloud.api.errors import BadRequest
from cloud.api.queries.sites import get_site
from cloud.api.schemas import Series, SeriesPoint, SeriesSource

__all__ = [
    "MAX_SERIES_POINTS",
    "MAX_SERIES_RANGE",
    "ROLLUPS",
    "Rollup",
    "RollupCatalog",
    "SeriesPlan",
    "plan_series",
    "series",
]

_logger = logging.getLogger(__name__)

MAX_SERIES_RANGE = timedelta(days=400)
MAX_SERIES_POINTS = 5_000
DEFAULT_SERIES_POINTS = 300
_ORIGIN = datetime(2000, 1, 3, tzinfo=UTC)  # a Monday: week buckets start on Mondays
_NICE_BUCKETS_S = (
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
    86400, 172800, 604800,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Rollup:
    """A pre-aggregated relation of readings and the columns the API reads from it.

    Migration 0002 creates these (continuous aggregates on TimescaleDB, tables kept by
    the scheduler on PostgreSQL); the names here are the contract between the two.
    """

    relation: SeriesSource
    resolution: timedelta
    # Ranges up to this long are served from a finer source.
    used_beyond: timedelta
    bucket: str = "bucket"
    avg: str = "avg"
    min: str = "min"
    max: str = "max"
    count: str = "n"

    @property
    def columns(self) -> tuple[str, ...]:
        keys = ("tenant_id", "site_id", "device_id", "sensor", "metric")
        return (self.bucket, *keys, self.avg, self.min, self.max, self.count)


ROLLUPS: tuple[Rollup, ...] = (
    Rollup("readings_1h", timedelta(hours=1), used_beyond=timedelta(days=14)),
    Rollup("readings_1m", timedelta(minutes=1), used_beyond=timedelta(hours=6)),
)


class RollupCatalog:
    """Which rollups exist in the database, re-checked every ``ttl`` seconds."""

    def __init__(self, ttl: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._checked_at: float | None = None
        self._available: frozenset[str] = frozenset()
        self._lock = threading.Lock()
        self._reported: set[str] = set()

    def available(self, conn: psycopg.Connection[Any]) -> frozenset[str]:
        now = self._clock()
        with self._lock:
            if self._checked_at is not None and now - self._checked_at < self._ttl:
                return self._available
        found = frozenset(r.relation for r in ROLLUPS if self._usable(conn, r))
        with self._lock:
            self._available, self._checked_at = found, now
        return found

    def _usable(self, conn: psycopg.Connection[Any], rollup: Rollup) -> bool:
        rows = conn.execute(
            "SELECT a.attname FROM pg_attribute a"
            " WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped",
            (rollup.relation,),
        ).fetchall()
        missing = sorted(set(rollup.columns) - {str(r[0]) for r in rows})
        if missing and rollup.relation not in self._reported:
            self._reported.add(rollup.relation)
            why = "does not exist" if not rows else f"lacks columns {', '.join(missing)}"
            _logger.warning("%s %s; series fall back to raw readings", rollup.relation, why)
        return not missing


@dataclass(frozen=True, slots=True)
class SeriesPlan:
    start: datetime
    end: datetime
    bucket: timedelta
    rollup: Rollup | None  # None: raw readings

    @property
    def source(self) -> SeriesSource:
        return self.rollup.relation if self.rollup else "raw"


def plan_series(
    start: datetime, end: datetime, bucket: timedelta | None, available: frozenset[str]
) -> SeriesPlan:
    """Choose the source and bucket width for a series; :class:`BadRequest` if unservable.

    The source follows the range: raw up to 6 h, the 1-minute rollup up to 14 days,
    the 1-hour rollup beyond (each only if it exists, else the next finer one). Without
    an explicit bucket, a "nice" width giving at most ~300 points is chosen.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise BadRequest("start and end need a timezone (e.g. 2026-11-22T08:00:00Z)")
    span = end - start
    if span <= timedelta(0):
        raise BadRequest(f"end {end.isoformat()} must be after start {start.isoformat()}")
    if span > MAX_SERIES_RANGE:
        raise BadRequest(f"range of {span} exceeds the {MAX_SERIES_RANGE.days}-day maximum")
    rollup = next((r for r in ROLLUPS if span > r.used_beyond and r.relation in available), None)
    resolution = rollup.resolution if rollup else timedelta(seconds=1)
    if bucket is None:
        wanted = span.total_seconds() / DEFAULT_SERIES_POINTS
        seconds = next((b for b in _NICE_BUCKETS_S if b >= wanted), _NICE_BUCKETS_S[-1])
        bucket = max(timedelta(seconds=seconds), resolution)
    if bucket < resolution or bucket % resolution:
        raise BadRequest(
            f"bucket of {bucket} must be a multiple of {resolution}, the resolution of "
            f"{rollup.relation if rollup else 'raw readings'} used for a {span} range"
        )
    points = math.ceil(span / bucket)
    if points > MAX_SERIES_POINTS:
        raise BadRequest(
            f"{points} points requested (range {span} / bucket {bucket});"
            f" at most {MAX_SERIES_POINTS}: widen the bucket or shorten the range"
        )
    return SeriesPlan(start, end, bucket, rollup)


def series(
    conn: psycopg.Connection[Any],
    tenant: str,
    site: str,
    metric: str,
    plan: SeriesPlan,
    *,
    device: str | None,
    sensor: str | None,
) -> Series:
    get_site(conn, tenant, site)
    keys = {"tenant": tenant, "site": site, "metric": metric, "device": device,
            "sensor": sensor, "bucket": plan.bucket, "origin": _ORIGIN}  # fmt: skip
    tail_start = plan.start
    points: list[SeriesPoint] = []
    if plan.rollup is not None:
        watermark = _watermark(conn, plan.rollup, keys)
        if watermark is not None:
            tail_start = max(plan.start, min(plan.end, watermark + plan.rollup.resolution))
            points = _aggregate(conn, plan.rollup, plan.start, tail_start, keys)
    if tail_start < plan.end:
        points = _merge(points, _aggregate(conn, None, tail_start, plan.end, keys))
    return Series(
        tenant_id=tenant, site_id=site, metric=metric, device_id=device, sensor=sensor,
        start=plan.start, end=plan.end, bucket_seconds=int(plan.bucket.total_seconds()),
        source=plan.source, points=points,
    )  # fmt: skip


_FILTERS = sql.SQL(
    " WHERE tenant_id = %(tenant)s AND site_id = %(site)s AND metric = %(metric)s"
    " AND (%(device)s::text IS NULL OR device_id = %(device)s)"
    " AND (%(sensor)s::text IS NULL OR sensor = %(sensor)s)"
)


def _watermark(
    conn: psycopg.Connection[Any], rollup: Rollup, keys: dict[str, Any]
) -> datetime | None:
    """Start of the newest bucket the rollup holds for these keys."""
    query = sql.SQL("SELECT max({b}) FROM {rel}").format(
        b=sql.Identifier(rollup.bucket), rel=sql.Identifier(rollup.relation)
    )
    row = conn.execute(query + _FILTERS, keys).fetchone()
    return row[0] if row else None


def _aggregate(
    conn: psycopg.Connection[Any],
    rollup: Rollup | None,
    start: datetime,
    end: datetime,
    keys: dict[str, Any],
) -> list[SeriesPoint]:
    if rollup is None:
        time_col, table = sql.Identifier("time"), sql.Identifier("readings")
        aggregates: sql.Composable = sql.SQL("avg(value), min(value), max(value), count(value)")
    else:
        time_col, table = sql.Identifier(rollup.bucket), sql.Identifier(rollup.relation)
        aggregates = sql.SQL(
            "sum({a} * {n}) / nullif(sum({n}), 0), min({lo}), max({hi}), coalesce(sum({n}), 0)"
        ).format(
            a=sql.Identifier(rollup.avg), n=sql.Identifier(rollup.count),
            lo=sql.Identifier(rollup.min), hi=sql.Identifier(rollup.max),
        )  # fmt: skip
    query = sql.SQL(
        "SELECT date_bin(%(bucket)s, {t}, %(origin)s) AS b, {agg} FROM {table}{filters}"
        " AND {t} >= %(start)s AND {t} < %(end)s GROUP BY b ORDER BY b"
    ).format(t=time_col, agg=aggregates, table=table, filters=_FILTERS)
    rows = conn.execute(query, {**keys, "start": start, "end": end}).fetchall()
    return [
        SeriesPoint(time=b, avg=avg, min=lo, max=hi, count=int(n)) for b, avg, lo, hi, n in rows
    ]


def _merge(first: list[SeriesPoint], second: list[SeriesPoint]) -> list[SeriesPoint]:
    """Combine two point lists; a bucket present in both is re-aggregated by count."""
    merged = {p.time: p for p in first}
    for p in second:
        q = merged.get(p.time)
        if q is None or q.count == 0:
            merged[p.time] = p
        elif p.count:
            n = p.count + q.count
            avg = ((p.avg or 0.0) * p.count + (q.avg or 0.0) * q.count) / n
            merged[p.time] = SeriesPoint(
                time=p.time, avg=avg, min=_least(p.min, q.min), max=_greatest(p.max, q.max),
                count=n,
            )  # fmt: skip
    return [merged[t] for t in sorted(merged)]


def _least(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _greatest(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)
