"""Cold-chain excursion core: limits, minimum duration, value and time hysteresis."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud.alerts.model import AlertKind, Severity
from cloud.alerts.rules.coldchain import (
    Limits,
    Sample,
    excursion_condition,
    excursions,
    merge,
    tightest,
)

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
LIMITS = Limits(2.0, 8.0)
MIN = timedelta(minutes=15)


def series(values: list[float], step_s: float = 60.0) -> list[Sample]:
    return [Sample(T0 + timedelta(seconds=i * step_s), v) for i, v in enumerate(values)]


def run(values: list[float], **kw: object) -> list:  # type: ignore[type-arg]
    options: dict[str, object] = {"hysteresis": 0.5, "min_duration": MIN}
    options.update(kw)
    return excursions(series(values), LIMITS, **options)  # type: ignore[arg-type]


def test_tightest_intersects_product_ranges() -> None:
    assert tightest([(2.0, 8.0), (0.0, 6.0), (None, 7.0)]) == Limits(2.0, 6.0)
    assert tightest([(None, None)]) == Limits(None, None)
    assert tightest([(2.0, 4.0), (5.0, 8.0)]) is None  # incompatible products
    with pytest.raises(ValueError, match="empty range"):
        Limits(5.0, 1.0)


def test_short_excursion_is_ignored() -> None:
    assert run([5.0] * 5 + [9.0] * 10 + [5.0] * 5) == []  # 10 minutes above 8


def test_long_excursion_counts_once_with_its_peak_and_end() -> None:
    (e,) = run([5.0] * 5 + [9.0, 10.5, 9.5] + [9.0] * 17 + [5.0] * 5)
    assert e.bound == "max"
    assert e.limit == 8.0
    assert e.peak == 10.5
    assert e.start == T0 + timedelta(minutes=5)
    assert e.end == T0 + timedelta(minutes=25)
    assert e.duration == timedelta(minutes=20)


def test_ongoing_excursion_has_no_end() -> None:
    (e,) = run([5.0] * 3 + [1.0] * 20)
    assert e.bound == "min"
    assert e.end is None
    assert e.last == T0 + timedelta(minutes=22)


def test_flapping_around_the_limit_is_one_excursion() -> None:
    # 8.1 / 7.8 alternate: never 0.5 below the limit, so it never leaves the excursion.
    (e,) = run([5.0] + [8.1, 7.8] * 15 + [5.0])
    assert e.start == T0 + timedelta(minutes=1)
    assert e.duration == timedelta(minutes=30)


def test_without_hysteresis_flapping_is_many_short_excursions() -> None:
    assert run([5.0] + [8.1, 7.8] * 15 + [5.0], hysteresis=0.0) == []
    found = run([5.0] + [8.1, 7.8] * 15 + [5.0], hysteresis=0.0, min_duration=timedelta(0))
    assert len(found) == 15


def test_excursions_close_together_merge() -> None:
    values = [5.0] * 2 + [9.0] * 10 + [5.0] * 4 + [9.0] * 10 + [5.0] * 2
    assert run(values) == []  # two of 10 minutes each
    (e,) = run(values, merge_within=timedelta(minutes=5))
    assert e.duration == timedelta(minutes=24)


def test_merge_keeps_the_worst_peak_and_the_later_end() -> None:
    a = run([9.0] * 20 + [5.0])[0]
    b = excursions(
        [Sample(T0 + timedelta(minutes=5 + i), 11.0) for i in range(20)],
        LIMITS,
        hysteresis=0.5,
        min_duration=MIN,
    )[0]
    (m,) = merge([b, a], timedelta(0))
    assert m.start == T0
    assert m.peak == 11.0
    assert m.end is None


def test_condition_names_the_site_metric_and_episode() -> None:
    (e,) = run([9.0] * 70 + [5.0])
    c = excursion_condition(
        "brand", "wh-1", "temperature_c", e, critical_after=timedelta(hours=1), streams=["d/p"]
    )
    assert c.kind is AlertKind.EXCURSION
    assert c.key == "wh-1:temperature_c"
    assert c.severity is Severity.CRITICAL
    assert c.since == T0
    assert c.cleared_at == e.end
    assert "above 8" in c.summary
    assert c.evidence == [{"stream": "d/p"}]


@given(st.lists(st.floats(-5, 15, allow_nan=False), max_size=80))
def test_excursions_are_ordered_disjoint_and_long_enough(values: list[float]) -> None:
    found = run(values, merge_within=timedelta(minutes=2))
    for e in found:
        assert e.duration >= MIN
        assert e.peak > LIMITS.high if e.bound == "max" else e.peak < LIMITS.low
    for a, b in itertools.pairwise(found):
        assert a.end is not None
        assert b.start - a.end > timedelta(minutes=2)
