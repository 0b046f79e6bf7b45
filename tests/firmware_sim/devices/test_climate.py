"""The simulated room and probe: reproducible, plausible, time-based, with events and faults."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from statistics import fmean

import pytest

from firmware_sim.devices import PROFILES, ClimateSensor
from firmware_sim.devices.climate import SCENARIOS, Scenario
from firmware_sim.devices.faults import FaultRates
from wire import Metric, Reading

MIDNIGHT = datetime(2026, 11, 22, tzinfo=UTC)
DAY_AT_1_MIN = [MIDNIGHT + timedelta(minutes=m) for m in range(24 * 60)]


def run(sensor: ClimateSensor, times: list[datetime]) -> list[Reading]:
    return [r for t in times for r in sensor.sample(t)]


def values(readings: list[Reading], metric: Metric) -> list[float]:
    return [r.value for r in readings if r.metric is metric and r.value is not None]


def by_hour(readings: list[Reading], metric: Metric, hours: range) -> list[float]:
    return [
        v
        for r in readings
        if r.ts.hour in hours and (v := r.value) is not None and r.metric is metric
    ]


def test_sample_gives_temperature_and_humidity_stamped_now() -> None:
    sensor = ClimateSensor("probe-7", profile="wine", seed=1)
    now = MIDNIGHT + timedelta(hours=9, microseconds=5)
    readings = sensor.sample(now)
    assert [(r.sensor, r.metric, r.ts, r.fault) for r in readings] == [
        ("probe-7", Metric.TEMPERATURE_C, now, None),
        ("probe-7", Metric.HUMIDITY_PCT, now, None),
    ]


def test_same_seed_same_readings_different_seed_different() -> None:
    times = DAY_AT_1_MIN[:300]
    a = run(ClimateSensor("p", profile="dairy", seed=42), times)
    assert a == run(ClimateSensor("p", profile="dairy", seed=42), times)
    assert a != run(ClimateSensor("p", profile="dairy", seed=43), times)


@pytest.mark.parametrize("name", sorted(PROFILES))
@pytest.mark.parametrize("seed", range(3))
def test_normal_operation_stays_within_the_goods_limits(name: str, seed: int) -> None:
    profile = PROFILES[name]
    readings = run(ClimateSensor("p", profile=name, seed=seed), DAY_AT_1_MIN)
    temperatures = values(readings, Metric.TEMPERATURE_C)
    assert len(temperatures) == 24 * 60  # no faults, no dropouts in normal operation
    assert profile.min_c < min(temperatures)
    assert max(temperatures) < profile.max_c
    assert abs(fmean(temperatures) - profile.set_point_c) < 1.0
    assert all(0.0 <= h <= 100.0 for h in values(readings, Metric.HUMIDITY_PCT))


def test_storage_profiles_match_the_goods() -> None:
    assert (PROFILES["wine"].min_c, PROFILES["wine"].max_c) == (10.0, 18.0)
    assert (PROFILES["dairy"].min_c, PROFILES["dairy"].max_c) == (2.0, 6.0)


@pytest.mark.parametrize("seed", range(3))
def test_hvac_room_afternoon_is_warmer_than_before_dawn(seed: int) -> None:
    readings = run(ClimateSensor("p", profile="ambient", seed=seed), DAY_AT_1_MIN)
    afternoon = fmean(by_hour(readings, Metric.TEMPERATURE_C, range(13, 17)))
    predawn = fmean(by_hour(readings, Metric.TEMPERATURE_C, range(2, 5)))
    assert afternoon > predawn
    assert fmean(by_hour(readings, Metric.HUMIDITY_PCT, range(13, 17))) < fmean(
        by_hour(readings, Metric.HUMIDITY_PCT, range(2, 5))
    )


def test_cold_room_compressor_cycles_in_a_saw_tooth() -> None:
    sensor = ClimateSensor("p", profile="dairy", seed=5, scenario=Scenario(doors_per_h=0))
    states = []
    for t in DAY_AT_1_MIN[:240]:
        sensor.sample(t)
        states.append(sensor.room.compressor_on)
    switches = sum(1 for a, b in itertools.pairwise(states) if a != b)
    assert switches >= 8  # several on/off cycles in four hours


def test_signal_does_not_depend_on_the_sampling_rate() -> None:
    coarse = ClimateSensor("p", profile="wine", seed=9, scenario=Scenario(doors_per_h=0))
    fine = ClimateSensor("p", profile="wine", seed=9, scenario=Scenario(doors_per_h=0))
    end = MIDNIGHT + timedelta(hours=14)
    for t in DAY_AT_1_MIN[: 14 * 60]:
        fine.sample(t)
    for t in DAY_AT_1_MIN[: 14 * 60 : 30]:
        coarse.sample(t)
    a = values(fine.sample(end), Metric.TEMPERATURE_C)[0]
    b = values(coarse.sample(end), Metric.TEMPERATURE_C)[0]
    assert abs(a - b) < 1.5  # same physics; only the weather's random path differs


def test_hvac_failure_warms_a_cold_room_beyond_its_limit_then_recovers() -> None:
    sensor = ClimateSensor("p", profile="dairy", seed=2, scenario="hvac_failure")
    readings = run(sensor, [MIDNIGHT + timedelta(minutes=m) for m in range(0, 6 * 60)])
    temperatures = values(readings, Metric.TEMPERATURE_C)
    assert max(temperatures[10:130]) > PROFILES["dairy"].max_c
    assert temperatures[-1] < PROFILES["dairy"].max_c


def test_busy_doors_disturb_the_room_more_than_quiet_ones() -> None:
    hours = [MIDNIGHT + timedelta(hours=8, seconds=s) for s in range(0, 4 * 3600, 30)]
    quiet = values(
        run(ClimateSensor("p", profile="dairy", seed=1, scenario=Scenario(doors_per_h=0)), hours),
        Metric.TEMPERATURE_C,
    )
    busy = values(
        run(ClimateSensor("p", profile="dairy", seed=1, scenario="busy"), hours),
        Metric.TEMPERATURE_C,
    )
    assert max(busy) > max(quiet)


def test_faulty_probe_shows_nan_faults_dropouts_and_spikes() -> None:
    sensor = ClimateSensor("p", profile="wine", seed=4, scenario="faulty")
    times = [MIDNIGHT + timedelta(seconds=s) for s in range(0, 4 * 3600, 10)]
    readings = run(sensor, times)
    faults = [r for r in readings if r.value is None]
    assert faults
    assert all(r.fault == "nan" for r in faults)
    assert len(readings) < 2 * len(times)  # dropouts: some samples have no reading
    temperatures = values(readings, Metric.TEMPERATURE_C)
    assert max(temperatures) > PROFILES["wine"].max_c + 5  # spikes
    for reading in readings:
        assert Reading.model_validate_json(reading.model_dump_json()) == reading


def test_unknown_profile_or_scenario_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown profile 'caviar'"):
        ClimateSensor("p", profile="caviar")
    with pytest.raises(ValueError, match="unknown scenario 'meteor'"):
        ClimateSensor("p", scenario="meteor")
    assert set(SCENARIOS) >= {"normal", "faulty", "hvac_failure", "busy"}
    assert FaultRates().nan_per_h == 0
