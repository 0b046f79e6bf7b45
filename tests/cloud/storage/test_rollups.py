"""Plain PostgreSQL rollups: readings_1m/readings_1h kept incrementally, late data included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from cloud import storage
from cloud.migrate import migrate
from cloud.storage.rollups import merge_hours
from cloud.storage.series import SeriesPoint, choose_resolution, raw_series, rollup_series
from tests.cloud.storage._data import DEVICE, T0, copy_readings, minute_series, reading, seed

H = timedelta(hours=1)


def test_merge_hours_coalesces_consecutive_hours() -> None:
    hours = [T0 + 3 * H, T0, T0 + H, T0 + H, T0 + 5 * H]
    assert merge_hours(hours) == [
        (T0, T0 + 2 * H),
        (T0 + 3 * H, T0 + 4 * H),
        (T0 + 5 * H, T0 + 6 * H),
    ]
    assert merge_hours([]) == []


def test_choose_resolution_by_span() -> None:
    assert choose_resolution(T0, T0 + H) == "raw"
    assert choose_resolution(T0, T0 + 24 * H) == "1m"
    assert choose_resolution(T0, T0 + 30 * 24 * H) == "1h"


@pytest.mark.integration
@pytest.mark.storage_backend("postgresql")  # TimescaleDB: continuous aggregates, test_timescale
def test_rollups_match_raw_buckets_and_absorb_late_data(database_url: str) -> None:
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        seed(conn)
        copy_readings(conn, minute_series(T0, minutes=150))
        copy_readings(conn, [reading(T0 + 5 * H, None, seq=9999)])  # a faulted probe: no value
        assert storage.refresh_rollups(conn) == 4  # hours 08, 09, 10 and 13

        window = (T0, T0 + 3 * H)
        raw_1m = raw_series(
            conn,
            device_id=DEVICE,
            metric="temperature_c",
            start=window[0],
            end=window[1],
            step=timedelta(minutes=1),
        )
        assert (
            rollup_series(
                conn, "1m", device_id=DEVICE, metric="temperature_c", start=window[0], end=window[1]
            )
            == raw_1m
        )
        assert len(raw_1m) == 150
        raw_1h = raw_series(
            conn, device_id=DEVICE, metric="temperature_c", start=window[0], end=window[1], step=H
        )
        _assert_close(
            rollup_series(
                conn, "1h", device_id=DEVICE, metric="temperature_c", start=window[0], end=window[1]
            ),
            raw_1h,
        )
        assert [p.n for p in raw_1h] == [360, 360, 180]

        # Nothing new: nothing to redo. Then a late reading into the first hour.
        assert storage.refresh_rollups(conn) == 0
        copy_readings(conn, [reading(T0 + timedelta(seconds=5), 99.0, seq=10_000)])
        assert storage.refresh_rollups(conn) == 1
        first = rollup_series(
            conn, "1h", device_id=DEVICE, metric="temperature_c", start=T0, end=T0 + H
        )
        assert (first[0].n, first[0].max) == (361, 99.0)


def _assert_close(got: list[SeriesPoint], want: list[SeriesPoint]) -> None:
    assert [(p.bucket, p.sensor, p.n, p.min, p.max) for p in got] == [
        (p.bucket, p.sensor, p.n, p.min, p.max) for p in want
    ]
    for g, w in zip(got, want, strict=True):
        assert g.avg == pytest.approx(w.avg, rel=1e-12)


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
