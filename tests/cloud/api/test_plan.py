"""Choosing the source and bucket of a series, and a device's online state (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cloud.api.errors import BadRequest
from cloud.api.queries import MAX_SERIES_POINTS, online_state, plan_series

T0 = datetime(2026, 11, 22, tzinfo=UTC)
BOTH = frozenset({"readings_1m", "readings_1h"})


@pytest.mark.parametrize(
    ("span", "available", "source"),
    [
        (timedelta(hours=1), BOTH, "raw"),
        (timedelta(hours=6), BOTH, "raw"),
        (timedelta(hours=7), BOTH, "readings_1m"),
        (timedelta(days=14), BOTH, "readings_1m"),
        (timedelta(days=15), BOTH, "readings_1h"),
        (timedelta(days=15), frozenset({"readings_1m"}), "readings_1m"),
        (timedelta(days=15), frozenset(), "raw"),
        (timedelta(days=2), frozenset({"readings_1h"}), "raw"),
    ],
)
def test_source_follows_the_range_and_what_exists(
    span: timedelta, available: frozenset[str], source: str
) -> None:
    assert plan_series(T0, T0 + span, None, available).source == source


def test_default_bucket_is_nice_and_bounded() -> None:
    plan = plan_series(T0, T0 + timedelta(hours=1), None, BOTH)
    assert plan.bucket == timedelta(seconds=15)  # 3600 s / 300 points = 12 s -> 15 s
    coarse = plan_series(T0, T0 + timedelta(days=400), None, BOTH)
    assert coarse.bucket == timedelta(days=2)
    assert (coarse.end - coarse.start) / coarse.bucket <= MAX_SERIES_POINTS


def test_explicit_bucket_is_kept() -> None:
    plan = plan_series(T0, T0 + timedelta(days=3), timedelta(minutes=5), BOTH)
    assert (plan.bucket, plan.source) == (timedelta(minutes=5), "readings_1m")


@pytest.mark.parametrize(
    ("start", "end", "bucket", "message"),
    [
        (T0, T0, None, "must be after start"),
        (T0, T0 - timedelta(seconds=1), None, "must be after start"),
        (T0, T0 + timedelta(days=401), None, "exceeds the 400-day maximum"),
        (T0, T0 + timedelta(days=3), timedelta(seconds=30), "multiple of 0:01:00"),
        (T0, T0 + timedelta(days=3), timedelta(seconds=90), "multiple of 0:01:00"),
        (T0, T0 + timedelta(hours=6), timedelta(seconds=1), "at most 5000"),
        (T0.replace(tzinfo=None), T0 + timedelta(hours=1), None, "need a timezone"),
    ],
)
def test_unservable_requests_are_refused_with_a_reason(
    start: datetime, end: datetime, bucket: timedelta | None, message: str
) -> None:
    with pytest.raises(BadRequest, match=message):
        plan_series(start, end, bucket, BOTH)


@pytest.mark.parametrize(
    ("status", "seen_ago", "state"),
    [
        ("online", 10, "online"),
        ("online", 400, "stale"),
        ("registered", 10, "online"),  # data arrives, no birth message yet
        ("offline", 10, "offline"),
        ("retired", 10, "retired"),
        ("registered", None, "never_seen"),
    ],
)
def test_online_state(status: str, seen_ago: float | None, state: str) -> None:
    seen = None if seen_ago is None else T0 - timedelta(seconds=seen_ago)
    assert online_state(status, seen, T0, timedelta(seconds=300)) == state
