"""Shared test data for the storage tests: one tenant, site and device, and readings."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

T0 = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)
DEVICE = "dev-1"
READING_COLUMNS = (
    "time", "received_at", "tenant_id", "site_id", "device_id", "seq",
    "sensor", "metric", "value", "fault",
)  # fmt: skip


def seed(conn: psycopg.Connection[Any], devices: Sequence[str] = (DEVICE,)) -> None:
    conn.execute("INSERT INTO tenants (id, name) VALUES ('brand', 'Brand')")
    conn.execute(
        "INSERT INTO sites (tenant_id, id, name, region) VALUES ('brand', 'wh-1', 'WH', 'CN-31')"
    )
    for device in devices:
        conn.execute(
            "INSERT INTO devices (id, tenant_id, site_id) VALUES (%s, 'brand', 'wh-1')", (device,)
        )


def reading(
    time: datetime, value: float | None, *, seq: int = 1, metric: str = "temperature_c"
) -> tuple[Any, ...]:
    return (time, time, "brand", "wh-1", DEVICE, seq, "probe-1", metric, value, None)


def copy_readings(conn: psycopg.Connection[Any], rows: Iterable[tuple[Any, ...]]) -> None:
    """Binary COPY, as the ingest writes readings."""
    with (
        conn.cursor() as cur,
        cur.copy(
            f"COPY readings ({', '.join(READING_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
        ) as copy,
    ):
        copy.set_types(
            ["timestamptz", "timestamptz", "text", "text", "text", "int8",
             "text", "text", "float8", "text"]
        )  # fmt: skip
        for row in rows:
            copy.write_row(row)


def minute_series(start: datetime, minutes: int, per_minute: int = 6) -> list[tuple[Any, ...]]:
    """Readings every 60/per_minute seconds with a simple deterministic pattern."""
    step = timedelta(seconds=60 / per_minute)
    return [
        reading(start + i * step, round(4.0 + (i % 17) * 0.25, 2), seq=i + 1)
        for i in range(minutes * per_minute)
    ]


def points(
    conn: psycopg.Connection[Any],
    source: str,
    *,
    start: datetime,
    end: datetime,
    bucket: timedelta,
    metric: str = "temperature_c",
) -> list[tuple[Any, ...]]:
    """(time, count, min, max, avg) per bucket of DEVICE's series from ``source`` ("raw",
    "readings_1m" or "readings_1h"), read by the API's one series path."""
    from cloud.api.queries import ROLLUPS, SeriesPlan, series

    rollup = next((r for r in ROLLUPS if r.relation == source), None)
    if rollup is None and source != "raw":
        raise ValueError(f"expected raw, readings_1m or readings_1h; got {source!r}")
    found = series(conn, "brand", "wh-1", metric, SeriesPlan(start, end, bucket, rollup),
                   device=DEVICE, sensor=None)  # fmt: skip
    return [(p.time, p.count, p.min, p.max, p.avg) for p in found.points if p.count]
