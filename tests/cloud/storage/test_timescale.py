"""The Timescale SQL on a real TimescaleDB 2.28 (PostgreSQL 15, tests/plugins/timescale.py).

Migrations take the TimescaleDB path; hypertables, compression (segmented by site and
device) through the compression policy, retention and continuous aggregate refresh
policies, late rows into compressed chunks, and the API's read queries giving the same
results as plain PostgreSQL for the same data. The session server's background jobs are
off: policies run here with ``CALL run_job(id)`` (on PostgreSQL 15.20 background runs
fail after doing their work; tests/cloud/storage/test_job_health.py covers that).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from channeltrace.services import Postgres
from cloud import storage
from cloud.migrate import migrate
from tests.cloud.storage._data import DEVICE, copy_readings, minute_series, points, reading, seed
from tests.plugins.timescale import TESTED_POSTGRES_MAJOR, TESTED_TIMESCALEDB

pytestmark = pytest.mark.integration

H = timedelta(hours=1)


def _hour(delta: timedelta) -> datetime:
    return (datetime.now(UTC) - delta).replace(minute=0, second=0, microsecond=0)


def job_id(conn: psycopg.Connection[Any], proc: str, relation: str) -> int:
    row = conn.execute(
        "SELECT job_id FROM timescaledb_information.jobs"
        " WHERE proc_name = %s AND hypertable_name = %s",
        (proc, relation),
    ).fetchone()
    assert row is not None, f"no {proc} job on {relation}"
    return int(row[0])


def run_job(conn: psycopg.Connection[Any], proc: str, relation: str) -> None:
    conn.execute("CALL run_job(%s)", (job_id(conn, proc, relation),))


def test_the_server_is_the_timescaledb_compose_pins(timescale_url: str) -> None:
    with psycopg.connect(timescale_url, autocommit=True) as conn:
        major = conn.execute("SELECT current_setting('server_version_num')::int / 10000")
        assert major.fetchone() == (TESTED_POSTGRES_MAJOR,)
        version = conn.execute(
            "SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'"
        ).fetchone()
    assert version is not None
    assert version[0].rsplit(".", 1)[0] == TESTED_TIMESCALEDB


def test_migration_takes_the_timescale_path(timescale_url: str) -> None:
    """Hypertables, compression segmented by site/device, caggs and their policies."""
    migrate(timescale_url)
    with psycopg.connect(timescale_url, autocommit=True) as conn:
        assert storage.backend_name(conn) == "timescaledb"
        hypertables = conn.execute(
            "SELECT hypertable_name, compression_enabled FROM timescaledb_information.hypertables"
            " ORDER BY 1"
        ).fetchall()
        assert ("readings", True) in hypertables
        assert ("stock_counts", True) in hypertables
        assert ("scans", True) in hypertables
        segmentby = conn.execute(
            "SELECT attname FROM timescaledb_information.compression_settings"
            " WHERE hypertable_name = 'readings' AND segmentby_column_index IS NOT NULL"
            " ORDER BY segmentby_column_index"
        ).fetchall()
        assert segmentby == [("site_id",), ("device_id",)]
        caggs = conn.execute(
            "SELECT view_name FROM timescaledb_information.continuous_aggregates ORDER BY 1"
        ).fetchall()
        assert caggs == [("readings_1h",), ("readings_1m",)]
        procs = conn.execute(
            "SELECT proc_name, hypertable_name FROM timescaledb_information.jobs"
            " WHERE hypertable_name IS NOT NULL"
        ).fetchall()
        for relation in ("readings", "stock_counts", "scans"):
            assert ("policy_compression", relation) in procs
            assert ("policy_retention", relation) in procs
        # The plain-PostgreSQL jobs have nothing to do here: policies do the work.
        assert storage.ensure_partitions(conn) == 0
        assert storage.refresh_rollups(conn) == 0
        assert storage.apply_retention(conn) == 0
    assert migrate(timescale_url) == []


def test_compression_policy_and_late_rows_into_compressed_chunks(timescale_url: str) -> None:
    migrate(timescale_url)
    with psycopg.connect(timescale_url, autocommit=True) as conn:
        seed(conn)
        old = _hour(timedelta(days=10))
        copy_readings(conn, minute_series(old, minutes=30))
        copy_readings(conn, minute_series(_hour(H), minutes=5))
        run_job(conn, "policy_compression", "readings")
        chunks = conn.execute(
            "SELECT range_start, is_compressed FROM timescaledb_information.chunks"
            " WHERE hypertable_name = 'readings' ORDER BY range_start"
        ).fetchall()
        assert [c[1] for c in chunks] == [True, False]

        # A late reading for the compressed day (TimescaleDB 2.11+ DML on compressed chunks).
        copy_readings(conn, [reading(old + timedelta(seconds=1), 42.0, seq=100_000)])
        conn.execute(
            "INSERT INTO readings (time, received_at, tenant_id, site_id, device_id, seq,"
            " sensor, metric, value) VALUES (%s, now(), 'brand', 'wh-1', %s, 100001,"
            " 'probe-1', 'temperature_c', 43.0)",
            (old + timedelta(seconds=2), DEVICE),
        )
        row = conn.execute(
            "SELECT count(*), max(value) FROM readings WHERE time >= %s AND time < %s",
            (old, old + H),
        ).fetchone()
        assert row == (182, 43.0)
        # Compressing again (the policy's next run) takes the late rows in as well.
        conn.execute(
            "SELECT compress_chunk(c, if_not_compressed => true)"
            " FROM show_chunks('readings', older_than => now() - INTERVAL '7 days') c"
        )
        assert conn.execute("SELECT count(*) FROM readings").fetchone() == (212,)


def test_retention_policy_drops_old_chunks(timescale_url: str) -> None:
    migrate(timescale_url)
    with psycopg.connect(timescale_url, autocommit=True) as conn:
        seed(conn)
        copy_readings(
            conn, [reading(_hour(timedelta(days=500)), 1.0, seq=1), reading(_hour(H), 2.0, seq=2)]
        )
        run_job(conn, "policy_retention", "readings")
        assert conn.execute("SELECT value FROM readings").fetchall() == [(2.0,)]


def _load(url: str, rows: list[tuple[Any, ...]], late: list[tuple[Any, ...]]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        seed(conn)
        copy_readings(conn, rows)
        copy_readings(conn, late)


@pytest.fixture
def plain_url(postgres: Postgres) -> Iterator[str]:
    """A fresh database on the plain PostgreSQL session server (to compare with)."""
    name = f"ct_test_{uuid.uuid4().hex[:12]}"
    yield postgres.create_database(name)
    postgres.drop_database(name)


def test_read_queries_match_plain_postgresql(timescale_url: str, plain_url: str) -> None:
    """The API's queries: date_bin over raw, readings_1m and readings_1h, on both backends."""
    database_url = plain_url
    start = _hour(timedelta(days=2))
    rows = minute_series(start, minutes=150)
    rows.append(reading(start + 2 * H, None, seq=50_000))  # a faulted probe: no value
    late = [reading(start + timedelta(seconds=7), 30.5, seq=60_000)]
    for url in (timescale_url, database_url):
        migrate(url)
        _load(url, rows, [])

    with psycopg.connect(timescale_url, autocommit=True) as ts:
        run_job(ts, "policy_refresh_continuous_aggregate", "readings_1m")
        run_job(ts, "policy_refresh_continuous_aggregate", "readings_1h")
        copy_readings(ts, late)  # late data after a refresh: the next refresh absorbs it
        run_job(ts, "policy_refresh_continuous_aggregate", "readings_1m")
        run_job(ts, "policy_refresh_continuous_aggregate", "readings_1h")
        ts_result = _queries(ts, start)
    with psycopg.connect(database_url, autocommit=True) as pg:
        storage.refresh_rollups(pg)
        copy_readings(pg, late)
        storage.refresh_rollups(pg)
        pg_result = _queries(pg, start)

    for name in ("raw_1m", "raw_15m", "1m"):
        assert ts_result[name] == pg_result[name], name
    assert [p[:4] for p in ts_result["1h"]] == [p[:4] for p in pg_result["1h"]]
    for t, p in zip(ts_result["1h"], pg_result["1h"], strict=True):
        assert t[4] == pytest.approx(p[4], rel=1e-12)  # plain PG averages 1m averages
    assert len(ts_result["1m"]) == 150
    assert [p[1] for p in ts_result["1h"]] == [361, 360, 180]


def _queries(conn: psycopg.Connection[Any], start: datetime) -> dict[str, list[Any]]:
    window = {"start": start, "end": start + 3 * H}
    minute, quarter = timedelta(minutes=1), timedelta(minutes=15)
    return {
        "raw_1m": points(conn, "raw", **window, bucket=minute),
        "raw_15m": points(conn, "raw", **window, bucket=quarter),
        "1m": points(conn, "readings_1m", **window, bucket=minute),
        "1h": points(conn, "readings_1h", **window, bucket=H),
    }
