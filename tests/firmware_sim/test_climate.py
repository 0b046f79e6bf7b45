"""The simulated climate probe: reproducible, plausible, with a daily cycle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from statistics import fmean

import pytest

from firmware_sim import PROFILES, ClimateSensor
from wire import Metric, Reading

MIDNIGHT = datetime(2026, 11, 22, tzinfo=UTC)
DAY_AT_1_MIN = [MIDNIGHT + timedelta(minutes=m) for m in range(24 * 60)]


def run(sensor: ClimateSensor, times: list[datetime]) -> list[Reading]:
    return [r for t in times for r in sensor.sample(t)]


def values(readings: list[Reading], metric: Metric) -> list[float]:
    out = [r.value for r in readings if r.metric is metric]
    assert all(v is not None for v in out)
    return [v for v in out if v is not None]


def by_hour(readings: list[Reading], metric: Metric, hours: range) -> list[float]:
    return [
        r.value
        for r in readings
        if r.metric is metric and r.ts.hour in hours and r.value is not None
    ]


def test_sample_gives_temperature_and_humidity_stamped_now() -> None:
    sensor = ClimateSensor("probe-7", profile="wine", seed=1)
    now = MIDNIGHT + timedelta(hours=9, microseconds=5)
    readings = sensor.sample(now)
    assert [(r.sensor, r.metric, r.ts, r.fault) for r in readings] == [
        ("probe-7", Metric.TEMPERATURE_C, now, None),
        ("probe-7", Metric.HUMIDITY_PCT, now, None),
    ]


def test_same_seed_same_readings() -> None:
    times = DAY_AT_1_MIN[:300]
    a = run(ClimateSensor("p", profile="dairy", seed=42), times)
    b = run(ClimateSensor("p", profile="dairy", seed=42), times)
    assert a == b


def test_different_seeds_differ() -> None:
    times = DAY_AT_1_MIN[:60]
    a = run(ClimateSensor("p", profile="dairy", seed=1), times)
    b = run(ClimateSensor("p", profile="dairy", seed=2), times)
    assert a != b


@pytest.mark.parametrize("seed", range(5))
def test_dairy_stays_between_0_and_8_degrees_all_day(seed: int) -> None:
    readings = run(ClimateSensor("p", profile="dairy", seed=seed), DAY_AT_1_MIN)
    temperatures = values(readings, Metric.TEMPERATURE_C)
    assert len(temperatures) == 24 * 60
    assert min(temperatures) > 0.0
    assert max(temperatures) < 8.0


@pytest.mark.parametrize("name", sorted(PROFILES))
@pytest.mark.parametrize("seed", [0, 7])
def test_every_profile_stays_near_its_set_point(name: str, seed: int) -> None:
    profile = PROFILES[name]
    readings = run(ClimateSensor("p", profile=name, seed=seed), DAY_AT_1_MIN)
    band = profile.daily_swing_c + 1.0 + 0.5  # daily cycle + bounded drift + noise
    for t in values(readings, Metric.TEMPERATURE_C):
        assert abs(t - profile.set_point_c) <= band
    assert abs(fmean(values(readings, Metric.TEMPERATURE_C)) - profile.set_point_c) < 1.0


@pytest.mark.parametrize("name", sorted(PROFILES))
@pytest.mark.parametrize("seed", range(3))
def test_humidity_is_a_percentage(name: str, seed: int) -> None:
    readings = run(ClimateSensor("p", profile=name, seed=seed), DAY_AT_1_MIN)
    humidity = values(readings, Metric.HUMIDITY_PCT)
    assert all(0.0 <= h <= 100.0 for h in humidity)
    assert abs(fmean(humidity) - PROFILES[name].humidity_pct) < 10


@pytest.mark.parametrize("name", sorted(PROFILES))
@pytest.mark.parametrize("seed", range(3))
def test_afternoon_is_warmer_than_before_dawn(name: str, seed: int) -> None:
    readings = run(ClimateSensor("p", profile=name, seed=seed), DAY_AT_1_MIN)
    afternoon = fmean(by_hour(readings, Metric.TEMPERATURE_C, range(13, 17)))
    predawn = fmean(by_hour(readings, Metric.TEMPERATURE_C, range(2, 5)))
    assert afternoon > predawn
    # ...and humidity moves the other way in a closed room.
    assert fmean(by_hour(readings, Metric.HUMIDITY_PCT, range(13, 17))) < fmean(
        by_hour(readings, Metric.HUMIDITY_PCT, range(2, 5))
    )


def test_the_daily_cycle_peaks_at_15_and_bottoms_at_3() -> None:
    def clean(hour: int) -> float:
        # Fresh sensor each time: same drift and noise draws, so only the cycle differs.
        s = ClimateSensor("p", profile="ambient", seed=0)
        return values(list(s.sample(MIDNIGHT + timedelta(hours=hour))), Metric.TEMPERATURE_C)[0]

    curve = {hour: clean(hour) for hour in range(24)}
    assert max(curve, key=curve.__getitem__) == 15
    assert min(curve, key=curve.__getitem__) == 3
    assert curve[15] - curve[3] == pytest.approx(2 * PROFILES["ambient"].daily_swing_c, abs=1e-3)


def test_unknown_profile_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown profile 'caviar'"):
        ClimateSensor("p", profile="caviar")


def test_readings_are_valid_wire_readings() -> None:
    sensor = ClimateSensor("probe-1", profile="frozen", seed=3)
    for reading in run(sensor, DAY_AT_1_MIN[:10]):
        assert Reading.model_validate_json(reading.model_dump_json()) == reading
