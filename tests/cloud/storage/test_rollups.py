"""Plain PostgreSQL rollups: readings_1m/readings_1h kept incrementally, late data included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from cloud import storage
from cloud.migrate import migrate
from cloud.storage.rollups import merge_hours
from tests.cloud.storage._data import T0, copy_readings, minute_series, points, reading, seed

H = timedelta(hours=1)


def test_merge_hours_coalesces_consecutive_hours() -> None:
    hours = [T0 + 3 * H, T0, T0 + H, T0 + H, T0 + 5 * H]
    assert merge_hours(hours) == [
        (T0, T0 + 2 * H),
        (T0 + 3 * H, T0 + 4 * H),
        (T0 + 5 * H, T0 + 6 * H),
    ]
    assert merge_hours([]) == []


@pytest.mark.integration
@pytest.mark.storage_backend("postgresql")  # TimescaleDB: continuous aggregates, test_timescale
def test_rollups_match_raw_buckets_and_absorb_late_data(database_url: str) -> None:
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        seed(conn)
        copy_readings(conn, minute_series(T0, minutes=150))
        copy_readings(conn, [reading(T0 + 5 * H, None, seq=9999)])  # a faulted probe: no value
        assert storage.refresh_rollups(conn) == 4  # hours 08, 09, 10 and 13

        window = {"start": T0, "end": T0 + 3 * H}
        minute = timedelta(minutes=1)
        raw_1m = points(conn, "raw", **window, bucket=minute)
        assert points(conn, "readings_1m", **window, bucket=minute) == raw_1m
        assert len(raw_1m) == 150
        raw_1h = points(conn, "raw", **window, bucket=H)
        _assert_close(points(conn, "readings_1h", **window, bucket=H), raw_1h)
        assert [p[1] for p in raw_1h] == [360, 360, 180]

        # Nothing new: nothing to redo. Then a late reading into the first hour.
        assert storage.refresh_rollups(conn) == 0
        copy_readings(conn, [reading(T0 + timedelta(seconds=5), 99.0, seq=10_000)])
        assert storage.refresh_rollups(conn) == 1
        first = points(conn, "readings_1h", start=T0, end=T0 + H, bucket=H)
        assert (first[0][1], first[0][3]) == (361, 99.0)


def _assert_close(got: list[tuple[object, ...]], want: list[tuple[object, ...]]) -> None:
    assert [p[:4] for p in got] == [p[:4] for p in want]
    for g, w in zip(got, want, strict=True):
        assert g[4] == pytest.approx(w[4], rel=1e-12)


@pytest.mark.integration
@pytest.mark.storage_backend("postgresql")
def test_insert_trigger_records_touched_hours(database_url: str) -> None:
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        seed(conn)
        now = datetime.now(UTC).replace(minute=30, second=0, microsecond=0)
        copy_readings(conn, [reading(now, 1.0, seq=1), reading(now - 26 * H, 2.0, seq=2)])
        hours = {r[0] for r in conn.execute("SELECT hour FROM rollup_invalidations")}
        assert hours == {now.replace(minute=0), (now - 26 * H).replace(minute=0)}
