"""Plain PostgreSQL: day partitions ahead of time, a DEFAULT partition, retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from cloud import storage
from cloud.errors import StorageError
from cloud.migrate import migrate
from cloud.storage.partitions import partition_days
from tests.cloud.storage._data import copy_readings, reading, seed

pytestmark = pytest.mark.integration
# Day partitions exist on plain PostgreSQL only (TimescaleDB makes chunks on insert).
PLAIN = pytest.mark.storage_backend("postgresql")


@PLAIN
def test_migration_creates_partitions_ahead_and_a_default(database_url: str) -> None:
    migrate(database_url)
    today = datetime.now(UTC).date()
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert storage.backend_name(conn) == "postgresql"
        for relation in ("readings", "stock_counts", "scans", "readings_1m"):
            days = set(partition_days(conn, relation).values())
            assert {today + timedelta(days=d) for d in range(-1, 8)} <= days
            assert conn.execute("SELECT to_regclass(%s)", (f"{relation}_default",)).fetchone() == (
                f"{relation}_default",
            )


@PLAIN
def test_rows_outside_partitions_land_in_default_then_move(database_url: str) -> None:
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        seed(conn)
        far = datetime(2031, 5, 4, 12, tzinfo=UTC)  # a device clock years ahead
        copy_readings(conn, [reading(far, 1.0, seq=1), reading(far, 2.0, seq=2)])
        assert conn.execute("SELECT count(*) FROM readings_default").fetchone() == (2,)

        # Once that day is within reach, its partition is created and the rows move there.
        created = storage.ensure_partitions(conn, now=far - timedelta(days=3))
        assert created > 0
        assert conn.execute("SELECT count(*) FROM readings_default").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM readings_p20310504").fetchone() == (2,)
        assert conn.execute("SELECT count(*) FROM readings").fetchone() == (2,)
        # Repeating is a no-op.
        assert storage.ensure_partitions(conn, now=far - timedelta(days=3)) == 0


@PLAIN
def test_retention_drops_old_partitions_and_old_default_rows(database_url: str) -> None:
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        seed(conn)
        now = datetime.now(UTC)
        old = now - timedelta(days=500)
        conn.execute("SELECT ct_ensure_day_partition('readings', %s)", (old.date(),))
        copy_readings(conn, [reading(old, 1.0, seq=1), reading(now, 2.0, seq=2)])
        copy_readings(conn, [reading(now - timedelta(days=3000), 3.0, seq=3)])  # in DEFAULT

        dropped = storage.apply_retention(conn, now)

        assert dropped == 1
        names = set(partition_days(conn, "readings"))
        assert f"readings_p{old:%Y%m%d}" not in names
        assert conn.execute("SELECT value FROM readings").fetchall() == [(2.0,)]


@PLAIN
def test_naive_datetimes_are_refused(database_url: str) -> None:
    migrate(database_url)
    with (
        psycopg.connect(database_url, autocommit=True) as conn,
        pytest.raises(StorageError, match="naive"),
    ):
        storage.ensure_partitions(conn, now=datetime(2025, 1, 1))


def test_storage_needs_the_migration(database_url: str) -> None:
    with (
        psycopg.connect(database_url, autocommit=True) as conn,
        pytest.raises(StorageError, match="cloud migrate"),
    ):
        storage.refresh_rollups(conn)
